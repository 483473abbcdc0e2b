"Defects: symmetry-distinct sites of R-3m LiNiO2, E_f arithmetic, μ limits that keep the host stable, paired σ, bad input."
import json, warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from pymatgen.core import Composition, Lattice, Molecule, Structure

from nirich_cgcnn.defects import DefectError, apply_ops, defect_energies, enumerate_defects, formation_energy, main, site_keys
from nirich_cgcnn.paired import PairingError, paired_samples, pair_statistics
from nirich_cgcnn.thermo import ThermoError, chemical_potential_limits, competing_phases, references_of, total_energy
from nirich_cgcnn.model import Ensemble, load_checkpoint, shipped_checkpoint
from nirich_cgcnn.structures import layered_host

ROOT = Path(__file__).resolve().parents[1]
REFS = ROOT / "data" / "nirich" / "references.json"
A, C = 2.878, 14.19  # layered_host's hexagonal a and c, Å

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def refs():
    return references_of(REFS)


@pytest.fixture(scope="module")
def fe_model():
    return load_checkpoint(shipped_checkpoint("formation_energy_per_atom"))


def test_primitive_cell_has_one_li_one_ni_one_o_site():
    "R-3m LiNiO2, 4-atom rhombohedral cell: one Li (1), one Ni (1) and one O (2 equivalent) site; dopants on both cation sites."
    sc, specs = enumerate_defects(layered_host(primitive=True), dopants=["Al", "Mg"], supercell=(2, 2, 2))
    got = sorted((s.defect, s.kind, s.multiplicity) for s in specs)
    assert got == [("Al_Li", "substitution", 1), ("Al_Ni", "substitution", 1), ("Mg_Li", "substitution", 1),
                   ("Mg_Ni", "substitution", 1), ("Ni_Li+Li_Ni(2.89 Å)", "antisite", 6),
                   ("v_Li", "vacancy", 1), ("v_Ni", "vacancy", 1), ("v_O", "vacancy", 2)]
    assert len(sc) == 32
    for s in specs:  # each edit lands on a site of the element it names
        for i, new in s.ops:
            assert sc[i].specie.symbol == (s.defect.split("_")[1].split("+")[0] if s.kind != "antisite" else ("Li" if new == "Ni" else "Ni"))
    hexagonal = {s.defect: s.multiplicity for s in enumerate_defects(layered_host(), supercell=(2, 2, 1))[1] if s.kind == "vacancy"}
    assert hexagonal == {"v_Li": 3, "v_Ni": 3, "v_O": 6}  # the 12-atom hexagonal cell: 3a, 3b, 6c


def test_antisite_pairs_at_increasing_separation():
    "108-atom 3×3×3 rhombohedral cell: Li–Ni pairs across one O layer, the next ring, and straight along c."
    _, specs = enumerate_defects(layered_host(primitive=True), supercell="3x3x3", vacancies=False)
    pairs = [s for s in specs if s.kind == "antisite"]
    expected = [np.hypot(A / np.sqrt(3), C / 6), np.hypot(2 * A / np.sqrt(3), C / 6), C / 2]
    np.testing.assert_allclose([p.separation for p in pairs], expected, atol=2e-3)
    assert [p.multiplicity for p in pairs] == [6, 6, 2]
    assert all(p.changes == {} for p in pairs)  # an exchange adds or removes nothing
    # 2×2×1 hexagonal: the 4.08 Å pair sits on a corner of the 2×2 in-plane cell (three equidistant images)
    _, specs = enumerate_defects(layered_host(), supercell="2x2x1", vacancies=False)
    assert [round(s.separation, 2) for s in specs] == [2.89]
    with pytest.raises(DefectError, match=r"supercell \[2, 2, 1\] holds 1 unambiguous .* 2 were requested: use a larger supercell"):
        enumerate_defects(layered_host(), supercell="2x2x1", antisite_shells=2)


