"""Each bad input in tests/bad_inputs gives one DataError naming the file and the problem, and writes nothing."""
import subprocess, sys
from pathlib import Path

import pytest

from nirich_cgcnn.data import DataError, load_folder

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
}


def test_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize('case', sorted(EXPECTED))
def test_bad_input_gives_one_clear_error(case, isolated_cache):
    file, problem = EXPECTED[case]
    with pytest.raises(DataError) as error:
        load_folder(CORPUS / case)
    message = str(error.value)
    assert file in message and problem in message, message
    assert not isolated_cache.exists() or not any(isolated_cache.rglob('*.pkl'))


def test_cli_reports_bad_input_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.train', str(CORPUS / 'nan_label'), '--out', str(tmp_path / 'm.pt')],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "nirich-train: error:" in run.stderr and "label 'nan' of id a" in run.stderr
    assert 'Traceback' not in run.stderr
    assert not (tmp_path / 'm.pt').exists()
