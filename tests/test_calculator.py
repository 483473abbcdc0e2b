"""The potential's CLIs end to end on a small untrained potential, and its error for untrained elements."""
import subprocess, sys

import pandas as pd
import pytest
import torch
from ase.build import bulk
from ase.io import read

from nirich_cgcnn.calculator import NiRichCalculator, potential_config
from nirich_cgcnn.graph import MAX_Z, GraphError
from nirich_cgcnn.model import CGCNN, save_checkpoint


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    "An untrained small potential for Ni and O with element references near NiO's energies."
    folder = tmp_path_factory.mktemp('toy')
    torch.manual_seed(0)
    reference = [0.0] * (MAX_Z + 1); reference[28], reference[8] = -5.0, -4.5
    model = CGCNN(potential_config(n_conv=2, atom_fea_len=16, h_fea_len=16),
                  meta={'property': 'energy', 'unit': 'eV', 'atom_ref': reference, 'elements': [8, 28], 'target_std': 0.05})
    save_checkpoint(model.eval(), folder / 'toy.pt')
    atoms = bulk('NiO', 'rocksalt', a=4.17) * (2, 1, 1)
    atoms.rattle(0.03, seed=0)
    atoms.write(folder / 'nio.cif')
    return folder


def run(*args):
    return subprocess.run([sys.executable, '-c', 'import sys; from nirich_cgcnn import calculator as c; getattr(c, sys.argv[1])(sys.argv[2:])', *args],
                          capture_output=True, text=True)


def test_relax_cli_writes_relaxed_cell(toy):
    out = toy / 'relaxed.cif'
    result = run('relax_main', str(toy / 'nio.cif'), '--checkpoint', str(toy / 'toy.pt'), '--steps', '20', '--fmax', '1e-5', '--out', str(out))
    assert result.returncode == 0, result.stderr
    relaxed, start = read(out), read(toy / 'nio.cif')
    assert len(relaxed) == len(start) and 'after' in result.stdout
    assert (abs(relaxed.positions - start.positions) > 1e-6).any()


def test_md_cli_logs_energies(toy):
    log = toy / 'md.csv'
    result = run('md_main', str(toy / 'nio.cif'), '--checkpoint', str(toy / 'toy.pt'), '--steps', '20', '--ensemble', 'nve',
                 '--traj', str(toy / 'md.traj'), '--log', str(log))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(log)
    assert len(table) == 3 and (table['temperature'] > 0).all()  # rows at steps 0, 10, 20
    assert len(read(toy / 'md.traj', index=':')) == 3


def test_untrained_element_is_a_clear_error(toy):
    atoms = bulk('Cu', 'fcc', a=3.6)
    atoms.calc = NiRichCalculator(str(toy / 'toy.pt'))
    with pytest.raises(GraphError, match='not trained on Cu'):
        atoms.get_potential_energy()
    atoms.write(toy / 'cu.cif')
    result = run('relax_main', str(toy / 'cu.cif'), '--checkpoint', str(toy / 'toy.pt'))
    assert result.returncode != 0 and 'nirich-relax: error: the potential was not trained on Cu' in result.stderr
    assert 'Traceback' not in result.stderr
