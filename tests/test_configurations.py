"Symmetry-distinct configurations at fixed composition, checked against pymatgen's StructureMatcher."
import itertools

import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from nirich_cgcnn.configurations import (POOLS, Change, apply_configuration, distinct_configurations, host_sites,
                                         pool_records)
from nirich_cgcnn.dataset import main as data_main
from nirich_cgcnn.structures import build_cell, layered_host, read_structures


def matcher_classes(host, changes):
    "Number of distinct configurations by brute force: every combination built and grouped by StructureMatcher."
    sites = [list(itertools.combinations(host_sites(host, c.from_el), c.count)) for c in changes]
    cells = [apply_configuration(host, changes, combo) for combo in itertools.product(*sites)]
    groups = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False).group_structures(cells)
    return len(groups)


@pytest.mark.parametrize("changes", [[Change("Li", None, 2)], [Change("Ni", "Al", 1), Change("Li", None, 1)]])
def test_orbits_match_structure_matcher(changes):
    host = layered_host() * (2, 1, 1)  # 24 atoms, 6 Li and 6 Ni sites
    configs = distinct_configurations(host, changes)
    assert len(configs) == matcher_classes(host, changes)
    assert sum(n for _, n in configs) == len(list(itertools.product(
        *[itertools.combinations(host_sites(host, c.from_el), c.count) for c in changes])))


def test_pool_keeps_composition_and_sites():
    recs = pool_records("NCM811_2antisite")
    assert len(recs) == POOLS["NCM811_2antisite"]["n"] == 520
    assert {r.formula for r in recs} == {"Li12Mn1Co1Ni10O24"}
    host = build_cell(**POOLS["NCM811_2antisite"]["host"], rattle=0).structure
    r = recs[0]
    (li_to_ni, ni_to_li) = r.params["sites"]
    assert all(host[i].specie.symbol == "Li" and r.structure[i].specie.symbol == "Ni" for i in li_to_ni)
    assert all(host[i].specie.symbol == "Ni" and r.structure[i].specie.symbol == "Li" for i in ni_to_li)
    assert r.params["n_distinct"] == 1566 and 1 <= r.params["orbit_size"] <= 2


def test_generate_pool_cli(tmp_path):
    data_main(["generate", "--pool", "NCM811_2Al_2vLi", "--out", str(tmp_path)])
    recs = read_structures(tmp_path)
    assert len(recs) == 520 and {len(r.structure) for r in recs} == {46}
    assert recs[0].id == pool_records("NCM811_2Al_2vLi")[0].id  # seeded: the same pool every time