def test_cells_match_pymatgen_analysis_defects():
    "Our edit of the host supercell is the library's own supercell of the same defect."
    from pymatgen.analysis.defects.generators import SubstitutionGenerator, VacancyGenerator
    from pymatgen.analysis.structure_matcher import StructureMatcher
    host = layered_host()
    sc, specs = enumerate_defects(host, dopants=["Al"], supercell="2x2x1", antisite_shells=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib = {d.name: d.get_supercell_structure(sc_mat=np.diag([2, 2, 1])) for d in
               [*VacancyGenerator().generate(host, oxi_state=0), *SubstitutionGenerator().generate(host, {"Ni": "Al", "Li": "Al"}, oxi_state=0)]}
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    for s in specs:
        assert matcher.fit(apply_ops(sc, s.ops), lib[s.defect]), s.defect


def test_formation_energy_by_hand():
    "E_f = E_d − E_h − Σ nᵢμᵢ on totals n·ΔH_f + Σ nᵢμᵢ^ref: the references cancel, Δμ remains."
    mu_ref = {"Li": -1.9, "Ni": -5.7, "O": -4.8, "Al": -3.7}
    e_h = total_energy("Li12Ni12O24", -1.50, mu_ref)
    assert e_h == pytest.approx(48 * -1.50 + 12 * -1.9 + 12 * -5.7 + 24 * -4.8)
    e_d = total_energy("Li12Ni11AlO24", -1.53, mu_ref)
    dmu = {"Ni": -2.0, "Al": -8.0}
    # Al on Ni, μ = μ^ref + Δμ: E_d − E_h = 48(−1.53) − 48(−1.50) + μ_Al^ref − μ_Ni^ref = −1.44 + 2.0, minus (μ_Al − μ_Ni) = −4.0
    by_hand = -1.44 + 2.0 - ((-3.7 - 8.0) - (-5.7 - 2.0))
    assert by_hand == pytest.approx(4.56)
    assert formation_energy(e_d, e_h, {"Ni": -1, "Al": 1}, {el: mu_ref[el] + dmu[el] for el in dmu}) == pytest.approx(by_hand)
    assert by_hand == pytest.approx(48 * -1.53 - 48 * -1.50 - (dmu["Al"] - dmu["Ni"]))  # the references cancel: only Δμ remains
    with pytest.raises(DefectError, match=r"no chemical potential for \['Al'\]"):
        formation_energy(e_d, e_h, {"Ni": -1, "Al": 1}, {"Ni": -7.7})


def test_mu_limits_keep_the_host_stable(refs):
    "At every limit: Σ xᵢΔμᵢ = ΔH_host per formula unit and no competing phase lies below its energy."
    mu_ref = refs["mu"]
    comp, fe = Composition("Li12Ni12O24"), -1.58
    limits = chemical_potential_limits(comp, total_energy(comp, fe, mu_ref), ["Li", "Ni", "O", "Al", "Mg"], refs)
    assert {"O-rich", "O-poor"} <= set(limits.index) and (limits["kind"] == "vertex").sum() >= 3
    phases = competing_phases(["Li", "Ni", "O", "Al", "Mg"], refs)
    assert {"Li2O", "NiO", "Al2O3", "MgO", "O2"} <= set(phases["name"])
    for name, row in limits.iterrows():
        assert row["Li"] + row["Ni"] + 2 * row["O"] == pytest.approx(4 * fe, abs=1e-6), name
        for p in phases.itertuples():
            c = Composition(p.composition)
            assert p.energy >= sum(n * (mu_ref[el.symbol] + row[el.symbol]) for el, n in c.items()) - 1e-6, (name, p.name)
    assert limits.loc["O-rich", "O"] == pytest.approx(0.0, abs=1e-9)
    assert limits.loc["O-poor", "O"] < limits.loc["O-rich", "O"] - 1.0
    # closed form of the O-poor limit of LiNiO2 with Li2O and NiO: Δμ_O = 2(ΔH_host − ΔH_NiO − ½ΔH_Li2O)
    dh = {k: refs["binaries"][k]["energy"] - total_energy(k, 0.0, mu_ref) for k in ("Li2O", "NiO")}
    assert limits.loc["O-poor", "O"] == pytest.approx(2 * (4 * fe - dh["NiO"] - dh["Li2O"] / 2), abs=1e-6)
    with pytest.raises(ThermoError, match="above the hull"):
        chemical_potential_limits(comp, total_energy(comp, -1.0, mu_ref), ["Li", "Ni", "O"], refs)


def test_paired_sigma_below_naive(fe_model):
    """Host and defect cells sharing all but one site: shared masks shrink σ of E_f (one network: the ensemble's
    members disagree on E_f too, which no mask removes); host samples do not depend on batching."""
    net = fe_model.members[0] if isinstance(fe_model, Ensemble) else fe_model
    net.meta = {**fe_model.meta, **net.meta}
    sc = layered_host() * (2, 2, 1)
    ops = [((0, None),), ((12, None),), ((24, None),), ((12, "Al"),)]
    cells, keys = [apply_ops(sc, o) for o in ops], [site_keys(len(sc), o) for o in ops]
    samples = paired_samples(net, sc, cells, keys, n_dropout=30, seed=3)
    assert samples.shape == (30, 5, 2)
    torch.testing.assert_close(samples, paired_samples(net, sc, cells, keys, n_dropout=30, seed=3, batch_size=2))
    st = pair_statistics(net, samples, [len(sc)] + [len(c) for c in cells])
    assert np.all(st["sigma_paired"] <= 0.7 * st["sigma_unpaired"]), st
    assert np.all(st["sigma_paired"] > 0)
    ens = paired_samples(Ensemble([net, net]), sc, cells[:1], keys[:1], n_dropout=10)  # pairs within each member
    assert ens.shape == (10, 2, 2)
    with pytest.raises(PairingError, match="distinct host indices"):
        paired_samples(net, sc, cells[:1], [np.zeros(len(cells[0]), int)])


def test_relaxed_defect_energies(refs):
    "Relaxed host (cell too), defects at the host lattice; user μ and the O-poor limit differ exactly by Σ nᵢΔμᵢ."
    user = {"Li": -3.0, "Ni": -2.0, "O": -0.5, "Al": -7.0}
    t = defect_energies(layered_host(), dopants=["Al"], supercell="2x2x1", mu="O-poor",
                        n_dropout=10, references=refs)
    u = defect_energies(layered_host(), dopants=["Al"], supercell="2x2x1", mu=user, n_dropout=10, references=refs)
    assert t["error"].isna().all() and t["relax_converged"].all()
    assert t["relaxed"].str.contains("defects positions only at the host lattice").all()
    host = t.attrs["host_supercell"]
    assert not np.allclose(host.lattice.matrix, (layered_host() * (2, 2, 1)).lattice.matrix, atol=1e-3)  # the host relaxed its cell
    for cell in t.attrs["cells"]: np.testing.assert_allclose(cell.lattice.matrix, host.lattice.matrix, atol=1e-9)
    lim = t.attrs["limits"].loc["O-poor"]
    changes = {"v_Li": {"Li": -1}, "v_Ni": {"Ni": -1}, "v_O": {"O": -1}, "Al_Ni": {"Ni": -1, "Al": 1}, "Al_Li": {"Li": -1, "Al": 1}}
    t, u = t.set_index("defect"), u.set_index("defect")
    for d, ch in changes.items():
        assert u.loc[d, "E_f"] - t.loc[d, "E_f"] == pytest.approx(-sum(n * (user[el] - lim[el]) for el, n in ch.items()), abs=1e-9), d
    anti = [d for d in t.index if d.startswith("Ni_Li+Li_Ni")]
    assert len(anti) == 1 and u.loc[anti[0], "E_f"] == pytest.approx(t.loc[anti[0], "E_f"], abs=1e-9)
    assert (t["sigma_paired"] < t["sigma_unpaired"]).all()
    assert np.all(t["low_90"] < t["E_f"]) and np.all(t["E_f"] < t["high_90"])


def test_cli_writes_table_and_figure(tmp_path):
    layered_host().to(filename=str(tmp_path / "lno.cif"))
    out, fig = tmp_path / "d.csv", tmp_path / "d.png"
    main([str(tmp_path / "lno.cif"), "--dopants", "Mg", "--no-relax", "--n-dropout", "4", "--mu", "O-rich", "O-poor",
          "--references", str(REFS), "--out", str(out), "--figure", str(fig)])
    import pandas as pd
    table = pd.read_csv(out)
    assert len(table) == 2 * 6 and set(table["mu_limit"]) == {"O-rich", "O-poor"}
    assert fig.stat().st_size > 5000


@pytest.mark.parametrize("args, words", [
    (["--dopants", "Ga"], "no reference energy for ['Ga']"),
    (["--antisite-shells", "2"], "use a larger supercell"),
    (["--supercell", "2x2"], "supercell '2x2'"),
    (["--mu", "Li-rich"], "unknown limit 'Li-rich'"),
    (["--mu", "Li=-3", "O=-1"], "no Δμ for ['Ni']"),
    (["--mu", "O=high"], "Δμ values must be numbers"),
])
def test_cli_bad_input_writes_nothing(tmp_path, args, words):
    layered_host().to(filename=str(tmp_path / "lno.cif"))
    out, fig = tmp_path / "d.csv", tmp_path / "d.png"
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "lno.cif"), *args, "--no-relax", "--n-dropout", "2", "--references", str(REFS), "--out", str(out), "--figure", str(fig)])
    assert words in str(e.value) and str(e.value).startswith("nirich-defects: error:"), e.value
    assert not out.exists() and not fig.exists()


def test_hosts_that_are_not_ordered_periodic_crystals(tmp_path):
    disordered = Structure(Lattice.hexagonal(A, C), [{"Ni": 0.8, "Co": 0.2}, "Li", "O", "O"],
                           [[0, 0, 0], [0, 0, 0.5], [0, 0, 0.26], [0, 0, 0.74]])
    disordered.to(filename=str(tmp_path / "ncm.cif"))
    with pytest.raises(SystemExit, match="partial occupancies"):
        main([str(tmp_path / "ncm.cif"), "--out", str(tmp_path / "d.csv")])
    (tmp_path / "junk.cif").write_text("not a cif\n")
    with pytest.raises(SystemExit, match="junk.cif"):
        main([str(tmp_path / "junk.cif"), "--out", str(tmp_path / "d.csv")])
    assert not (tmp_path / "d.csv").exists()
    with pytest.raises(DefectError, match="not a periodic crystal"):
        enumerate_defects(Molecule(["O", "O"], [[0, 0, 0], [0, 0, 1.21]]))
    with pytest.raises(DefectError, match="not periodic in all three directions"):
        enumerate_defects(Atoms("LiNiO2", positions=np.eye(4, 3) * 2, cell=[5, 5, 5], pbc=[True, True, False]))
