"""Per-defect energies at DFT level (issue 27): GPAW PBE+U, the CHGNet oracle and the shipped models on the same cells.

Cells: the LiNiO2 DFT labels of the 2×1×1 rhombohedral host (8 atoms, data/nirich/dft): a Li/Ni antisite pair, a Li,
an O and a Ni vacancy. E_f = E_d − E_h − Σ nᵢ μᵢ (eV per neutral defect) at the O-poor corner where the host coexists
with Li2O and NiO: μ_Li, μ_Ni, μ_O solve E(LiNiO2) = μ_Li + μ_Ni + 2 μ_O, E(Li2O) = 2 μ_Li + μ_O and
E(NiO) = μ_Ni + μ_O with each method's own energies of the three phases, so no O2 molecule (and none of PBE's O2
overbinding) enters. DFT energies are single points on the CHGNet-relaxed cells, as every DFT label is. The models
give E_d − E_h (ensemble means, no dropout); their μ are CHGNet's, the labels they learned.
The three phases (the host ferromagnetic, NiO AFM-II, Li2O) are labelled once with GPAW (38 min on a shared core), kept
in bench/_work/defects_dft/. Prints the table and each method's MAE against DFT; writes figures/bench_defects_dft.json.
Usage: python bench/defects_dft.py
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Lattice, Structure

from nirich_cgcnn.dft import DFTSettings
from nirich_cgcnn.dft_cells import small_cells
from nirich_cgcnn.defects import formation_energy
from nirich_cgcnn.dft_dataset import dft_label_cell
from nirich_cgcnn.model import load_checkpoint, shipped_checkpoint
from nirich_cgcnn.predict import predict_table
from nirich_cgcnn.structures import StructureRecord, atomic_write
from nirich_cgcnn.thermo import binary_structure, load_references, total_energy

ROOT = Path(__file__).resolve().parents[1]
DFT = ROOT / "data" / "nirich" / "dft"
WORK = ROOT / "bench" / "_work" / "defects_dft"
DEFECTS = {"antisite": "LNO2_antisite", "Li-vacancy": "LNO2_Livac_afm", "O-vacancy": "LNO2_Ovac", "TM-vacancy": "V_r2_TMvac"}
PHASES = {"LiNiO2": "LNO2_fm", "Li2O": "Li2O", "NiO": "NiO_afm2"}
HOST = "Li2Ni2O4"


def nio_afm2()->Structure:
    "Rocksalt NiO in the 4-atom rhombohedral cell of AFM-II order: the two Ni lie on alternate (111) planes."
    a = (4 * binary_structure("NiO").volume) ** (1 / 3)  # cubic a from the 2-atom primitive cell
    vectors = a * np.array([[1, .5, .5], [.5, 1, .5], [.5, .5, 1]])
    return Structure(Lattice(vectors), ["Ni", "Ni", "O", "O"], a * np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, 0], [1, .5, 0]]),
                     coords_are_cartesian=True)


def phase_records()->list:
    "The host and its two competing phases as `StructureRecord`s with magnetic starts (relaxed with CHGNet first)."
    host = next(r for r in small_cells() if r.id == "LNO2_afm").structure  # the 2×1×1 cell of the defect labels
    cells = {"LNO2_fm": (host, "fm"), "Li2O": (binary_structure("Li2O"), "fm"), "NiO_afm2": (nio_afm2(), "afm")}
    return [StructureRecord(sid, "LiNiO2", "pristine", f"bench_{sid}", dict(magnetic_pattern=m, relax_cell=True), s)
            for sid, (s, m) in cells.items()]


def phase_labels()->dict:
    "GPAW + CHGNet labels and relaxed cells of the phases, computed once (atomically kept in bench/_work)."
    out = {}
    for record in phase_records():
        path = WORK / f"{record.id}.json"
        if not path.exists():
            print(f"GPAW label of {record.id} ({record.n_atoms} atoms) ...", flush=True)
            label, relaxed = dft_label_cell(record, DFTSettings(), timeout_s=3600)
            if not label.get("converged"): raise SystemExit(f"{record.id}: GPAW {label['status']}: {label.get('error')}")
            atomic_write(WORK / f"{record.id}.cif", relaxed.to(fmt="cif").encode())
            atomic_write(path, json.dumps(label, default=float).encode())
        out[record.id] = json.loads(path.read_text())
    return out


def triple_point(energies:dict)->dict:
    "μ_Li, μ_Ni, μ_O (eV/atom) where LiNiO2, Li2O and NiO coexist, from their energies per formula unit."
    A = np.array([[Composition(f)[el] for el in ("Li", "Ni", "O")] for f in PHASES])
    return dict(zip(("Li", "Ni", "O"), np.linalg.solve(A, [energies[f] for f in PHASES])))


def formation(e_defect:float, e_host:float, formula:str, mu:dict)->float:
    "`defects.formation_energy` of a defect cell of `formula` made from the 8-atom host Li2Ni2O4."
    d, h = Composition(formula), Composition(HOST)
    return float(formation_energy(e_defect, e_host, {el.symbol: d[el] - h[el] for el in set(d) | set(h) if d[el] != h[el]}, mu))


def model_energies(checkpoint:str, structures:dict, references:dict)->dict:
    "Total energies (eV) of `structures` from a formation-energy model's mean and the references."
    table = predict_table(load_checkpoint(checkpoint), list(structures.values()), n_dropout=0, check_relaxed=False)
    return {sid: float(total_energy(s.composition, mu, references["mu"])) for (sid, s), mu in zip(structures.items(), table["mu"])}


def main():
    phases = phase_labels()
    labels = {sid: json.loads((DFT / "labels" / f"{sid}.json").read_text()) for sid in DEFECTS.values()}
    per_fu = lambda lab, key: lab[key] / Composition(lab["formula"]).get_reduced_composition_and_factor()[1]
    mu = {"dft": triple_point({f: per_fu(phases[sid], "dft_energy") for f, sid in PHASES.items()}),
          "chgnet": triple_point({f: per_fu(phases[sid], "chgnet_energy") for f, sid in PHASES.items()})}
    host = phases[PHASES["LiNiO2"]]
    cells = {sid: Structure.from_file(DFT / f"{sid}.cif") for sid in DEFECTS.values()} | {
        "host": Structure.from_file(WORK / f"{PHASES['LiNiO2']}.cif")}
    references = load_references(ROOT / "data" / "nirich" / "references.json")
    models = {name: model_energies(shipped_checkpoint(name), cells, references) for name in ("formation_energy_per_atom", "defect_energy")}
    rows = []
    for cls, sid in DEFECTS.items():
        lab = labels[sid]
        row = dict(defect=cls, cell=sid, dft_status=lab["status"], magnetic_start=lab["params"].get("magnetic_pattern"),
                   dft=formation(lab["dft_energy"], host["dft_energy"], lab["formula"], mu["dft"]),
                   chgnet=formation(lab["chgnet_energy"], host["chgnet_energy"], lab["formula"], mu["chgnet"]))
        for name, e in models.items(): row[name] = formation(e[sid], e["host"], lab["formula"], mu["chgnet"])
        rows.append(row)
    table = pd.DataFrame(rows).set_index("defect")
    methods = ["chgnet", "formation_energy_per_atom", "defect_energy"]
    mae = {m: float((table[m] - table["dft"]).abs().mean()) for m in methods}
    mae_vs_chgnet = {m: float((table[m] - table["chgnet"]).abs().mean()) for m in methods[1:]}
    print(table.round(3).to_string())
    print("MAE vs DFT (eV per defect):", {k: round(v, 3) for k, v in mae.items()})
    print("MAE vs CHGNet:", {k: round(v, 3) for k, v in mae_vs_chgnet.items()})
    print(f"ratio: shipped defect_energy model's error vs DFT / CHGNet's error vs DFT = {mae['defect_energy'] / mae['chgnet']:.2f}")
    result = dict(mu_triple_point={k: {el: float(v) for el, v in m.items()} for k, m in mu.items()},
                  phases={sid: dict(status=lab["status"], dft_energy=lab["dft_energy"], chgnet_energy=lab["chgnet_energy"],
                                    magmom=lab.get("magmom"), n_scf_steps=lab.get("n_scf_steps"), wall_s=lab.get("wall_s"))
                          for sid, lab in phases.items()},
                  defects=table.reset_index().to_dict("records"), mae_vs_dft=mae, mae_vs_chgnet=mae_vs_chgnet)
    path = ROOT / "figures" / "bench_defects_dft.json"
    path.write_text(json.dumps(result, indent=1, default=float)); print(f"wrote {path}")


if __name__ == "__main__":
    main()
