"""Known-answer tests of the uncertainty split on synthetic graph data with input-dependent noise.

Simple-cubic one-atom cells with lattice parameter a in [2.6, 3.4] Å are labelled y = 2 (a − 3)² + ε with
ε ~ N(0, s(a)²), s(a) = 0.02 + 0.15 (a − 2.6) / 0.8: the true aleatoric noise is known at every a.
"""
import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from nirich_cgcnn.data import from_structures
from nirich_cgcnn.model import ModelConfig
from nirich_cgcnn.predict import predict_table
from nirich_cgcnn.train import train
from nirich_cgcnn.uncertainty import fit_sigma_calibration, fit_sigma_scale, recalibrate, regression_metrics, select_calibration


def true_noise(a): return 0.02 + 0.15 * (a - 2.6) / 0.8
def cells(a_values): return [Structure(Lattice.cubic(a), ['Cu'], [[0, 0, 0]]) for a in a_values]


@pytest.fixture(scope='module')
def synthetic():
    rng = np.random.default_rng(0)
    a = rng.uniform(2.6, 3.4, 1200)
    y = 2 * (a - 3) ** 2 + rng.normal(0, true_noise(a))
    data = from_structures(cells(a), targets=y)
    split = (np.arange(1000), np.arange(1000, 1200), [])
    model = train(data, ModelConfig(dropout=0.05, atom_fea_len=32, h_fea_len=64), split=split, epochs=80, lr=3e-3,
                  warmup_epochs=15, batch_size=100, patience=80, progress=False)
    return model, data


def test_aleatoric_sigma_recovers_true_noise(synthetic):
    model, _ = synthetic
    grid = np.linspace(2.7, 3.3, 13)
    table = predict_table(model, cells(grid), n_dropout=25)
    relative_error = np.abs(table['sigma_aleatoric'] / true_noise(grid) - 1)
    assert np.median(relative_error) < 0.2, relative_error.round(2).tolist()


def test_dropout_off_gives_zero_epistemic(synthetic):
    model, _ = synthetic
    table = predict_table(model, cells([3.0, 3.1]), n_dropout=0)
    assert (table['sigma_epistemic'] == 0).all() and (table['sigma'] == table['sigma_aleatoric']).all()


def test_recalibration_replaces_a_wrong_calibration(synthetic):
    model, data = synthetic
    validation = data.subset(range(1000, 1200))
    table = predict_table(model, validation)
    own = fit_sigma_calibration(table['target'], table['mu'], table['sigma'])
    assert 0.7 < own['sigma_scale'] < 1.4  # trained with β-NLL, the model is roughly calibrated already
    assert 0.5 < own['sigma_power'] < 1.5  # and its σ follows the true noise (no reshaping needed)
    chosen = select_calibration(table, list(table['id']))  # the shape by held-out NLL (no groups: one per structure)
    model.meta.update(sigma_scale=0.5, sigma_power=2.0, sigma_reference=0.05)  # a wrong calibration
    model, calibration = recalibrate(model, validation)
    chosen.pop('calibration_nested'), calibration.pop('calibration_nested')
    assert calibration == pytest.approx(chosen, abs=1e-6)  # refitted from the raw σ, not on top of the old one
    table = predict_table(model, validation)
    shape = dict(power=calibration['sigma_power'] != 1.0, dofs=(calibration['sigma_dof'] or np.inf,))  # the chosen shape, refitted
    again = fit_sigma_calibration(table['target'], table['mu'], table['sigma'], **shape)
    assert again['sigma_scale'] == pytest.approx(1, abs=0.01)  # calibrated σ needs no more change
    assert again['sigma_power'] == pytest.approx(1, abs=0.02)
    assert 0.85 < regression_metrics(table)['coverage_90'] < 0.95


def test_epistemic_larger_far_from_training_data(synthetic):
    model, _ = synthetic
    inside = predict_table(model, cells(np.linspace(2.8, 3.2, 9)), n_dropout=50)['sigma_epistemic'].mean()
    # 0.2-0.4 A outside the training range [2.6, 3.4]; much farther out the one-atom graphs' distance features saturate
    outside = predict_table(model, cells([2.2, 2.3, 2.4, 3.6, 3.7, 3.8]), n_dropout=50)['sigma_epistemic'].mean()
    assert outside > 1.5 * inside, (outside, inside)  # 2.56x measured


def test_ood_experiment_holds_out_the_named_structures(tmp_path):
    from pathlib import Path
    from nirich_cgcnn.uncertainty import ood_experiment
    tiny = Path(__file__).parent / 'fixtures' / 'tiny'
    summary, preds = ood_experiment(tiny, 'volume_per_atom', 'defect_class', 'pristine', epochs=3, n_dropout=5)
    ids = preds.loc[preds['ood'], 'id'].tolist()
    pristine = [line.split(',')[0] for line in (tiny / 'id_prop.csv').read_text().splitlines() if ',pristine,' in line]
    assert sorted(ids) == sorted(pristine) and summary['n_ood'] == len(pristine)
    assert not set(ids) & set(preds.loc[~preds['ood'], 'id'])
    assert summary['n_train'] + summary['n_val'] + summary['n_test_in'] + summary['n_ood'] == 16
    assert np.isfinite(summary['epistemic_ratio']) and 0 <= summary['coverage_90_ood'] <= 1 and summary['recipe'] is None
    assert summary['coverage_90_ood_widened'] >= summary['coverage_90_ood'] and -1 <= summary['spearman_distance_error'] <= 1  # σ only widens
    two, _ = ood_experiment(tiny, 'volume_per_atom', 'defect_class', 'pristine delithiated', epochs=3, n_dropout=5)
    delithiated = (tiny / 'id_prop.csv').read_text().count(',delithiated,')
    assert two['n_ood'] == len(pristine) + delithiated  # any of the space-separated values is held out
    pair, pair_preds = ood_experiment(tiny, 'volume_per_atom', 'defect_class', 'pristine', epochs=3, n_dropout=5, n_members=2)
    assert pair['n_members'] == 2 and summary['n_members'] == 1 and 'single_network' not in summary
    assert sorted(pair_preds.loc[pair_preds['ood'], 'id']) == sorted(pristine)
    # the ensemble's first member is the network the single run trained (same split and seed): same error
    assert np.isclose(pair['single_network']['mean_in']['error'], summary['mean_in']['error'], rtol=1e-4)


def test_out_of_fold_table_predicts_every_structure_once(synthetic):
    from nirich_cgcnn.model import ModelConfig as Config
    from nirich_cgcnn.uncertainty import out_of_fold_table
    data = synthetic[1].subset(range(1200))
    data.groups = [str(i % 40) for i in range(len(data))]  # 40 groups of 30
    indices = np.arange(0, 1200, 2)
    table = out_of_fold_table(data, indices, k=3, config=Config(dropout=0.05, atom_fea_len=32, h_fea_len=64),
                              epochs=40, lr=3e-3, warmup_epochs=10, batch_size=100, patience=40, n_dropout=10)
    assert sorted(table['id']) == sorted(data.ids[i] for i in indices)
    assert 0.6 < fit_sigma_scale(table['target'], table['mu'], table['sigma']) < 1.6  # β-NLL: roughly calibrated
