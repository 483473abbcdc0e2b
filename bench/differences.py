"""Per-defect energies of candidate formation-energy models on held-out host groups (issue 27), in one table.

Pairs: every defect cell of the shipped formation-energy model's test groups (never trained on) with its group's
pristine host, ΔE = N_d e_d − N_h e_h (eV per defect at Δμ = 0) against the CHGNet labels of the same relaxed cells.
Candidates: the shipped 5-network ensemble (per-atom mean), its first network alone, the same networks fine-tuned
on the pairs of their own training split (`differences.difference_model`), the same networks fine-tuned instead on
the extensive target N·e of those pairs' cells (`term='total'`, a sum readout) — fine-tuned networks are kept in
figures/difference_runs/, so a rerun only evaluates — and the project's ML potential (`models/energy.pt`): its
energies after relaxing each cell with itself (`relax.relax_batch`), on the pairs of groups it was not trained on. Per class: MAE and within-class Spearman ρ; targets MAE ≤ 0.05 eV (single vacancies,
antisites, dopants) and ρ ≥ 0.8. Prints the table and the ratio of each candidate's MAE to the shipped ensemble's,
writes figures/bench_differences.json.
With --ship PATH the fine-tuned ensemble is also written there (`make shipped-defect_energy`: the default model of
`defects.defect_energies`).
Usage: python bench/differences.py [--epochs 10] [--members 5] [--ship nirich_cgcnn/models/defect_energy.pt]
"""
import os
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[_var] = '1'
import argparse, json, time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure

from nirich_cgcnn.data import load_folder, read_id_prop
from nirich_cgcnn.differences import difference_model, pair_differences, pair_frame, pair_table, per_class_errors, split_pairs
from nirich_cgcnn.model import Ensemble, load_checkpoint, save_checkpoint, shipped_checkpoint
from nirich_cgcnn.relax import relax_batch

ROOT = Path(__file__).parents[1]
TARGET_CLASSES = ('Li-vacancy', 'O-vacancy', 'TM-vacancy', 'antisite', 'dopant')


def tuned(model, dataset, classes, path:Path, epochs:int, term:str):
    "The copy of `model` fine-tuned on `term` ('pair' or 'total'), trained once and kept at `path`."
    if path.is_file(): return load_checkpoint(path)
    result = difference_model(model, dataset, classes, epochs=epochs, term=term)
    path.parent.mkdir(parents=True, exist_ok=True); save_checkpoint(result, path)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--epochs', type=int, default=10); ap.add_argument('--members', type=int, default=5)
    ap.add_argument('--ship', default=None, help='also write the fine-tuned ensemble here')
    a = ap.parse_args()
    torch.set_num_threads(1)
    shipped = load_checkpoint(shipped_checkpoint('formation_energy_per_atom'))
    first = shipped.members[0]; first.meta = dict(shipped.meta)
    dataset = load_folder(ROOT / 'data/nirich/cgcnn', 'formation_energy_per_atom', settings=shipped.config.graph)
    classes = read_id_prop(ROOT / 'data/nirich/cgcnn').set_index('id').loc[dataset.ids, 'defect_class'].tolist()
    test = split_pairs(shipped, dataset, classes, 'test')
    runs = ROOT / 'figures' / 'difference_runs'
    start = time.time()
    members, totals = ([tuned(_single(m, shipped), dataset, classes, runs / f'{prefix}member{k}.pt', a.epochs, term)
                        for k, m in enumerate(shipped.members[:a.members])] for prefix, term in (('', 'pair'), ('total_', 'total')))
    candidates = {'per-atom ensemble (shipped)': shipped, 'per-atom, one network': first,
                  'pair fine-tuned, one network': members[0], 'total-energy fine-tuned, one network': totals[0]}
    if len(members) > 1:
        candidates[f'pair fine-tuned ensemble ({len(members)})'] = Ensemble(members)
        candidates[f'total-energy fine-tuned ensemble ({len(totals)})'] = Ensemble(totals)
    if a.ship:
        shipped_tuned = Ensemble(members); shipped_tuned.meta['differences'] = [m.meta.get('differences') for m in members]
        save_checkpoint(shipped_tuned, a.ship); print('wrote', a.ship)
    tables = {name: per_class_errors(pair_table(model, dataset, test, classes)) for name, model in candidates.items()}
    tables['ML potential, relaxed with itself'] = per_class_errors(potential_table(dataset, test, classes))
    reference = tables['per-atom ensemble (shipped)']
    rows = pd.concat({name: t.assign(mae_ratio=t.mae / reference.mae) for name, t in tables.items()}, names=['model', 'defect_class'])
    print(rows.round(4).to_string())
    for name, t in tables.items():
        met = t.loc[[c for c in TARGET_CLASSES if c in t.index]]
        print(f"{name}: classes with MAE ≤ 0.05 eV: {int((met.mae <= 0.05).sum())}/{len(met)}, ρ ≥ 0.8: {int((met.spearman >= 0.8).sum())}/{len(met)}")
    out = ROOT / 'figures' / 'bench_differences.json'
    out.write_text(json.dumps({'settings': vars(a), 'n_test_pairs': len(test), 'seconds': time.time() - start,
                               'fine_tuning': [m.meta.get('differences') for m in members],
                               'per_class': {name: t.to_dict('index') for name, t in tables.items()}}, indent=1, default=float))
    print('wrote', out)


def potential_table(dataset, pairs, classes):
    "`pair_table` of the shipped potential's relaxed energies, on the pairs of groups outside its training split."
    model = load_checkpoint(shipped_checkpoint('energy'))
    trained_on = set(model.meta['split_groups'][0])
    pairs = pairs[[dataset.groups[h] not in trained_on for h in pairs[:, 0]]]
    cells = np.unique(pairs)
    relaxed = relax_batch([Structure.from_file(ROOT / 'data/nirich/cgcnn' / f'{dataset.ids[i]}.cif') for i in cells], model)
    error = np.full(len(dataset.ids), np.nan)  # eV/atom against CHGNet's energy of the same cell; the μ terms cancel in ΔE
    error[cells] = [r['energy_after'] for r in relaxed]
    error -= pd.read_csv(ROOT / 'data/nirich/labels.csv', index_col='id').loc[dataset.ids, 'energy_per_atom'].to_numpy()
    n_atoms, labels = np.array([g.n_atoms for g in dataset.graphs]), dataset.targets.double().numpy()
    return pair_frame(dataset, pairs, pair_differences(labels, n_atoms, pairs) + pair_differences(error, n_atoms, pairs), classes)


def _single(member, shipped):
    "One network of the ensemble with the ensemble's metadata (split, normalisation)."
    member.meta = dict(shipped.meta)
    return member


if __name__ == '__main__': main()
