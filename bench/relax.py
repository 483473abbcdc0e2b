"""Relaxing many cells: ASE one cell at a time vs TorchSim batched vs our batched FIRE (`relax.relax_batch`), in one run.

The same generated 48-atom Ni-rich cells (unrelaxed, rattled), the shipped potential in float32, one thread (torch and
BLAS), fmax 0.05 eV/Å on atoms and cell, the same step cap:
(a) ASE FIRE + FrechetCellFilter with `NiRichCalculator`, one cell after another (the reference);
(b) TorchSim 0.3 (`torch_sim.optimize`, `frechet_cell_fire` in its ASE flavour, one in-flight batch of every cell,
    convergence checked every step with ASE's criterion) with the potential wrapped as a TorchSim `ModelInterface` that
    builds our crystal graphs from the `SimState` and reuses skin neighbour lists between calls;
(c) `relax_batch`: the same FIRE, batched, with per-cell convergence and skin neighbour lists.
Each method runs `--repeats` times in rotating order and its fastest run counts (the machine is shared).
Reports cells/s (CPU time of this process and wall time), the ratios to (a), the agreement of
final energies (meV/atom) and lattice parameters with (a), steps and the fraction converged. Also checks the skin
lists: each relaxed cell's energy from a graph built from scratch against the batched loop's final energy.
Needs `pip install torch-sim-atomistic==0.3.0` for (b) (`--no-torchsim` skips it). Writes figures/bench_relax.json.
Usage: python bench/relax.py [--n 32] [--steps 500] [--fmax 0.05] [--batch-size 32] [--repeats 3] [--no-torchsim]
"""
import os
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[_var] = '1'  # before numpy: one thread
import argparse, json, time
from pathlib import Path

import numpy as np
import torch
from pymatgen.io.ase import AseAtomsAdaptor

from nirich_cgcnn.calculator import NiRichCalculator, relax
from nirich_cgcnn.forces import energy_forces_stress
from nirich_cgcnn.data import GraphBatch
from nirich_cgcnn.graph import edge_vectors
from nirich_cgcnn.model import load_checkpoint, shipped_checkpoint
from nirich_cgcnn.relax import SKIN, cutoff_edges, lists_valid, relax_batch, skin_edges
from nirich_cgcnn.structures import generate_structures

ROOT = Path(__file__).parents[1]


def timed(fn, *args, **kwargs):
    "(CPU seconds of this process, wall seconds, result) of one call."
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(*args, **kwargs)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def ase_one_at_a_time(structures, model, fmax, steps):
    "Per cell: energies per atom before/after, steps, converged, a b c α β γ; ASE FIRE + FrechetCellFilter."
    calc, out = NiRichCalculator(model), []
    for structure in structures:
        atoms = AseAtomsAdaptor.get_atoms(structure); atoms.calc = calc
        before = atoms.get_potential_energy() / len(atoms)
        converged, n_steps = relax(atoms, fmax, steps)
        out.append({'energy_before': before, 'energy_after': atoms.get_potential_energy() / len(atoms), 'n_steps': n_steps,
                    'converged': converged, 'cellpar': atoms.cell.cellpar().tolist()})
    return out


