"""Cost of 25 Monte Carlo dropout samples vs one deterministic pass, and of the same 25 samples drawn from an ensemble
of networks (⌈25/M⌉ from each of M members, one trunk pass per member), on the same 1,000 Ni-rich cells of ~50 atoms.

Graphs are built once beforehand, so the timings cover the model only. Uses the shipped formation-energy model when
there is one: its members if it is an ensemble, else M copies of its network (timing does not depend on the weights).
Writes figures/bench_mc_dropout.json.
Usage: python bench/mc_dropout.py [--n 1000] [--n-dropout 25] [--members 5]
"""
import argparse, copy, json, sys, tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import bench_folder, timed
from nirich_cgcnn.data import load_folder
from nirich_cgcnn.model import CGCNN, CheckpointError, Ensemble, load_checkpoint, shipped_checkpoint
from nirich_cgcnn.predict import predict_table

ROOT = Path(__file__).parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=1000)
    p.add_argument('--n-dropout', type=int, default=25)
    p.add_argument('--members', type=int, default=5, help='ensemble size timed beside the single network')
    p.add_argument('--repeats', type=int, default=3, help='timings per mode; the fastest counts')
    args = p.parse_args()
    try: model, source = load_checkpoint(shipped_checkpoint()), 'shipped formation_energy_per_atom'
    except CheckpointError: model, source = CGCNN().eval(), 'untrained default architecture'
    single = model.members[0] if isinstance(model, Ensemble) else model
    ensemble = model if isinstance(model, Ensemble) else Ensemble([copy.deepcopy(single) for _ in range(args.members)]).eval()
    folder, _ = bench_folder(Path(tempfile.mkdtemp()) / 'cells', args.n, min_atoms=40, max_atoms=60)
    dataset = load_folder(folder, settings=model.config.graph, cache_dir=False, labelled=False)
    def best(net, n_dropout): return min(timed(predict_table, net, dataset, n_dropout)[0] for _ in range(args.repeats))
    deterministic_s, mc_s, ensemble_s = best(single, 0), best(single, args.n_dropout), best(ensemble, args.n_dropout)
    result = {'n_structures': len(dataset), 'mean_atoms': float(np.mean([g.n_atoms for g in dataset.graphs])),
              'model': source, 'n_dropout': args.n_dropout, 'deterministic_s': deterministic_s, 'mc_dropout_s': mc_s,
              'ratio': mc_s / deterministic_s, 'structures_per_s_mc': len(dataset) / mc_s,
              'structures_per_s_deterministic': len(dataset) / deterministic_s,
              'n_members': len(ensemble.members), 'ensemble_mc_s': ensemble_s, 'ensemble_vs_single_mc': ensemble_s / mc_s,
              'structures_per_s_ensemble_mc': len(dataset) / ensemble_s}
    (ROOT / 'figures').mkdir(exist_ok=True)
    (ROOT / 'figures' / 'bench_mc_dropout.json').write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"{args.n_dropout} dropout samples cost {result['ratio']:.2f}x one deterministic pass (target <= 3); "
          f"{result['structures_per_s_mc']:.0f} structures/s with uncertainty (target >= 200); the {result['n_members']}-network "
          f"ensemble costs {result['ensemble_vs_single_mc']:.2f}x one network: {result['structures_per_s_ensemble_mc']:.0f} structures/s (target >= 100)")


if __name__ == '__main__': main()
