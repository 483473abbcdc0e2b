"""Each bad input in tests/bad_inputs gives one clear error naming the file and the problem, and writes nothing;
the odd-but-valid inputs there load correctly."""
import contextlib, io, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nirich_cgcnn.data import DataError, load_folder
from nirich_cgcnn.model import CheckpointError, load_checkpoint
from nirich_cgcnn.predict import main as predict_main
from nirich_cgcnn.calibrate import main as train_main

CORPUS = Path(__file__).parent / 'bad_inputs'
EXPECTED = {  # folder: (file named in the message, words naming the problem)
    'malformed_cif': ('a.cif', 'not a readable CIF'),
    'empty_cif': ('a.cif', 'CIF file is empty'),
    'missing_id_prop': ('missing_id_prop', 'no id_prop.csv'),
    'missing_cif': ('id_prop.csv', "without a CIF file, e.g. ['b']"),
    'duplicate_ids': ('id_prop.csv', "duplicate id(s) ['a']"),
    'non_numeric_label': ('id_prop.csv', "label 'stable' of id a"),
    'nan_label': ('id_prop.csv', "label 'nan' of id a"),
    'unknown_element': ('a.cif', 'element Am (Z=95) has no atom features'),
    'isolated_atom': ('a.cif', 'atom 0 (Li) has no neighbour within 8.0 Å'),
    'zero_volume': ('a.cif', 'cell volume is'),
    'ragged_row': ('id_prop.csv', 'line 2 has 3 fields, expected 2'),
    'overlapping_atoms': ('a.cif', 'atoms 0 (Ni) and 1 (Ni) are 0.08 Å apart'),
    'truncated_cif': ('a.cif', "the 4 atoms read (Li4) do not match the file's chemical formula (Li8 Ni8 O16): truncated or edited file?"),
    'truncated_row': ('a.cif', "a loop's values do not fill its rows"),
    'partial_occupancy': ('a.cif', 'structure has partial occupancies'),
    'nan_coordinate': ('a.cif', "_atom_site_fract_x of site Li0 is 'nan', not a finite number"),
    'huge_cell': ('a.cif', 'atom 0 (Li) has no neighbour within 8.0 Å (3 isolated atom(s))'),
    'binary_garbage': ('a.cif', 'binary data (a NUL byte at byte'),
    'symlink_loop': ('a.cif', 'is a symbolic link loop (it points to b.cif, which leads back to it)'),
    'broken_symlink': ('a.cif', 'is a broken symbolic link (to ../nowhere/a.cif, which does not exist)'),
    'latin1_id_prop': ('id_prop.csv', 'not UTF-8 text (byte 7 is 0xe9)'),
    'bad_atom_init': ('atom_init.json', 'not a CGCNN atom_init.json (JSONDecodeError'),
    'newer_checkpoint': ('model.pt', 'checkpoint format nirich-cgcnn-checkpoint/2, written by nirich-cgcnn 9.0.0; '
                                     'this nirich-cgcnn 0.1.0 reads nirich-cgcnn-checkpoint/1 only: upgrade nirich-cgcnn'),
}
LOADERS = {'newer_checkpoint': (lambda case: load_checkpoint(case / 'model.pt'), CheckpointError)}  # default: load_folder, DataError
VALID = {  # folder: (ids, labels) it must load as
    'bom_id_prop': (['a', 'b'], [-1.2, -1.5]),
    'crlf_id_prop': (['a', 'b'], [-1.2, -1.5]),
    'single_structure': (['a'], [-1.2]),
}
IN_A_CIF = sorted(case for case, (file, _) in EXPECTED.items() if file == 'a.cif')  # the problems nirich-predict meets too


def test_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(EXPECTED | VALID)
    assert len(EXPECTED) + len(VALID) >= 20
    table = (CORPUS / 'README.md').read_text()
    assert all(f'| {case} |' in table for case in EXPECTED | VALID)