def torchsim_model(model, skin=SKIN):
    "The CGCNN potential as a TorchSim model: crystal graphs from the SimState, skin neighbour lists kept between calls."
    from torch_sim.models.interface import ModelInterface

    class CGCNNModel(ModelInterface):
        def __init__(self):
            super().__init__()
            self.model, self.settings = model, model.config.graph
            self._device, self._dtype = torch.device('cpu'), torch.float64  # optimiser state in float64, as ASE's
            self._compute_stress = self._compute_forces = True
            self._memory_scales_with = 'n_atoms'
            self.lists, self.rebuilds = [], 0  # (numbers, src, dst, images, positions, lattice) of the last call's systems

        def neighbours(self, b, numbers, positions, lattice):
            "A valid skin list for one system: its own from the last call (found by position or by matching), else a new one."
            candidates = ([self.lists[b]] if b < len(self.lists) else []) + self.lists
            for entry in candidates:
                if len(entry[0]) == len(numbers) and torch.equal(entry[0], numbers) and lists_valid(
                        positions, lattice[None], torch.zeros(len(numbers), dtype=torch.long), entry[4], entry[5][None],
                        self.settings.cutoff + skin, self.settings.cutoff)[0]:
                    return entry
            self.rebuilds += 1
            return (numbers, *skin_edges(positions.numpy(), lattice.numpy(), numbers.numpy(), self.settings.cutoff + skin),
                    positions.clone(), lattice.clone())

        def forward(self, state, **kwargs):
            positions, lattices = state.positions.detach().double(), state.row_vector_cell.detach().double()
            counts = torch.bincount(state.system_idx, minlength=state.n_systems)
            starts = (torch.cumsum(counts, 0) - counts).tolist()
            lists, ok = [], torch.ones(state.n_systems, dtype=torch.bool)
            for b, (start, n) in enumerate(zip(starts, counts.tolist())):
                try: lists.append(self.neighbours(b, state.atomic_numbers[start:start + n], positions[start:start + n], lattices[b]))
                except Exception: lists.append(None); ok[b] = False  # a failed system: NaN outputs, the others go on
            self.lists = [e for e in lists if e is not None]
            energy = torch.full((state.n_systems,), torch.nan, dtype=torch.float64)
            forces, stress = torch.full_like(positions, torch.nan), torch.full_like(lattices, torch.nan)
            if ok.any():
                live = [b for b in range(state.n_systems) if ok[b]]
                atoms = torch.cat([torch.arange(starts[b], starts[b] + int(counts[b])) for b in live])
                offsets = torch.cumsum(counts[live], 0) - counts[live]
                src = torch.cat([lists[b][1] + o for b, o in zip(live, offsets)]); dst = torch.cat([lists[b][2] + o for b, o in zip(live, offsets)])
                images = torch.cat([lists[b][3] for b in live])
                edge_cell = torch.repeat_interleave(torch.arange(len(live)), torch.tensor([len(lists[b][1]) for b in live]))
                atom_cell = torch.repeat_interleave(torch.arange(len(live)), counts[live])
                distances = edge_vectors(positions[atoms], lattices[live], src, dst, images, edge_cell).norm(dim=-1)
                keep, _ = cutoff_edges(distances, src, dst, len(atoms), self.settings)
                dtype = next(self.model.parameters()).dtype
                batch = GraphBatch(state.atomic_numbers[atoms], positions[atoms].to(dtype), lattices[live].to(dtype), src[keep],
                                   dst[keep], images[keep].to(dtype), atom_cell, edge_cell[keep])
                e, f, s = (t.detach().double() for t in energy_forces_stress(self.model, batch))
                energy[live], forces[atoms], stress[live] = e, f, s
            return {'energy': energy, 'forces': forces, 'stress': stress}

    return CGCNNModel()


def ase_criterion(fmax):
    "TorchSim convergence function with ASE's FrechetCellFilter test: every row of (f·F, cell forces) below fmax; NaN cells stop too."
    def converged(state, last_energy=None):
        rows = torch.bmm(state.forces.unsqueeze(1), state.deform_grad()[state.system_idx]).squeeze(1).norm(dim=1)
        largest = rows.new_zeros(state.n_systems).scatter_reduce(0, state.system_idx, rows, 'amax', include_self=False)
        largest = torch.maximum(largest, state.cell_forces.norm(dim=2).amax(1))
        return (largest < fmax) | ~torch.isfinite(largest)
    return converged


def torchsim_batched(structures, model, fmax, steps):
    "Per cell: energy per atom after, steps, converged, a b c α β γ; TorchSim's batched FIRE on Fréchet cell coordinates."
    import torch_sim as ts
    wrapped = torchsim_model(model)
    state = ts.io.structures_to_state(structures, wrapped.device, wrapped.dtype)
    batcher = ts.InFlightAutoBatcher(wrapped, memory_scales_with='n_atoms', max_memory_scaler=float(state.n_atoms) + 1,
                                     max_iterations=steps, return_indices=True)
    final = ts.optimize(state, wrapped, optimizer=ts.frechet_cell_fire, convergence_fn=ase_criterion(fmax), autobatcher=batcher,
                        max_steps=steps, steps_between_swaps=1)
    done = ase_criterion(fmax)(final)
    n_atoms = torch.bincount(final.system_idx)
    return [{'energy_after': float(final.energy[i] / n_atoms[i]), 'n_steps': int(batcher.swap_attempts[i]),
             'converged': bool(done[i]) and bool(torch.isfinite(final.energy[i])), 'cellpar': AseAtomsAdaptor.get_atoms(s).cell.cellpar().tolist()}
            for i, s in enumerate(final.to_structures())], wrapped.rebuilds


def agreement(results, reference):
    "Energy (meV/atom) and lattice (relative a b c, degrees α β γ) differences to the reference, over cells both converged."
    both = [(r, q) for r, q in zip(results, reference) if r['converged'] and q['converged']]
    de = [1000 * abs(r['energy_after'] - q['energy_after']) for r, q in both]
    dl = [max(abs(np.array(r['cellpar'][:3]) / np.array(q['cellpar'][:3]) - 1)) for r, q in both]
    da = [max(abs(np.array(r['cellpar'][3:]) - np.array(q['cellpar'][3:]))) for r, q in both]
    stat = lambda f, xs: float(f(xs)) if xs else float('nan')
    return {'n_compared': len(both), 'energy_mev_atom_median': stat(np.median, de), 'energy_mev_atom_max': stat(np.max, de),
            'lattice_rel_median': stat(np.median, dl), 'lattice_rel_max': stat(np.max, dl), 'angle_deg_max': stat(np.max, da)}


