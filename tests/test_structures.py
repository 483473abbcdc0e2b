"Known-answer tests for nirich_cgcnn.structures (fast: no oracle)."
import dataclasses

import numpy as np
import pytest
from nirich_cgcnn.structures import (DEFECT_CLASSES, FAMILIES, apply_defect, generate_structures, layered_host,
                                     make_host, read_structures, supercell_atoms, tm_counts, write_structures)


def test_linio2_host():
    h = layered_host()
    assert h.composition.reduced_formula == "LiNiO2"
    assert len(h) == 12 and len(layered_host(primitive=True)) == 4
    assert h.get_space_group_info()[0] == "R-3m"
    assert h.lattice.abc == pytest.approx((2.878, 2.878, 14.19))


@pytest.mark.parametrize("name,n", [("hex-2x1x1", 24), ("hex-2x2x1", 48), ("rho-2x2x2", 32), ("hex-3x3x1", 108)])
def test_supercell_atoms(name, n):
    sp, fc, lat, roles, p, g = make_host("LiNiO2", name, np.random.default_rng(0))
    assert supercell_atoms(name) == n == len(sp)
    assert sp.count("Li") == sp.count("Ni") == n // 4 and sp.count("O") == n // 2


def test_tm_counts_sum_and_exact_case():
    assert tm_counts(FAMILIES["NCM622"], 10, np.random.default_rng(0)) == {"Ni": 6, "Co": 2, "Mn": 2}
    assert sum(tm_counts(FAMILIES["NCA"], 27, np.random.default_rng(1)).values()) == 27


def test_li_vacancy_removes_one_li_and_antisite_keeps_composition():
    sp, fc, lat, roles, p, g = make_host("NCM811", "hex-2x2x1", np.random.default_rng(0))
    vac = list(sp)
    apply_defect(vac, roles, "Li-vacancy", np.random.default_rng(0))
    assert vac.count(None) == 1 and vac.count("Li") == sp.count("Li") - 1
    anti = list(sp)
    d = apply_defect(anti, roles, "antisite", np.random.default_rng(0))
    assert sorted(anti) == sorted(sp)
    for i, j in d["pairs"]:
        assert roles[i] == "Li" and anti[i] == "Ni" and roles[j] == "TM" and anti[j] == "Li"


def test_generated_set_is_reproducible_and_diverse():
    a, b = generate_structures(n=48, seed=3), generate_structures(n=48, seed=3)
    assert [r.id for r in a] == [r.id for r in b]
    assert all(np.allclose(x.structure.cart_coords, y.structure.cart_coords) for x, y in zip(a, b))
    assert {r.family for r in a} == set(FAMILIES) and {r.defect_class for r in a} == set(DEFECT_CLASSES)
    assert len({r.id for r in a}) == 48
    assert [r.id for r in generate_structures(n=48, seed=4)] != [r.id for r in a]
    assert all(r.structure.composition["F"] > 0 for r in a if r.family == "NCA-F")
    assert all(r.structure.composition["F"] == 0 for r in a if r.family != "NCA-F")


def test_family_subset_matches_full_run():
    full = generate_structures(n=96, seed=0)
    sub = generate_structures(families=["NCA"], n=16, seed=0)
    assert [r.id for r in sub] == [r.id for r in full if r.family == "NCA"]


def test_write_read_roundtrip(tmp_path):
    recs = generate_structures(n=6, seed=0)
    write_structures(recs, tmp_path)
    back = read_structures(tmp_path)
    assert [r.id for r in back] == [r.id for r in recs]
    assert [r.formula for r in back] == [r.formula for r in recs]
    assert [r.params for r in back] == [r.params for r in recs]


def test_interrupted_write_keeps_the_previous_folder(tmp_path):
    recs = generate_structures(n=3, seed=0)
    write_structures(recs[:2], tmp_path)
    before = (tmp_path / "structures.csv").read_bytes()
    broken = dataclasses.replace(recs[2], structure=None)  # fails while its CIF is being made, after the first two were rewritten
    with pytest.raises(AttributeError):
        write_structures(recs[:2] + [broken], tmp_path)
    assert (tmp_path / "structures.csv").read_bytes() == before  # the index is written last, so it still names two
    assert [r.id for r in read_structures(tmp_path)] == [r.id for r in recs[:2]]
    assert not list(tmp_path.glob(".*.tmp*"))


def test_unknown_family_raises():
    with pytest.raises(ValueError, match="unknown"):
        generate_structures(families=["LiFePO4"], n=1)
