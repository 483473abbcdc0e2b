"""The CGCNN potential vs CHGNet (the oracle it learns from), in one run.

On held-out frames (the test groups of the checkpoint's split): energy and force MAE against the oracle's labels
(with the MAE of predicting zero force, for scale). On a 108-atom NCM811 cell: time per energy+forces call of both
calculators, and lattice parameters after a cell relaxation with each. Writes figures/bench_potential.json.
Usage: python bench/potential.py [--checkpoint nirich_cgcnn/models/energy.pt] [--repeats 5]
"""
import argparse, json, time
from pathlib import Path

import numpy as np
import torch

from nirich_cgcnn.calculator import NiRichCalculator, dataset_frames, energy_drift, relax, run_md
from nirich_cgcnn.forces import energy_forces_stress
from nirich_cgcnn.data import collate
from nirich_cgcnn.model import load_checkpoint, shipped_checkpoint
from nirich_cgcnn.oracle import oracle_calculator, to_atoms
from nirich_cgcnn.structures import generate_structures

ROOT = Path(__file__).parents[1]


def held_out_errors(model, frames):
    "Energy (eV/atom) and force (eV/Å) MAE of the model on frames, and the force MAE of predicting zero."
    e_err, f_err, f_zero = [], [], []
    for idx in torch.arange(len(frames)).split(32):
        batch = collate([frames.graphs[i] for i in idx])
        energy, forces, _ = energy_forces_stress(model, batch)
        n_atoms = torch.bincount(batch.atom_crystal)
        labels = torch.cat([frames.forces[i] for i in idx])
        e_err += ((energy.detach() - frames.energy[idx]) / n_atoms).abs().tolist()
        f_err += (forces.detach() - labels).abs().flatten().tolist()
        f_zero += labels.abs().flatten().tolist()
    return float(np.mean(e_err)), float(np.mean(f_err)), float(np.mean(f_zero))


def seconds_per_call(calc, atoms, repeats):
    "Best time of one energy+forces evaluation (fresh positions each time, so nothing is cached)."
    times = []
    for i in range(repeats + 1):
        trial = atoms.copy(); trial.rattle(1e-3, seed=i); trial.calc = calc
        start = time.perf_counter(); trial.get_forces(); times.append(time.perf_counter() - start)
    return min(times[1:])


def relaxed_lattice(calc, atoms):
    "a, b, c (Å) after relaxing positions and cell."
    atoms = atoms.copy(); atoms.calc = calc
    converged, steps = relax(atoms, fmax=0.05, steps=300)
    return {'abc': atoms.cell.cellpar()[:3].round(4).tolist(), 'converged': converged, 'steps': steps}


def nve_drift(path, atoms, steps):
    "Drift of the total energy (meV/atom/ps) in NVE MD at 300 K with our potential (float64), from the given cell."
    atoms = atoms.copy(); atoms.calc = NiRichCalculator(path, dtype=torch.float64)
    log = run_md(atoms, temperature=300, steps=steps, timestep=1.0, ensemble='nve', interval=10)
    return {'steps': steps, 'timestep_fs': 1.0, 'drift_meV_atom_ps': energy_drift(log), 'final_temperature_K': log[-1]['temperature']}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--md-steps', type=int, default=1000, help='NVE steps of 1 fs for the energy drift')
    args = p.parse_args()
    path = args.checkpoint or shipped_checkpoint('energy')
    model = load_checkpoint(path)
    frames = dataset_frames(ROOT / 'data' / 'nirich')
    test_groups = set(model.meta['split_groups'][2])
    test = frames.subset([i for i, g in enumerate(frames.groups) if str(g) in test_groups])
    energy_mae, force_mae, zero_force_mae = held_out_errors(model, test)
    cell = next(r for r in generate_structures(families=['NCM811'], n=60, seed=0, min_atoms=100, classes=['pristine'])
                if r.n_atoms == 108)
    atoms = to_atoms(cell.structure)
    ours, chgnet = NiRichCalculator(path), oracle_calculator()
    t_ours, t_chgnet = seconds_per_call(ours, atoms, args.repeats), seconds_per_call(chgnet, atoms, args.repeats)
    result = {'checkpoint': str(path), 'n_test_frames': len(test), 'energy_mae': energy_mae, 'force_mae': force_mae,
              'zero_force_mae': zero_force_mae, 'cell': cell.id, 'n_atoms': len(atoms),
              'seconds_per_call_ours': t_ours, 'seconds_per_call_chgnet': t_chgnet, 'speedup_vs_chgnet': t_chgnet / t_ours,
              'relaxed_ours': relaxed_lattice(ours, atoms), 'relaxed_chgnet': relaxed_lattice(chgnet, atoms),
              'nve': nve_drift(path, atoms, args.md_steps)}
    (ROOT / 'figures').mkdir(exist_ok=True)
    (ROOT / 'figures' / 'bench_potential.json').write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"force MAE {force_mae:.3f} eV/Å (predicting zero: {zero_force_mae:.3f}; target <= 0.035), "
          f"energy MAE {1000 * energy_mae:.1f} meV/atom (target <= 10) on {len(test)} held-out frames; "
          f"{result['speedup_vs_chgnet']:.1f}x faster than CHGNet per call (target >= 5x); "
          f"NVE drift {result['nve']['drift_meV_atom_ps']:.3f} meV/atom/ps (target < 1)")


if __name__ == '__main__': main()
