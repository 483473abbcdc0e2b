"Voltage profiles: hand-computed two-phase voltages, the hull property, σ with dropout off, the CLI."
import numpy as np
import pandas as pd
import pytest
import torch

from nirich_cgcnn.battery import (electrode, lattice_of, li_orderings, main, model_energies, profile_with_sigma, step_average,
                                  voltage_steps)
from nirich_cgcnn.model import Ensemble, load_checkpoint, shipped_checkpoint
from nirich_cgcnn.structures import layered_host
from nirich_cgcnn.thermo import references_of


def test_two_phase_voltage_by_hand():
    # LiCoO2 / CoO2 at -6.0 and -1.5 eV per formula unit, Li metal at -1.9 eV: V = (6.0 - 1.5 - 1.9) / 1 = 2.6 V
    ele = electrode(["CoO2", "LiCoO2"], [-1.5, -6.0], -1.9)
    steps = voltage_steps(ele)
    assert len(steps) == 1 and steps.voltage[0] == pytest.approx(2.6, abs=1e-9)
    assert (steps.x_low[0], steps.x_high[0]) == (0.0, 1.0)
    # x is Li per TM also when the framework formula unit holds several TM atoms
    steps = voltage_steps(electrode(["Ni4O8", "Li2Ni4O8", "Li4Ni4O8"], [0.0, -9.0, -17.0], -2.0))
    np.testing.assert_allclose(steps[["x_low", "x_high"]].to_numpy(), [[0.5, 1.0], [0.0, 0.5]])
    np.testing.assert_allclose(steps.voltage, [(17.0 - 9.0 - 4.0) / 2, (9.0 - 4.0) / 2])


@pytest.mark.parametrize("a", [2.878, 3.6])  # 3.6 Å: no TM neighbour within 3.3 Å, a falls back to the nearest TM–TM distance
def test_lattice_of_an_ideal_layered_cell(a):
    got = lattice_of(layered_host(a=a, c=14.19) * (2, 2, 1))
    assert got["a"] == pytest.approx(a, abs=1e-6) and got["c"] == pytest.approx(14.19, abs=1e-6)
    assert got["volume_per_tm"] == pytest.approx(np.sqrt(3) / 2 * a ** 2 * 14.19 / 3, rel=1e-9)


def test_no_ordering_below_the_hull():
    rng = np.random.default_rng(3)
    n_li = np.repeat(np.arange(9), 3)  # 9 Li contents of Li_n Ni8 O16, three orderings each
    comps = [f"Li{n}Ni8O16" if n else "Ni8O16" for n in n_li]
    energies = -50.0 - 4.0 * n_li + 0.4 * (n_li - 4) ** 2 * rng.uniform(0.2, 1.0, len(n_li)) + rng.normal(0, 0.3, len(n_li))
    steps = voltage_steps(electrode(comps, energies, -1.9))
    assert np.all(np.diff(steps.voltage) >= -1e-9)  # voltage rises as Li is removed: the hull is convex
    # the hull through the steps' end points: E_hull(x) = E(x_high) + V·(x_high − x)·8 − μ_Li·(x_high − x)·8
    e_min = pd.Series(energies).groupby(n_li).min()
    for x, e in zip(n_li / 8, energies):
        step = steps[(steps.x_low <= x + 1e-9) & (steps.x_high >= x - 1e-9)].iloc[0]
        e_high = e_min[round(step.x_high * 8)]
        e_hull = e_high + (step.x_high - x) * 8 * (step.voltage + 1.9)
        assert e >= e_hull - 1e-6
    assert step_average(steps, 0, 1) == pytest.approx(((energies[n_li == 0].min() - energies[n_li == 8].min()) / 8 - 1.9), abs=1e-9)


def test_sigma_zero_with_dropout_off_and_positive_with_it():
    torch.set_num_threads(1)
    orders = li_orderings(layered_host())
    mu_li = references_of()["mu"]["Li"]
    table, totals, _ = model_energies(orders, n_dropout=6)
    steps, summary = profile_with_sigma(table.formula.tolist(), totals, mu_li)
    assert (steps.sigma > 0).all() and summary["average_voltage_sigma"] > 0
    shipped = load_checkpoint(shipped_checkpoint("formation_energy_per_atom"))
    model = shipped.members[0] if isinstance(shipped, Ensemble) else shipped  # one network: an ensemble's members disagree without dropout too
    model.meta = {**shipped.meta, **model.meta}
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout): m.p = 0.0
    table0, totals0, _ = model_energies(orders, model=model, n_dropout=6)
    steps0, summary0 = profile_with_sigma(table0.formula.tolist(), totals0, mu_li)
    assert steps0.sigma.abs().max() < 1e-9 and summary0["average_voltage_sigma"] < 1e-9
    assert abs(summary0["average_voltage"] - summary["average_voltage"]) < 0.3


def test_cli_writes_table_and_rejects_bad_host(tmp_path, capsys):
    out = tmp_path / "lno.csv"
    main(["LiNiO2", "--supercell", "1x1x1", "--n-dropout", "4", "--out", str(out), "--steps", str(tmp_path / "s.csv")])
    table = pd.read_csv(out)
    assert sorted(table.x.round(3)) == [0.0, 0.333, 0.667, 1.0] and table.lowest_at_x.all()
    assert "average voltage" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="nirich-voltage: error: nope.cif: neither a CIF file nor one of"):
        main(["nope.cif", "--out", str(tmp_path / "x.csv")])
    with pytest.raises(SystemExit, match="--supercell '2by2': expected AxBxC"):
        main(["LiNiO2", "--supercell", "2by2", "--out", str(tmp_path / "x.csv")])
    assert not (tmp_path / "x.csv").exists()
