"""Shared fixtures: the test data folders and an isolated graph cache."""
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    "Every test gets its own empty graph cache."
    monkeypatch.setenv('NIRICH_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


@pytest.fixture
def tiny():
    "16 small Ni-rich cells labelled with their exact volume per atom (see tests/fixtures/README.md)."
    return TESTS / 'fixtures' / 'tiny'


def labelling_folders(tmp_path, n:int):
    "A candidate folder of `n` 24-atom LiNiO2/NCA cells and an output folder with stub references: (cand, out, records)."
    import json
    from nirich_cgcnn.oracle import oracle_info
    from nirich_cgcnn.structures import generate_structures, write_structures
    cand, out = tmp_path / "cand", tmp_path / "out"
    recs = generate_structures(families=["LiNiO2", "NCA"], n=n, min_atoms=24, max_atoms=24)
    write_structures(recs, cand)
    (out / "labels").mkdir(parents=True)
    (out / "references.json").write_text(json.dumps(dict(**oracle_info(), mu={"Li": -1.9, "Ni": -5.8, "Co": -7.1,
        "Al": -3.7, "O": -4.9, "Mn": -9.0}, lattice={}, o_fit={}, binaries={}, o_fit_mae_kJ_mol=0)))
    return cand, out, recs