def summary(name, times, results, n):
    "Speed (the least disturbed of the repeats: the machine is shared), steps and convergence of one method."
    cpu, wall = min(t[0] for t in times), min(t[1] for t in times)
    steps = [r['n_steps'] for r in results]
    return {'method': name, 'cpu_s': cpu, 'wall_s': wall, 'cpu_s_repeats': [t[0] for t in times], 'wall_s_repeats': [t[1] for t in times],
            'cells_per_s_cpu': n / cpu, 'cells_per_s_wall': n / wall,
            'steps_mean': float(np.mean(steps)), 'steps_median': float(np.median(steps)), 'steps_max': int(np.max(steps)),
            'fraction_converged': float(np.mean([r['converged'] for r in results]))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=32); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=500); p.add_argument('--fmax', type=float, default=0.05)
    p.add_argument('--batch-size', type=int, default=32); p.add_argument('--no-torchsim', action='store_true')
    p.add_argument('--repeats', type=int, default=3, help='runs of each method, in rotating order; the fastest counts')
    args = p.parse_args()
    torch.set_num_threads(1)
    model = load_checkpoint(shipped_checkpoint('energy'))
    structures = [r.structure for r in generate_structures(n=args.n, seed=args.seed, min_atoms=48, max_atoms=48)]
    relax_batch(structures[:2], model, args.fmax, steps=3)  # warm-up of torch's kernels
    runs = {'ase_one_at_a_time': lambda: ase_one_at_a_time(structures, model, args.fmax, args.steps),
            'relax_batch': lambda: relax_batch(structures, model, args.fmax, args.steps, batch_size=args.batch_size)}
    if not args.no_torchsim: runs['torchsim'] = lambda: torchsim_batched(structures, model, args.fmax, args.steps)
    names, times, results = list(runs), {name: [] for name in runs}, {}
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            cpu, wall, results[name] = timed(runs[name])
            times[name].append((cpu, wall))
            print(f'{name}: {cpu:.1f} s CPU, {wall:.1f} s wall', flush=True)
    reference, ours = results['ase_one_at_a_time'], results['relax_batch']
    methods = [summary('ase_one_at_a_time', times['ase_one_at_a_time'], reference, args.n),
               {**summary('relax_batch', times['relax_batch'], ours, args.n), **agreement(
                   [{**r, 'cellpar': list(r['structure'].lattice.parameters) if r['structure'] else [np.nan] * 6} for r in ours], reference)}]
    if 'torchsim' in results:
        ts_results, rebuilds = results['torchsim']
        methods.append({**summary('torchsim', times['torchsim'], ts_results, args.n), **agreement(ts_results, reference),
                        'neighbour_list_builds': rebuilds})
    calc = NiRichCalculator(model)
    fresh = []
    for r in ours:
        if r['structure'] is None: continue
        atoms = AseAtomsAdaptor.get_atoms(r['structure']); atoms.calc = calc
        fresh.append(abs(atoms.get_potential_energy() / len(atoms) - r['energy_after']))
    base = methods[0]
    for m in methods[1:]: m['speedup_cpu'], m['speedup_wall'] = base['cpu_s'] / m['cpu_s'], base['wall_s'] / m['wall_s']
    result = {'n_cells': args.n, 'n_atoms': 48, 'seed': args.seed, 'fmax': args.fmax, 'steps': args.steps,
              'batch_size': args.batch_size, 'dtype': 'float32', 'threads': 1, 'skin': SKIN, 'repeats': args.repeats, 'methods': methods,
              'relax_batch_vs_fresh_graph_energy_max_ev_atom': float(max(fresh)),
              'failures': [r['error'] for r in ours if r['error']]}
    (ROOT / 'figures').mkdir(exist_ok=True)
    (ROOT / 'figures' / 'bench_relax.json').write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    for m in methods:
        extra = '' if m is base else (f"; {m['speedup_cpu']:.2f}x ASE's speed (CPU; wall {m['speedup_wall']:.2f}x), final energies within "
                                      f"{m['energy_mev_atom_max']:.3f} meV/atom and lattice within {100 * m['lattice_rel_max']:.3f} % of ASE")
        print(f"{m['method']}: {m['cells_per_s_cpu']:.3f} cells/s CPU ({m['cells_per_s_wall']:.3f} wall), {m['steps_mean']:.0f} steps "
              f"on average, {100 * m['fraction_converged']:.0f} % converged{extra}")


if __name__ == '__main__': main()
