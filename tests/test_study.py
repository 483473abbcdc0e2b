"""The fast study end to end on a tiny slice: every notebook runs and every expected file holds finite numbers."""
import json, shutil
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / 'nbs' / 'study'


def run(name, out, **parameters):
    pm.execute_notebook(str(STUDY / f'{name}.ipynb'), str(out / f'{name}.ipynb'), parameters=dict(out_dir=str(out), **parameters),
                        cwd=str(STUDY), kernel_name='python3', language='python', progress_bar=False)


def finite_numbers(obj):
    "Every number in a JSON-like object."
    if isinstance(obj, dict): return [x for v in obj.values() for x in finite_numbers(v)]
    if isinstance(obj, list): return [x for v in obj for x in finite_numbers(v)]
    return [obj] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp('study')
    run('01_predict', out, n_dropout=5)
    run('04_explain', out, n_cells=16, steps=4, n_maps=6)
    run('06_sweep', out, values=[2, 3])
    shutil.copytree(ROOT / 'data' / 'active', out / 'active')  # the shipped runs: complete, so nothing is relabelled
    run('07_active_loop', out, runs_dir=str(out / 'active'))
    run('08_potential_md', out, steps=20)
    shutil.copy(ROOT / 'figures' / 'dft_convergence.csv', out)  # every run done: the notebook only redraws
    run('12_dft_convergence', out)
    run('14_battery', out, max_per_x={'LiNiO2': 2, 'NCM811': 2}, n_dropout=4, antisite_pairs=1)
    shutil.copytree(ROOT / 'figures' / 'metrics', out / 'metrics')
    run('10_metrics', out)
    return out


def test_predictions_table_and_figure(study):
    table = pd.read_csv(study / 'study_predictions.csv')
    assert len(table) == len(pd.read_csv(ROOT / 'data' / 'sample' / 'id_prop.csv')) and np.isfinite(table[['mu', 'sigma', 'sigma_epistemic', 'sigma_aleatoric', 'target']].to_numpy()).all()
    assert np.allclose(table['sigma'] ** 2, table['sigma_epistemic'] ** 2 + table['sigma_aleatoric'] ** 2, rtol=1e-3)
    assert (study / 'study_predictions.png').stat().st_size > 10_000


def test_explain_outputs(study):
    result = json.loads((study / 'explain_faithfulness.json').read_text())
    assert result['n_structures'] == 16 and set(result['methods']) == {'exact', 'integrated_gradients', 'occlusion'}
    numbers = finite_numbers({k: v for k, v in result.items() if k != 'cells'})
    assert numbers and np.isfinite(numbers).all()
    for name in ('explain_defect_distance.png', 'explain_example.png', 'explain_example.extxyz', 'explain_defect_energy.png', 'explain_defect_energy.json.gz'):
        assert (study / name).stat().st_size > 1_000
    maps = json.loads((study / 'explain_defect_energy.json').read_text())
    shares = np.array(finite_numbers(maps['by_class']))
    assert maps['n_pairs'] == 6 and len(shares) and ((shares > 0) & (shares <= 1)).all()


def test_battery_outputs(study):
    result = json.loads((study / 'battery.json').read_text())
    for host, r in result['hosts'].items():
        assert 3.0 < r['average_voltage'] < 5.0 and r['average_voltage_sigma'] > 0, host
        assert 3.0 < r['chgnet']['average_voltage'] < 5.0 and r['chgnet']['average_voltage_sigma'] == 0  # the shipped CHGNet table
        assert all(np.isfinite([s['voltage'], s['sigma']]).all() for s in r['steps'])
    for name, lattice in result['lattice'].items():
        assert 13.0 < lattice['c_at_x1'] < 15.5 and 2.7 < lattice['a_at_x1'] < 3.0, name
    for name in ('battery_voltage.png', 'battery_lattice.png', 'battery_antisite.png'):
        assert (study / name).stat().st_size > 10_000


def test_sweep_outputs(study):
    sweep = pd.read_csv(study / 'sweep_n_dropout.csv')
    assert sweep['n_dropout'].tolist() == [2, 3] and np.isfinite(sweep.select_dtypes('number').to_numpy()).all()
    assert (study / 'sweep_n_dropout.png').stat().st_size > 10_000


def test_results_table(study):
    rows = json.loads((study / 'metrics.json').read_text())
    assert sorted(r['property'] for r in rows) == sorted(p.stem for p in (ROOT / 'figures' / 'metrics').glob('*.json'))
    for r in rows:
        assert np.isfinite([r['value'], r['target'], r['n_train'], r['n_test']]).all()
        assert r['target_met'] == (r['value'] >= r['target'] if r['metric'] == 'accuracy' else r['value'] <= r['target'])
        if r['metric'] == 'mae':
            assert r['coverage_90_low'] < r['coverage_90'] <= r['coverage_90_high'] <= 1
            cv_table = ROOT / 'figures' / 'metrics' / f"{r['property']}_cv.csv"  # only models calibrated by CV have one
            if cv_table.exists():
                cv = pd.read_csv(cv_table)['target']
                assert abs(r['cv_mae_best_constant'] - (cv - cv.median()).abs().mean()) < 1e-9
            else: assert pd.isna(r['cv_mae_best_constant'])
    assert '| property' in (study / 'metrics.md').read_text()


def test_active_loop_summarises_the_shipped_runs(study):
    summary = json.loads((study / 'active_loop.json').read_text())
    assert set(summary) == {'ei_seed0', 'random_seed0'}
    for name, v in summary.items():
        assert v['calls'] == 20 and len(v['best_after_each_call']) == 20 and np.isfinite(v['best_after_each_call']).all()
        assert abs(v['best'] - min(v['best_after_each_call'])) < 1e-4 and np.all(np.diff(v['best_after_each_call']) <= 0)
        state = f'chgnet_{name}/state.json'
        assert (study / 'active' / state).read_text() == (ROOT / 'data' / 'active' / state).read_text()  # nothing relabelled
    assert (study / 'active_loop.png').stat().st_size > 10_000


def test_potential_md_outputs(study):
    result = json.loads((study / 'potential_md.json').read_text())
    assert result['n_atoms'] == 48 and result['md_ps'] == 0.02
    assert all(result['relaxed'][name]['converged'] for name in ('cgcnn', 'chgnet'))
    assert len(result['nvt_log']) == len(result['nve_log']) == 3  # steps 0, 10, 20
    assert np.isfinite(finite_numbers(result)).all()
    for name in ('potential_md.png', 'md/nvt.traj', 'md/nve.traj', 'md/relax_cgcnn.traj'):
        assert (study / name).stat().st_size > 1_000


def test_dft_convergence_redraws_without_new_runs(study):
    assert (study / 'dft_convergence.csv').read_text() == (ROOT / 'figures' / 'dft_convergence.csv').read_text()
    assert (study / 'dft_convergence.png').stat().st_size > 10_000


def test_every_study_notebook_parses():
    "The study notebooks that take hours (not run above) at least parse under this Python: a syntax error fails here, not hours into a `make` target."
    for path in sorted(STUDY.glob('*.ipynb')):
        for k, cell in enumerate(json.loads(path.read_text())['cells']):
            if cell['cell_type'] != 'code': continue
            try: compile(''.join(cell['source']), f'{path.name}, cell {k}', 'exec')
            except SyntaxError as e: pytest.fail(f'{path.name}, cell {k}: {e}')
