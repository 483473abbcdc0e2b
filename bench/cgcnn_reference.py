"""Our shipped models vs the original CGCNN architecture (cgcnn2 0.6.0, default hyper-parameters) on the same splits.

For each regression property, cgcnn2's `CrystalGraphConvNet` (no dropout; atom_fea_len 64, 3 convolutions,
h_fea_len 128, Adam lr 0.01, batch 256, 1000 epochs, best validation epoch kept: its CLI defaults) is trained by
cgcnn2's own training script on exactly the train/val/test ids saved in our shipped checkpoint, and both are scored
on the same test ids. Prints MAE(ours) / MAE(cgcnn2) per property and writes figures/bench_cgcnn_reference.json.
With --cv, cgcnn2 also runs the group 5-fold cross-validation over train + val that `nbs/study/00_train` ran for our
model (same folds, `group_folds`; ours from figures/metrics/<property>_cv.csv): the steadier comparison for the small
DFT sets, whose test splits hold a handful of cells.
Needs `pip install -r requirements-bench.txt`.
Usage: python bench/cgcnn_reference.py [--properties formation_energy_per_atom ...] [--epochs 1000] [--seeds 0 1 2] [--cv]
"""
import argparse, json, subprocess, sys, tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import cgcnn2
from nirich_cgcnn.data import load_folder, read_id_prop
from nirich_cgcnn.model import CheckpointError, load_checkpoint, shipped_checkpoint
from nirich_cgcnn.uncertainty import evaluate, group_folds

ROOT = Path(__file__).parents[1]
FOLDERS = {'band_gap': 'dft', 'fermi_level': 'dft'}  # everything else is in data/nirich/cgcnn


def split_folder(source, ids, labels, folder):
    "A cgcnn2 folder: header-less id_prop.csv, links to the CIFs, cgcnn2's atom_init.json."
    folder.mkdir(parents=True)
    (folder / 'id_prop.csv').write_text(''.join(f'{i},{labels[i]!r}\n' for i in ids))
    (folder / 'atom_init.json').symlink_to(Path(cgcnn2.__file__).parent / 'asset' / 'atom_init.json')
    for i in ids: (folder / f'{i}.cif').symlink_to((source / f'{i}.cif').resolve())


def cgcnn2_errors(source, split, labels, epochs, seed):
    "Train cgcnn2 with its CLI on the split, in a scratch folder; |error| on each test id."
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for name in ('train', 'val', 'test'): split_folder(source, split[name], labels, work / name)
        cmd = [sys.executable, '-m', 'cgcnn2.cli.cgcnn_tr', '-trs', 'train', '-vs', 'val', '-ts', 'test',
               '--epoch', str(epochs), '--random-seed', str(seed), '--job-id', 'ref', '--disable-cuda']
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)
        results = pd.read_csv(work / 'output_ref' / 'test_results.csv')
    return (results['true'] - results['pred']).abs().to_numpy()


def cross_validation(property, data, split, source, labels, epochs):
    "Out-of-fold MAE of ours (from 00_train's table) and of cgcnn2 on the same group folds over train + val."
    ours = pd.read_csv(ROOT / 'figures' / 'metrics' / f'{property}_cv.csv')
    indices = [data.ids.index(i) for i in split['train'] + split['val']]
    ids = np.array(data.ids)
    errors = np.concatenate([cgcnn2_errors(source, dict(train=ids[fit], val=ids[stop], test=ids[held]), labels, epochs, 0)
                             for fit, stop, held in group_folds(data.groups, indices)])
    mae_ours, mae_ref = float((ours['target'] - ours['mu']).abs().mean()), float(errors.mean())
    return dict(n_cv=len(errors), cv_mae_ours=mae_ours, cv_mae_cgcnn2=mae_ref, cv_ratio=mae_ours / mae_ref)


def compare(property, epochs, seeds, cv=False):
    "MAE of our shipped model and of cgcnn2 (mean ± std over seeds) on the checkpoint's test split (and in CV)."
    model = load_checkpoint(shipped_checkpoint(property))
    split = model.meta['split']
    source = ROOT / 'data' / 'nirich' / FOLDERS.get(property, 'cgcnn')
    table = read_id_prop(source).set_index('id')
    labels = pd.to_numeric(table[property], errors='coerce').to_dict()
    data = load_folder(source, property, skip_unlabelled=True)
    ours, _ = evaluate(model, data.subset([data.ids.index(i) for i in split['test']]))
    ref = [float(cgcnn2_errors(source, split, labels, epochs, seed).mean()) for seed in seeds]
    row = dict(property=property, unit=model.meta['unit'], n_train=len(split['train']), n_test=len(split['test']),
               mae_ours=ours['mae'], mae_cgcnn2=float(np.mean(ref)), mae_cgcnn2_std=float(np.std(ref)),
               mae_cgcnn2_seeds=ref, ratio=ours['mae'] / float(np.mean(ref)), epochs=epochs)
    return row | (cross_validation(property, data, split, source, labels, epochs) if cv else {})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--properties', nargs='+', default=['formation_energy_per_atom', 'log10_bulk_modulus',
                                                        'log10_shear_modulus', 'band_gap', 'fermi_level'])
    ap.add_argument('--epochs', type=int, default=1000)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--cv', action='store_true', help="also compare out-of-fold MAE on 00_train's group folds")
    ap.add_argument('--out', default=str(ROOT / 'figures' / 'bench_cgcnn_reference.json'))
    a = ap.parse_args()
    out = Path(a.out)
    earlier = json.loads(out.read_text()) if out.exists() else []
    rows = [r for r in earlier if r['property'] not in a.properties]  # properties not rerun keep their last result
    for p in a.properties:
        try: row = compare(p, a.epochs, a.seeds, a.cv)
        except CheckpointError as e: print(f'{p}: skipped ({e})'); continue
        rows.append(row)
        print(f"{p}: MAE ours {row['mae_ours']:.4g} vs cgcnn2 {row['mae_cgcnn2']:.4g} ± {row['mae_cgcnn2_std']:.2g} "
              f"{row['unit']} (n_test {row['n_test']}): ratio ours/cgcnn2 = {row['ratio']:.2f}"
              + (f"; CV (n {row['n_cv']}) {row['cv_mae_ours']:.4g} vs {row['cv_mae_cgcnn2']:.4g}: ratio {row['cv_ratio']:.2f}" if 'cv_ratio' in row else ''),
              flush=True)
        out.write_text(json.dumps(rows, indent=1))


if __name__ == '__main__': main()