@pytest.mark.parametrize('case', sorted(EXPECTED))
def test_bad_input_gives_one_clear_error(case, isolated_cache):
    file, problem = EXPECTED[case]
    load, error_type = LOADERS.get(case, (load_folder, DataError))
    with pytest.raises(error_type) as error:
        load(CORPUS / case)
    message = str(error.value)
    assert file in message and problem in message, message
    assert '\n' not in message and 'Traceback' not in message
    assert not isolated_cache.exists() or not any(isolated_cache.rglob('*.pkl'))


@pytest.mark.parametrize('case', sorted(VALID))
def test_odd_but_valid_input_loads(case):
    ids, labels = VALID[case]
    dataset = load_folder(CORPUS / case, cache_dir=False)
    assert dataset.ids == ids
    np.testing.assert_allclose(dataset.targets.numpy(), labels, rtol=0, atol=1e-6)
    assert all(g.n_atoms > 0 and len(g.src) == 12 * g.n_atoms for g in dataset.graphs)


def test_crlf_and_bom_read_as_the_plain_files(tmp_path):
    "The CRLF CIFs give the same graphs as the LF originals; the BOM is not part of the first id."
    crlf, bom = (load_folder(CORPUS / case, cache_dir=False) for case in ('crlf_id_prop', 'bom_id_prop'))
    for a, b in zip(crlf.graphs, bom.graphs):
        assert torch.equal(a.src, b.src) and torch.allclose(a.positions, b.positions)


def _predict(folder, out):
    "nirich-predict in-process: (exit message or None, stdout)."
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout): predict_main(['formation_energy_per_atom', str(folder), '--n-dropout', '2', '--out', str(out)])
    except SystemExit as e: return str(e.code), stdout.getvalue()
    return None, stdout.getvalue()


@pytest.mark.parametrize('case', IN_A_CIF)
def test_predict_cli_stops_on_a_bad_cif_and_writes_nothing(case, tmp_path):
    file, problem = EXPECTED[case]
    message, _ = _predict(CORPUS / case, tmp_path / 'p.csv')
    assert message is not None and message.startswith('nirich-predict: error:') and file in message and problem in message, message
    assert not (tmp_path / 'p.csv').exists() and not list(tmp_path.glob('*.tmp'))


@pytest.mark.parametrize('case', ['missing_id_prop', 'single_structure'])
def test_a_single_structure_can_be_predicted(case, tmp_path):
    message, _ = _predict(CORPUS / case, tmp_path / 'p.csv')
    assert message is None, message
    table = pd.read_csv(tmp_path / 'p.csv')
    assert table['id'].tolist() == ['a'] and np.isfinite(table[['mu', 'sigma', 'low_90', 'high_90']].to_numpy()).all()


def test_training_on_a_single_structure_is_one_clear_error(tmp_path):
    with pytest.raises(SystemExit) as stop:
        train_main([str(CORPUS / 'single_structure'), '--epochs', '1', '--out', str(tmp_path / 'm.pt')])
    assert 'single_structure/id_prop.csv: 1 labelled structure(s); training needs at least 2' in str(stop.value.code)
    assert not (tmp_path / 'm.pt').exists()


def test_cli_reports_bad_input_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.calibrate', str(CORPUS / 'nan_label'), '--out', str(tmp_path / 'm.pt')],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "nirich-train: error:" in run.stderr and "label 'nan' of id a" in run.stderr
    assert 'Traceback' not in run.stderr
    assert not (tmp_path / 'm.pt').exists()


def test_predict_cli_names_a_newer_checkpoint(tmp_path):
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.predict', str(CORPUS / 'newer_checkpoint' / 'model.pt'),
                          str(CORPUS / 'single_structure'), '--out', str(tmp_path / 'p.csv')], capture_output=True, text=True)
    assert run.returncode == 1 and 'Traceback' not in run.stderr
    assert 'model.pt: checkpoint format nirich-cgcnn-checkpoint/2' in run.stderr and 'upgrade nirich-cgcnn' in run.stderr
    assert not (tmp_path / 'p.csv').exists()
