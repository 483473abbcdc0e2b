"Real GPAW runs through the DFT oracle's code path (`dft_label` -> Debian python3 -> `dft_worker`); seconds each."
import json, math, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from nirich_cgcnn.dft import DFT_PYTHON, DFTSettings, dft_label


def _has_gpaw():
    if not shutil.which(DFT_PYTHON): return False
    return subprocess.run([DFT_PYTHON, "-c", "import gpaw"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _has_gpaw(), reason="needs Debian's gpaw: apt-get install gpaw gpaw-data")


@pytest.fixture(scope="module")
def mgo():
    "Rock-salt MgO, 2-atom primitive cell (a = 4.21 Å)."
    s = Structure(Lattice.cubic(4.21), ["Mg"] * 4 + ["O"] * 4,
                  [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0], [.5, 0, 0], [0, .5, 0], [0, 0, .5], [.5, .5, .5]])
    return s.get_primitive_structure()


def test_mgo_is_a_wide_gap_insulator(mgo):
    "PBE puts MgO's direct Γ gap near 4.4 eV (PW 500 eV, 2x2x2 k); the oracle must find a clear direct gap."
    r = dft_label(mgo, DFTSettings(kpt_density=0.5), timeout_s=300)
    assert (r["status"], r["converged"]) == ("ok", True), r.get("error")
    assert r["n_atoms"] == 2 and r["kpts_bz"] == [2, 2, 2] and 0 < r["n_scf_steps"] < 40
    assert math.isfinite(r["dft_energy"]) and -12 < r["dft_energy"] < -8  # GPAW's energy vs its atomic references
    assert 3.5 < r["band_gap"] < 5.5 and r["gap_direct"] is True
    assert r["vbm"] < r["fermi_level"] < r["cbm"]
    assert abs(r["magmom"]) < 1e-3 and r["settings"]["hubbard_u"] == {} and r["gpaw_version"]
    assert 0 < r["cpu_s"] <= r["wall_s"] * 1.1  # the GPAW process's own CPU time: one thread, so at most its wall time


def test_timeout_is_recorded_not_raised(mgo):
    r = dft_label(mgo, DFTSettings(kpt_density=0.5), timeout_s=1)
    assert (r["status"], r["converged"]) == ("timeout", False) and r["wall_s"] < 30
    assert r["error"] == "stopped at its limit of 1 s of CPU time"


def fake_interpreter(tmp_path, body):
    "An executable standing in for the DFT interpreter: a shell script that ignores its arguments."
    exe = tmp_path / "python"; exe.write_text(f"#!/bin/sh\n{body}\n"); exe.chmod(0o755)
    return str(exe)


def test_limit_counts_cpu_time_and_a_hung_run_is_killed_on_wall_time(mgo, tmp_path):
    "A busy run stops at its CPU limit; one that uses no CPU (here: sleeps) is killed at HUNG_FACTOR × the limit."
    from nirich_cgcnn.dft import HUNG_FACTOR
    busy = dft_label(mgo, timeout_s=2, python=fake_interpreter(tmp_path, "while :; do :; done"))
    assert busy["status"] == "timeout" and "CPU time" in busy["error"] and 1.5 < busy["wall_s"] < 2 * HUNG_FACTOR
    assert busy["cpu_s"] == 2  # it ran to its limit: the cost model charges the limit
    hung = dft_label(mgo, timeout_s=1, python=fake_interpreter(tmp_path, "exec sleep 60"))
    assert hung["status"] == "timeout" and "wall time" in hung["error"] and HUNG_FACTOR <= hung["wall_s"] < HUNG_FACTOR + 5
    assert "cpu_s" not in hung  # unknown: the cost model falls back to wall time


def test_dft_oracle_of_active_learning_minimises_minus_the_gap(mgo):
    "The active-learning DFT oracle (CHGNet pre-relaxation, then GPAW) returns minus the band gap as its objective."
    from types import SimpleNamespace
    from nirich_cgcnn.active import dft_oracle
    label = dft_oracle(steps=0, settings=DFTSettings(kpt_density=0.5), timeout_s=300)(SimpleNamespace(structure=mgo))
    assert label['dft']['status'] == 'ok' and -5.5 < label['value'] < -3.5 and label['value'] == -label['dft']['band_gap']


def test_not_converged_run_is_reported_without_a_second_scf(tmp_path):
    "A capped SCF is reported once, with last-iterate moments read from the density (ASE's getters would rerun it)."
    nio = Structure(Lattice.cubic(4.17), ["Ni", "O"], [[0, 0, 0], [.5, .5, .5]]).get_primitive_structure()
    r = dft_label(nio, DFTSettings(kpt_density=0.5, ecut_eV=300, maxiter=4), timeout_s=300, log=tmp_path / "gpaw.txt")
    assert (r["status"], r["converged"]) == ("not_converged", False) and r["n_scf_steps"] in (4, 5)  # GPAW ends at maxiter + 1
    log = (tmp_path / "gpaw.txt").read_text()
    assert len(re.findall(r"iter:\s+1\s", log)) == 1 and log.count("Did not converge") == 1
    assert len(r["magmoms"]) == 2 and math.isfinite(r["magmom"]) and math.isfinite(r["dft_energy"])


LABELLER = """
import sys
from pymatgen.core import Lattice, Structure
from nirich_cgcnn.dft import DFTSettings
from nirich_cgcnn.dft_dataset import dft_label_folder
from nirich_cgcnn.structures import StructureRecord
def mgo(a):
    return Structure(Lattice.cubic(a), ["Mg"] * 4 + ["O"] * 4, [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                     [.5, 0, 0], [0, .5, 0], [0, 0, .5], [.5, .5, .5]]).get_primitive_structure()
cells = [StructureRecord(f"MgO_{a}", "MgO", "pristine", f"MgO_{a}", dict(relax_cell=None), mgo(a)) for a in (4.1, 4.2, 4.3)]
dft_label_folder(sys.argv[1], cells, DFTSettings(kpt_density=0.5, ecut_eV=300), timeout_s=300, log_dir=None)
"""


def test_dft_labeller_resumes_after_sigkill(tmp_path):
    "SIGKILL mid-run, run again: every cell labelled once, labels written before the kill untouched, no temp files."
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", LABELLER, str(tmp_path)]
    p = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not list(tmp_path.glob("labels/*.json")) and time.time() - t0 < 300: time.sleep(0.1)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    first = {q.name: (q.stat().st_mtime_ns, q.read_text()) for q in tmp_path.glob("labels/*.json")}
    assert 1 <= len(first) < 3, "the kill must land mid-run"
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    labels = {q.stem: json.loads(q.read_text()) for q in tmp_path.glob("labels/*.json")}
    assert sorted(labels) == ["MgO_4.1", "MgO_4.2", "MgO_4.3"]
    assert all(d["status"] == "ok" and 3 < d["band_gap"] < 7 for d in labels.values())
    assert labels["MgO_4.1"]["band_gap"] > labels["MgO_4.3"]["band_gap"]  # compression widens the gap
    for name, (mtime, text) in first.items():
        q = tmp_path / "labels" / name
        assert q.stat().st_mtime_ns == mtime and q.read_text() == text
    assert not list(tmp_path.rglob(".*.tmp*"))
