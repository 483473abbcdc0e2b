"""Where the `near_relaxed` flag of prediction tables sits (`predict.RELAXED_MAX_FORCE`), measured.

The largest force on any atom by the project's potential (`forces.max_forces`, the shipped `energy` checkpoint) on
(a) CHGNet-relaxed cells: a random sample of the shipped formation-energy model's training split, and (b) unrelaxed
generated candidates (`generate_structures`, as `nirich-screen` receives them). Prints the percentiles of both, the
share of each above the threshold, and the ratio of the unrelaxed to the relaxed median; writes
figures/bench_relax_check.json.
Usage: python bench/relax_check.py [--n-relaxed 300] [--n-unrelaxed 200] [--seed 0]
"""
import os
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[_var] = '1'
import argparse, json
from pathlib import Path

import numpy as np
import torch

from nirich_cgcnn.data import read_cif
from nirich_cgcnn.forces import max_forces
from nirich_cgcnn.graph import structure_graph
from nirich_cgcnn.model import load_checkpoint, shipped_checkpoint
from nirich_cgcnn.predict import RELAXED_MAX_FORCE, shipped_potential
from nirich_cgcnn.structures import generate_structures

ROOT = Path(__file__).parents[1]
PERCENTILES = (5, 50, 95, 99)


def forces_of(structures):
    "Largest force (eV/Å) on each structure by the shipped potential."
    potential = shipped_potential()
    return max_forces(potential, [structure_graph(s, potential.config.graph) for s in structures])


def summary(forces):
    return {**{f'p{q}': float(np.percentile(forces, q)) for q in PERCENTILES}, 'n': len(forces),
            'share_above_threshold': float((forces > RELAXED_MAX_FORCE).mean())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-relaxed', type=int, default=300); ap.add_argument('--n-unrelaxed', type=int, default=200)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    train_ids = load_checkpoint(shipped_checkpoint('formation_energy_per_atom')).meta['split']['train']
    chosen = np.random.default_rng(a.seed).choice(train_ids, a.n_relaxed, replace=False)
    relaxed = forces_of([read_cif(ROOT / 'data' / 'nirich' / 'cgcnn' / f'{i}.cif') for i in chosen])
    unrelaxed = forces_of([r.structure for r in generate_structures(n=a.n_unrelaxed, seed=a.seed + 1)])
    result = {'threshold_eV_per_A': RELAXED_MAX_FORCE, 'settings': vars(a), 'relaxed': summary(relaxed), 'unrelaxed': summary(unrelaxed),
              'median_ratio_unrelaxed_over_relaxed': float(np.median(unrelaxed) / np.median(relaxed))}
    print(json.dumps(result, indent=1))
    (ROOT / 'figures' / 'bench_relax_check.json').write_text(json.dumps(result, indent=1))


if __name__ == '__main__': main()
