"""Does pre-relaxing with the project's potential save the CHGNet oracle's time? In one run, on the same configurations
of a fixed-composition pool (data/pools/<pool>/candidates, as built):
(a) the oracle's relaxation (`oracle.relax`: CHGNet 0.3.0, FIRE + cell, fmax 0.05 eV/Å) from the cell as built;
(b) the potential's batched relaxation (`relax.relax_batch`, same FIRE and threshold), then the same oracle relaxation
    from its result (what `data/pools/prerelax.py` + `nirich-data label` do).
Reports per cell the oracle's seconds and steps for (a) and (b) and the final-energy difference (meV per cell), and the
ratios (a)/(b) of oracle seconds and of total seconds (the pre-relaxation included). One thread; the machine is shared,
so the ratio, measured in one run, is the number to read. Writes figures/bench_prerelax.json.
Usage: python bench/prerelax.py [--pool NCM811_2Al_2vLi] [--n 6] [--seed 0]
"""
import os
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[_var] = '1'  # before numpy: one thread
import argparse, json, sys
from pathlib import Path

import numpy as np
import torch

from nirich_cgcnn.oracle import oracle_calculator, relax
from nirich_cgcnn.relax import relax_batch
from nirich_cgcnn.structures import read_structures

sys.path.insert(0, str(Path(__file__).parent))
from common import timed

ROOT = Path(__file__).parents[1]


def oracle_run(structure):
    "Seconds, steps and final energy (eV per cell) of one oracle relaxation."
    seconds, r = timed(relax, structure, fmax=0.05, steps=200, n_frames=2)
    return dict(seconds=seconds, steps=r['n_steps'], energy=r['energy'], converged=r['converged'])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--pool', default='NCM811_2Al_2vLi'); p.add_argument('--n', type=int, default=6); p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    records = read_structures(ROOT / 'data' / 'pools' / a.pool / 'candidates')
    chosen = [records[i] for i in np.random.default_rng(a.seed).choice(len(records), a.n, replace=False)]
    oracle_calculator()  # load CHGNet before timing
    prerelax_s, pre = timed(relax_batch, [r.structure for r in chosen], fmax=0.05, steps=300)
    rows = []
    for r, p_rec in zip(chosen, pre):
        built, after = oracle_run(r.structure), oracle_run(p_rec['structure'])
        rows.append(dict(id=r.id, built=built, prerelaxed=after, delta_energy_meV_per_cell=1000 * (after['energy'] - built['energy'])))
        print(f"{r.id}: oracle {built['seconds']:.1f} s / {built['steps']} steps as built, {after['seconds']:.1f} s / {after['steps']} "
              f"steps pre-relaxed; ΔE {rows[-1]['delta_energy_meV_per_cell']:+.1f} meV/cell", flush=True)
    oracle_built = sum(x['built']['seconds'] for x in rows)
    oracle_pre = sum(x['prerelaxed']['seconds'] for x in rows)
    summary = dict(pool=a.pool, n=a.n, seed=a.seed, prerelax_seconds=prerelax_s,
                   oracle_seconds_ratio=oracle_built / oracle_pre, total_seconds_ratio=oracle_built / (oracle_pre + prerelax_s),
                   steps_built=float(np.mean([x['built']['steps'] for x in rows])),
                   steps_prerelaxed=float(np.mean([x['prerelaxed']['steps'] for x in rows])),
                   median_abs_delta_energy_meV_per_cell=float(np.median([abs(x['delta_energy_meV_per_cell']) for x in rows])),
                   max_abs_delta_energy_meV_per_cell=float(max(abs(x['delta_energy_meV_per_cell']) for x in rows)), cells=rows)
    print(f"oracle time, as built / pre-relaxed: {summary['oracle_seconds_ratio']:.2f}x "
          f"(with the pre-relaxation counted: {summary['total_seconds_ratio']:.2f}x); steps {summary['steps_built']:.0f} vs "
          f"{summary['steps_prerelaxed']:.0f}; |ΔE| median {summary['median_abs_delta_energy_meV_per_cell']:.1f}, "
          f"max {summary['max_abs_delta_energy_meV_per_cell']:.1f} meV/cell")
    out = ROOT / 'figures' / 'bench_prerelax.json'
    out.write_text(json.dumps(summary, indent=1))
    print('wrote', out)


if __name__ == '__main__':
    main()
