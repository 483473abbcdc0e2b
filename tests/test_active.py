"""Active learning with the real CHGNet oracle: a SIGKILL mid-run loses and repeats no label."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np

from nirich_cgcnn.active import read_state

ROOT = Path(__file__).resolve().parents[1]
SPACE = [{'name': 'family', 'type': 'Categorical', 'categories': ['LiNiO2', 'NCA']},
         {'name': 'supercell', 'type': 'Categorical', 'categories': ['hex-2x1x1']},
         {'name': 'ordering', 'type': 'Integer', 'low': 0, 'high': 9},
         {'name': 'li_vacancies', 'type': 'Integer', 'low': 0, 'high': 1}]


def _cmd(space, out):
    return [sys.executable, '-m', 'nirich_cgcnn.active', '--space', str(space), '--rounds', '3', '--batch', '2', '--initial', '2',
            '--relax-steps', '3', '--references', str(ROOT / 'data/nirich/references.json'), '--out', str(out)]


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path):
    space, out = tmp_path / 'space.json', tmp_path / 'run'
    space.write_text(json.dumps(SPACE))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    p = subprocess.Popen(_cmd(space, out), env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (read_state(out) or {}).get('labels') and time.time() - t0 < 180: time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    before = read_state(out)['labels']
    assert 1 <= len(before) < 6, 'the kill must land mid-run'
    result = subprocess.run(_cmd(space, out), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    state = read_state(out)
    assert len(state['labels']) == 6 and len(state['rounds']) == 3 and not state['pending']
    assert state['labels'][:len(before)] == before  # kept as they were, not relabelled
    assert len({l['id'] for l in state['labels']}) == 6  # no cell labelled twice
    values = np.array([l['value'] for l in state['labels']])
    assert np.isfinite(values).all() and (values < 0).all() and (values > -3).all()  # formation energies, eV/atom
    assert all(l['oracle'] == 'CHGNet' and l['oracle_model'] == '0.3.0' for l in state['labels'])
    assert not list(out.glob('.*.tmp*'))


def test_bad_space_file_is_one_clear_error(tmp_path):
    bad = tmp_path / 'space.json'
    bad.write_text('[{"name": "family"}]')
    result = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.active', '--space', str(bad), '--out', str(tmp_path / 'run')],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    assert result.returncode != 0 and 'not a search space' in result.stderr and 'Traceback' not in result.stderr
