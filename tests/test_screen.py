"Screening on the engine: relax-then-predict against known labels, bad candidates as rows, resume, a killed worker."
import shutil, threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from nirich_cgcnn.engine import close_client, start_client
from nirich_cgcnn.predict import predict_table
from nirich_cgcnn.model import shipped_checkpoint
from nirich_cgcnn.screen import ScreenSettings, screen
from test_engine import assert_untouched, kill_one_worker_when, snapshot

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
BAD = Path(__file__).parent / "bad_inputs"
FAST = dict(properties=("formation_energy_per_atom", "defect_class"), n_dropout=5)


@pytest.fixture(scope="module")
def client():
    c = start_client(n_workers=2)
    yield c
    close_client(c)


def test_relaxed_inputs_stay_put_and_match_their_labels(tmp_path, client):
    "CHGNet-relaxed sample cells: the potential barely moves them and the predictions match the oracle's labels."
    ids = pd.read_csv(SAMPLE / "id_prop.csv")["id"].iloc[::40].tolist()  # 8 cells over families and classes
    folder = tmp_path / "in"; folder.mkdir()
    for i in ids: shutil.copy(SAMPLE / f"{i}.cif", folder)
    table = screen(folder, tmp_path / "run", ScreenSettings(**FAST), chunk_size=4, client=client, progress=False)
    labels = pd.read_csv(SAMPLE / "id_prop.csv").set_index("id")
    table = table.set_index("id").loc[ids]
    assert table["error"].isna().all() and table["relaxed"].all()
    change = table["energy_change_per_atom"].abs()  # eV/atom: already relaxed (by CHGNet, whose minimum the potential learned)
    assert change.median() < 0.002 and change.max() < 0.05, change
    err = (table["formation_energy_per_atom"] - labels.loc[ids, "formation_energy_per_atom"]).abs()
    assert err.mean() < 0.01, err.describe()
    assert (table["defect_class"] == labels.loc[ids, "defect_class"]).mean() >= 0.75


def test_no_relax_is_the_plain_prediction(tmp_path, client):
    "`relax=False` predicts the inputs as given: the same numbers as `predict_table` on the same cells."
    ids = pd.read_csv(SAMPLE / "id_prop.csv")["id"].iloc[:3].tolist()
    structures = [Structure.from_file(SAMPLE / f"{i}.cif") for i in ids]
    table = screen(structures, tmp_path / "run", ScreenSettings(relax=False, **FAST), client=client, ids=ids, progress=False)
    direct = predict_table(shipped_checkpoint("formation_energy_per_atom"), structures, n_dropout=5).set_index(pd.Index(ids))
    table = table.set_index("id").loc[ids]
    assert not table["relaxed"].any()
    np.testing.assert_allclose(table["formation_energy_per_atom"], direct["mu"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["formation_energy_per_atom_sigma"], direct["sigma"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["max_force"], direct["max_force"], rtol=0, atol=1e-5)  # the input check, once per candidate
    assert (table["near_relaxed"] == direct["near_relaxed"]).all()


def test_bad_candidates_become_error_rows(tmp_path, client):
    folder = tmp_path / "in"; folder.mkdir()
    good = pd.read_csv(SAMPLE / "id_prop.csv")["id"].iloc[:2].tolist()
    for i in good: shutil.copy(SAMPLE / f"{i}.cif", folder)
    for case in ("malformed_cif", "unknown_element", "isolated_atom"): shutil.copy(BAD / case / "a.cif", folder / f"{case}.cif")
    for name, gap in [("crushed", 0.09), ("collapsing", 0.55)]:  # Å between the first two atoms (Li, Li)
        s = Structure.from_file(SAMPLE / f"{good[0]}.cif")
        v = s[1].coords - s[0].coords
        s.translate_sites([0], v - gap * v / np.linalg.norm(v), frac_coords=False)
        s.to(filename=str(folder / f"{name}.cif"))
    table = screen(folder, tmp_path / "run", ScreenSettings(**FAST), client=client, progress=False).set_index("id")
    assert len(table) == 7 and table.index.is_unique
    assert table.loc[good, "error"].isna().all() and table.loc[good, "formation_energy_per_atom"].notna().all()
    for case, words in [("malformed_cif", "malformed_cif.cif"), ("unknown_element", "Am"), ("isolated_atom", "neighbo"),
                        ("crushed", "0.09 Å apart"), ("collapsing", "relaxation failed")]:
        assert words in str(table.loc[case, "error"]), (case, table.loc[case, "error"])
        assert np.isnan(table.loc[case, "formation_energy_per_atom"])
        assert np.isnan(table.loc[case, "rank"])


def test_rerun_computes_only_missing_chunks(tmp_path, client):
    spec = dict(families=["NCM811"], classes=["pristine", "dopant"], n=4, seed=3, min_atoms=24, max_atoms=24)
    settings = ScreenSettings(relax=False, **FAST)
    first = screen(spec, tmp_path, settings, chunk_size=2, client=client, progress=False)
    chunks = sorted((tmp_path / "chunks").glob("*.parquet"))
    assert len(chunks) == 2
    kept = snapshot(tmp_path / "chunks", chunks[0].name)
    chunks[1].unlink()
    again = screen(spec, tmp_path, settings, chunk_size=2, client=client, progress=False)
    assert_untouched(tmp_path / "chunks", kept)
    pd.testing.assert_frame_equal(first, again)


def test_screening_survives_a_killed_worker(tmp_path, client):
    spec = dict(families=["NCA", "LiNiO2"], n=12, seed=7, min_atoms=24, max_atoms=24)
    out = tmp_path / "run"
    result = {}
    run = threading.Thread(target=lambda: result.update(table=screen(
        spec, out, ScreenSettings(steps=60, **FAST), chunk_size=2, client=client, progress=False)))
    run.start()
    kill_one_worker_when(client, lambda: list((out / "chunks").glob("*.parquet")))
    before = snapshot(out / "chunks", "*.parquet")
    run.join(600)
    assert not run.is_alive()
    assert 1 <= len(before) < 6, "the kill must land mid-run"
    table = result["table"]
    assert len(table) == 12 and table["id"].is_unique and table["error"].isna().all()
    assert len(list((out / "chunks").glob("*.parquet"))) == 6
    assert_untouched(out / "chunks", before)
