"""Multi-scale convolution and attention work with every head: MC dropout, classification, autograd forces; the ablation runner."""
import numpy as np
import torch
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces

from nirich_cgcnn.calculator import NiRichCalculator, potential_config
from nirich_cgcnn.data import load_folder
from nirich_cgcnn.graph import MAX_Z
from nirich_cgcnn.model import CGCNN, ModelConfig, multiscale_config
from nirich_cgcnn.predict import predict_table
from nirich_cgcnn.train import ablation, ablation_summary, train


def test_full_model_regression_with_mc_dropout(tiny):
    config = multiscale_config()
    data = load_folder(tiny, 'volume_per_atom', settings=config.graph)
    table = predict_table(train(data, config, epochs=3, progress=False), data, n_dropout=10)
    assert (table['sigma_epistemic'] > 0).all() and np.isfinite(table['mu']).all()


def test_full_model_classification(tiny):
    config = multiscale_config(task='classification', n_classes=3)
    data = load_folder(tiny, 'defect_class', task='classification', settings=config.graph)
    table = predict_table(train(data, config, epochs=3, progress=False), data, n_dropout=5)
    assert set(table['mu']) <= set(data.classes)


def test_full_model_forces_are_energy_gradients():
    torch.manual_seed(0)
    config = potential_config(multiscale=True, attention=True, crystal_context=True, short_neighbors=12,
                              n_conv=2, atom_fea_len=16, h_fea_len=16)
    model = CGCNN(config, meta={'atom_ref': [0.0] * (MAX_Z + 1), 'elements': [8, 28]})
    atoms = bulk('NiO', 'rocksalt', a=4.17) * (2, 1, 1)
    atoms.rattle(0.05, seed=2)
    atoms.calc = NiRichCalculator(model, dtype=torch.float64)
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-4), atol=1e-6)


def test_ablation_runner(tiny):
    configs = {'plain': ModelConfig(), 'both': multiscale_config()}
    table = ablation(tiny, 'volume_per_atom', configs, seeds=(0, 1), epochs=2)
    assert len(table) == 4 and set(table['model']) == {'plain', 'both'}
    summary = ablation_summary(table)
    assert summary.loc['both', 'n_params'] > summary.loc['plain', 'n_params']
    assert summary.loc['plain', 'mae_vs_plain'] == 1.0
