"""nirich-explain end to end: per-atom values in an extended XYZ file that ASE reads back, and a figure."""
import subprocess, sys
from pathlib import Path

import numpy as np
from ase.io import read

from nirich_cgcnn.data import load_folder, read_cif
from nirich_cgcnn.explain import explain
from nirich_cgcnn.model import ModelConfig
from nirich_cgcnn.predict import predict
from nirich_cgcnn.train import train


def test_explain_cli_writes_colourable_extxyz(tiny, tmp_path):
    model = train(load_folder(tiny, 'volume_per_atom'), ModelConfig(dropout=0.1), seed=0, epochs=3, progress=False, out=tmp_path / 'm.pt')
    cif = sorted(Path(tiny).glob('*.cif'))[0]
    result = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.explain', str(tmp_path / 'm.pt'), str(cif), '--method', 'integrated_gradients',
                             '--out', str(tmp_path / 'e.extxyz'), '--figure', str(tmp_path / 'e.png')], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    atoms = read(tmp_path / 'e.extxyz')
    values = atoms.arrays['contribution']
    assert len(values) == len(atoms) and np.isfinite(values).all() and np.abs(values).max() > 0
    assert (tmp_path / 'e.png').stat().st_size > 10_000
    exact = explain(model, cif)
    mu, _ = predict(model, [read_cif(cif)], n_dropout=0)['0']
    assert abs(exact.atoms['contribution'].sum() + exact.baseline - mu) < 1e-4



def test_faithfulness_finds_the_only_informative_atom():
    "Without convolutions each atom's output depends on itself only, and only Al has non-zero features: every method ranks Al first, deleting it changes the output and deleting random atoms (outputs equal to the mean) does not."
    import torch
    from pymatgen.core import Lattice, Structure
    from nirich_cgcnn.explain import METHODS, faithfulness
    from nirich_cgcnn.model import CGCNN
    torch.manual_seed(0)
    model = CGCNN(ModelConfig(n_conv=0), meta={'target_mean': 0.0, 'target_std': 1.0}).eval()
    aluminium = model.atom_table[13].clone()
    model.atom_table.zero_(); model.atom_table[13] = aluminium
    host = Structure.from_spacegroup('R-3m', Lattice.hexagonal(2.878, 14.19), ['Li', 'Ni', 'O'], [[0, 0, 0.5], [0, 0, 0], [0, 0, 0.2583]]) * (2, 2, 1)
    cells = []
    for site in [i for i, s in enumerate(host) if s.specie.symbol == 'Ni'][:4]:
        cell = host.copy(); cell.replace(site, 'Al'); cells.append(cell)
    result = faithfulness(model, cells, fraction=1 / 48)
    for method in METHODS:
        r = result['methods'][method]
        assert r['mean_change_top'] > 1e-4, (method, r)
        assert r['top_vs_random'] > 2, (method, r)
