"""Batched relaxation (`relax.relax_batch`) against ASE one cell at a time, symmetry, failure records and skin lists."""
import copy

import numpy as np
import pytest
import torch
from ase import Atoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from threadpoolctl import threadpool_limits

from nirich_cgcnn import relax as R
from nirich_cgcnn.calculator import NiRichCalculator, atoms_batch, relax
from nirich_cgcnn.forces import energy_forces_stress
from nirich_cgcnn.model import load_checkpoint, shipped_checkpoint
from nirich_cgcnn.structures import generate_structures, layered_host


@pytest.fixture(scope='module')
def model():
    "The shipped potential (float32)."
    return load_checkpoint(shipped_checkpoint('energy'))


@pytest.fixture(autouse=True)
def one_blas_thread():
    "ASE's 3×3 matrix functions (logm, expm_frechet) crawl with a BLAS thread pool on a busy machine."
    with threadpool_limits(1): yield


def rattled(tm='Ni', strain=(0.02, -0.01, 0.015), seed=0, amplitude=0.08):
    "A strained 12-atom R-3m LiTMO2 cell with seeded random displacements."
    s = layered_host(tm=tm); s.apply_strain(list(strain))
    rng = np.random.default_rng(seed)
    return Structure(s.lattice, s.species, s.cart_coords + rng.normal(0, amplitude, (len(s), 3)), coords_are_cartesian=True)


@pytest.fixture(scope='module')
def cells():
    "Two 12-atom cells (LiNiO2, LiCoO2) and one generated 24-atom Ni-rich cell, all unrelaxed."
    return [rattled('Ni', seed=0), rattled('Co', (-0.02, 0.01, 0.0), seed=1),
            generate_structures(n=1, seed=3, min_atoms=24, max_atoms=24)[0].structure]


def ase_reference(structure, model, cell=True, steps=300):
    "(converged, steps, energy per atom, a b c α β γ) of `calculator.relax` (ASE FIRE + FrechetCellFilter) on one cell."
    atoms = AseAtomsAdaptor.get_atoms(structure); atoms.calc = NiRichCalculator(model)
    converged, n_steps = relax(atoms, 0.05, steps, cell=cell)
    return converged, n_steps, atoms.get_potential_energy() / len(atoms), atoms.cell.cellpar()


def test_matches_ase_one_at_a_time(model, cells):
    """Same FIRE, same convergence test, same float32 potential: the runs differ only by float32 rounding (edges summed in
    another order). Measured: the same step counts, energies within 1e-6 eV/atom, a b c within 3e-8. The tolerances
    (one step, 2e-5 eV/atom, 1e-4 on a b c, 0.01°) leave room for rounding on other hardware but not for a different
    FIRE: a mixing decay of 0.9 instead of 0.99, or the time step growing after 2 steps instead of 5, changes the steps
    by 2-10, the energies by 2e-5-4e-4 eV/atom and a b c by 6e-4-4e-3. Both are far inside what the fmax test leaves
    open (0.05 eV on the cell coordinates of a 12-atom cell is ~0.9 GPa of stress, ~0.3 % of strain): agreement to
    within that alone would not show the algorithm is ASE's."""
    out = R.relax_batch(cells, model, fmax=0.05, steps=300)
    for structure, result in zip(cells, out):
        converged, n_steps, energy, cellpar = ase_reference(structure, model)
        assert converged and result['converged'] and result['error'] is None
        assert abs(result['n_steps'] - n_steps) <= 1, (result['n_steps'], n_steps)
        assert abs(result['energy_after'] - energy) < 2e-5
        params = np.array(result['structure'].lattice.parameters)
        np.testing.assert_allclose(params[:3], cellpar[:3], rtol=1e-4)
        np.testing.assert_allclose(params[3:], cellpar[3:], atol=0.01)
        assert result['fmax'] < 0.05 and result['energy_after'] < result['energy_before'] - 1e-3  # it did relax


def test_positions_only_matches_ase(model, cells):
    "With `cell=False` the lattice is left exactly as it was and the atoms relax as ASE's FIRE on the atoms alone."
    result = R.relax_batch(cells[:1], model, cell=False, steps=300)[0]
    converged, n_steps, energy, _ = ase_reference(cells[0], model, cell=False)
    assert converged and result['converged'] and abs(result['n_steps'] - n_steps) <= 1
    assert abs(result['energy_after'] - energy) < 2e-5
    np.testing.assert_array_equal(result['structure'].lattice.matrix, cells[0].lattice.matrix)


def test_refilled_batches_relax_each_cell_alike(model, cells):
    "Two at a time (the third cell joins when one finishes) gives each cell the same relaxation as all three at once."
    together, refilled = R.relax_batch(cells, model, batch_size=3), R.relax_batch(cells, model, batch_size=2)
    for a, b in zip(together, refilled):
        assert a['n_steps'] == b['n_steps'] and abs(a['energy_after'] - b['energy_after']) < 1e-6


def test_fire_step_is_capped_at_maxstep(cells):
    "A first step with forces of 50 eV/Å would move 0.5 Å per atom (dt² f); ASE scales the whole step to a norm of 0.2."
    state = R.start_cells([0], cells[:1])
    state.f[:], state.fx[:], state.energy0[:] = 50 / 3 ** 0.5, 1.0, 0.0
    R.fire_step(state, torch.tensor([True]))
    step = torch.cat([state.u - torch.tensor(cells[0].cart_coords), state.x[0]])
    assert abs(step.norm() - 0.2) < 1e-12 and torch.allclose(state.v[0], torch.full((3,), 0.1 * 50 / 3 ** 0.5, dtype=torch.float64))
    assert state.steps[0] == 1 and state.dt[0] == 0.1  # the first step leaves dt as it is


