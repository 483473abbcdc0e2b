"""CHGNet-oracle check of the battery study's Li/Ni mixing energy at x = 1: the nearest Li/Ni antisite pair in the
48-atom LiNiO2 cell (host relaxed with its cell, the pair with positions only, as `defects.defect_energies` does with
the potential). Writes data/battery/antisite_chgnet.json. Run: .venv/bin/python data/battery/antisite_chgnet.py"""
import json, warnings
from pathlib import Path

import torch
from pymatgen.core import Structure

from nirich_cgcnn.defects import apply_ops, enumerate_defects
from nirich_cgcnn.oracle import oracle_calculator, relax
from nirich_cgcnn.structures import layered_host

if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    calc = oracle_calculator()
    sc, specs = enumerate_defects(layered_host() * (2, 2, 1), supercell=(1, 1, 1), vacancies=False, antisite_shells=1)
    host = relax(sc, calc=calc, n_frames=0)
    relaxed = Structure.from_ase_atoms(host["atoms"])
    rows = []
    for s in specs:
        d = relax(apply_ops(relaxed, s.ops), relax_cell=False, calc=calc, n_frames=0)
        rows.append(dict(defect=s.defect, x=1.0, antisite_energy=d["energy"] - host["energy"], converged=d["converged"]))
    Path(__file__).with_name("antisite_chgnet.json").write_text(json.dumps(rows, indent=1))
    print(rows)