def test_perfect_r3m_cell_stays_put(model):
    """Li (3b) and Ni (3a) feel no force by symmetry and O (6c) only along c (its free z; the potential puts 0.21 eV/Å
    on it): the relaxed cell is still R-3m with Li and Ni where they were, O moved only along c, and a hexagonal
    lattice. Relaxed once more, it is converged before the first step and does not move."""
    host = layered_host()
    result = R.relax_batch([host], model)[0]
    relaxed = result['structure']
    assert result['converged'] and result['n_steps'] > 0
    assert SpacegroupAnalyzer(relaxed, symprec=1e-3).get_space_group_number() == 166
    a, b, c, alpha, beta, gamma = relaxed.lattice.parameters
    assert abs(a - b) < 1e-4 and abs(alpha - 90) < 0.01 and abs(beta - 90) < 0.01 and abs(gamma - 120) < 0.01
    assert abs(a - host.lattice.a) > 1e-3  # the cell did relax
    shift = (relaxed.frac_coords - host.frac_coords + 0.5) % 1 - 0.5
    cation = np.array([s.symbol != 'O' for s in host.species])
    assert np.abs(shift[cation]).max() < 1e-5 and np.abs(shift[~cation][:, :2]).max() < 1e-5
    assert np.abs(shift[~cation][:, 2]).max() > 1e-4  # O found its own z
    again = R.relax_batch([relaxed], model)[0]
    assert again['converged'] and again['n_steps'] == 0
    np.testing.assert_allclose(again['structure'].cart_coords, relaxed.cart_coords, atol=1e-12)
    assert abs(again['energy_after'] - result['energy_after']) < 1e-6


def test_bad_cells_get_error_records(model, cells, monkeypatch):
    """Unknown element, NaN coordinates and NaN energies (a copy of the potential with NaN features for Mg) each give
    their cell an error record; the good cells in the same batch relax exactly as they do alone (no NaN crosses over)."""
    poisoned = copy.deepcopy(model)
    poisoned.atom_table[12] = torch.nan  # Mg
    doped = layered_host(); doped.replace(0, 'Mg')
    nan_atoms = Atoms('LiNiO2', positions=[[0, 0, 0], [1.4, 1.4, 1.4], [0.5, 0.5, np.nan], [2, 2, 2]], cell=np.eye(3) * 3, pbc=True)
    batch = [cells[0], layered_host(tm='Cu'), nan_atoms, doped, cells[1]]
    out = R.relax_batch(batch, poisoned, batch_size=4)
    alone = R.relax_batch([cells[0], cells[1]], model)
    assert 'not trained on Cu' in out[1]['error'] and 'NaN' in out[2]['error'] and 'not finite' in out[3]['error']
    for bad in out[1:4]: assert bad['structure'] is None and not bad['converged']
    for good, ref in zip((out[0], out[4]), alone):
        assert good['error'] is None and good['converged'] and good['n_steps'] == ref['n_steps']
        assert abs(good['energy_after'] - ref['energy_after']) < 1e-6
    monkeypatch.setattr(R, 'FORCE_LIMIT', 0.5)  # every rattled cell now "explodes" at its first evaluation
    exploded = R.relax_batch([cells[0]], model)[0]
    assert 'exploded' in exploded['error'] and exploded['n_steps'] == 0 and np.isfinite(exploded['energy_before'])


def moved(cells, distance, strain):
    "Move every atom by `distance` Å in a seeded random direction and strain each cell by `strain` (relative), in place."
    g = torch.Generator().manual_seed(0)
    step = torch.randn(cells.u.shape, generator=g, dtype=torch.float64)
    cells.u += distance * step / step.norm(dim=1, keepdim=True)
    log_strain = strain * torch.tensor([[1.0, 0.3, 0], [0.3, -0.5, 0.2], [0, 0.2, 0.8]], dtype=torch.float64)
    cells.x += cells.n_atoms[:, None, None] * log_strain


@pytest.mark.parametrize('dtype, tol', [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_skin_lists_give_fresh_graph_results(model, cells, dtype, tol):
    """A list built at the start, after moves of 0.2 Å (< skin/2) and a 1 % strain, is not rebuilt and gives the
    energies and forces of graphs built from scratch (float32: to rounding)."""
    potential = copy.deepcopy(model).to(dtype)
    state = R.start_cells([0, 1, 2], cells)
    assert R.evaluate(potential, state) == [None] * 3
    built = [e[0] for e in state.edges]
    moved(state, 0.2, 0.01)
    assert R.evaluate(potential, state) == [None] * 3
    assert all(e[0] is b for e, b in zip(state.edges, built))  # the same lists, not rebuilt
    deform, positions, lattices = state.geometry()
    atom = state.atom_cell
    for c in range(state.n_cells):
        atoms = Atoms(numbers=state.numbers[atom == c].numpy(), positions=positions[atom == c].numpy(), cell=lattices[c].numpy(), pbc=True)
        energy, forces, _ = energy_forces_stress(potential, atoms_batch(atoms, potential.config.graph, dtype))
        assert abs(energy.item() - state.energy[c].item()) / len(atoms) < tol
        ours = state.f[atom == c] @ torch.linalg.inv(deform[c])  # back from the filter's f·F
        assert (forces.detach().double() - ours).abs().max() < tol


def test_lists_are_rebuilt_when_atoms_move_past_half_the_skin(model, cells):
    "A move of 0.3 Å (more than skin/2 = 0.25 Å) rebuilds the list at the new positions."
    state = R.start_cells([0], cells[:1])
    R.evaluate(model, state)
    first = state.edges[0]
    moved(state, 0.3, 0.0)
    R.evaluate(model, state)
    _, positions, _ = state.geometry()
    assert state.edges[0] is not first and torch.equal(state.list_positions, positions)
