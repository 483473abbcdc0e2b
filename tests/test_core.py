"""Known-answer tests of graph caching, training, MC-dropout prediction, checkpoints and the CLIs on a tiny folder."""
import subprocess, sys, time

import numpy as np
import pandas as pd
import pytest
import torch

from nirich_cgcnn.data import load_folder
from nirich_cgcnn.model import CGCNN, CheckpointError, ModelConfig, load_checkpoint, save_checkpoint
from nirich_cgcnn.predict import predict, predict_table
from nirich_cgcnn.train import train, validation_error


def test_graph_cache_reload_is_identical_and_fast(tiny, isolated_cache):
    start = time.perf_counter(); first = load_folder(tiny, 'volume_per_atom'); first_s = time.perf_counter() - start
    start = time.perf_counter(); again = load_folder(tiny, 'volume_per_atom'); again_s = time.perf_counter() - start
    assert len(list(isolated_cache.rglob('*.pkl'))) == 16
    for a, b in zip(first.graphs, again.graphs):
        assert torch.equal(a.src, b.src) and torch.equal(a.images, b.images) and torch.equal(a.positions, b.positions)
    assert again_s < first_s / 3


def test_training_overfits_tiny_set(tiny):
    data = load_folder(tiny, 'volume_per_atom')
    everything = np.arange(len(data))
    model = train(data, ModelConfig(dropout=0.0), split=(everything, everything, []), epochs=200, lr=3e-3,
                  warmup_epochs=200, progress=False)
    spread = (data.targets - data.targets.mean()).abs().mean().item()
    assert validation_error(model, data) < 0.1 * spread


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A small model trained on the tiny folder (group split), saved as a checkpoint."
    from pathlib import Path
    folder = Path(__file__).parent / 'fixtures' / 'tiny'
    path = tmp_path_factory.mktemp('ckpt') / 'volume.pt'
    train(load_folder(folder, 'volume_per_atom', cache_dir=False), ModelConfig(dropout=0.2), unit='Å^3/atom',
          seed=3, out=path, epochs=30, progress=False)
    return path


def test_sigma_zero_without_dropout_positive_with(trained, tiny):
    off = predict_table(trained, tiny, n_dropout=0)
    on = predict_table(trained, tiny, n_dropout=25)
    assert (off['sigma_epistemic'] == 0).all()
    assert (on['sigma_epistemic'] > 0).all()
    np.testing.assert_allclose(on['sigma'] ** 2, on['sigma_epistemic'] ** 2 + on['sigma_aleatoric'] ** 2, rtol=1e-5)
    np.testing.assert_allclose(on['target'], pd.read_csv(tiny / 'id_prop.csv')['volume_per_atom'])


def test_same_seed_identical_predictions(tiny):
    data = load_folder(tiny, 'volume_per_atom')
    runs = [train(data, ModelConfig(dropout=0.1), seed=5, epochs=3, progress=False) for _ in range(2)]
    assert predict(runs[0], data, n_dropout=10) == predict(runs[1], data, n_dropout=10)


def test_checkpoint_round_trip_and_mismatch(trained, tiny, tmp_path):
    model = load_checkpoint(trained, property='volume_per_atom', task='regression')
    assert model.meta['unit'] == 'Å^3/atom' and len(model.meta['split']['train']) > 0
    assert predict(model, tiny, n_dropout=5) == predict(trained, tiny, n_dropout=5)
    with pytest.raises(CheckpointError, match="predicts 'volume_per_atom', not 'band_gap'"):
        load_checkpoint(trained, property='band_gap')
    other = CGCNN(ModelConfig(n_conv=2), meta=model.meta)
    payload = torch.load(trained, weights_only=True)
    payload['state_dict'] = other.state_dict()  # weights of a different architecture
    torch.save(payload, tmp_path / 'mixed.pt')
    with pytest.raises(CheckpointError, match='weights do not match'):
        load_checkpoint(tmp_path / 'mixed.pt')
    (tmp_path / 'junk.pt').write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='junk.pt: not a readable checkpoint'):
        load_checkpoint(tmp_path / 'junk.pt')


def test_classification_head(tiny):
    data = load_folder(tiny, 'defect_class', task='classification')
    model = train(data, seed=0, epochs=5, progress=False)
    table = predict_table(model, data, n_dropout=10)
    assert set(table['mu']) <= set(data.classes)
    probabilities = table[[f'p_{c}' for c in data.classes]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)


def test_cli_end_to_end(tiny, tmp_path):
    checkpoint, csv, png = tmp_path / 'm.pt', tmp_path / 'p.csv', tmp_path / 'p.png'
    subprocess.run([sys.executable, '-m', 'nirich_cgcnn.calibrate', str(tiny), '--property', 'volume_per_atom',
                    '--epochs', '5', '--out', str(checkpoint)], check=True, capture_output=True)
    subprocess.run([sys.executable, '-m', 'nirich_cgcnn.predict', str(checkpoint), str(tiny), '--n-dropout', '25',
                    '--out', str(csv), '--figure', str(png)], check=True, capture_output=True)
    table = pd.read_csv(csv)
    assert len(table) == 16 and np.isfinite(table[['mu', 'sigma', 'sigma_epistemic', 'sigma_aleatoric']]).all().all()
    assert np.allclose(table['high_90'] - table['mu'], 1.644854 * table['sigma'], rtol=1e-5)  # uncalibrated: Gaussian
    assert png.stat().st_size > 10_000


def test_cli_names_elements_never_trained_on(trained, tiny, tmp_path):
    from pymatgen.core import Structure
    folder = tmp_path / 'screen'; folder.mkdir()
    cell = Structure.from_file(next(tiny.glob('*.cif')))
    doped = cell.copy(); doped.replace(next(i for i, s in enumerate(cell) if s.specie.symbol == 'Ni'), 'W')
    cell.to(filename=str(folder / 'host.cif')); doped.to(filename=str(folder / 'doped.cif'))
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.predict', str(trained), str(folder), '--out', str(tmp_path / 'p.csv')],
                         check=True, capture_output=True, text=True)
    table = pd.read_csv(tmp_path / 'p.csv', keep_default_na=False).set_index('id')
    assert table.loc['doped', 'unseen_elements'] == 'W' and table.loc['host', 'unseen_elements'] == ''
    assert '1 structures hold elements the model never trained on' in run.stdout


def test_transfer_comparison_same_split_both_starts(tiny, trained):
    from nirich_cgcnn.train import transfer_comparison
    table = transfer_comparison(tiny, 'volume_per_atom', trained, seeds=(0,), epochs=2)
    assert table['start'].tolist() == ['scratch', 'pretrained'] and table['n_test'].nunique() == 1
    assert np.isfinite(table['test_mae']).all()


def test_an_interrupted_ensemble_resumes_from_its_finished_members(tiny, tmp_path):
    from nirich_cgcnn.train import member_path, split_dataset
    data, out = load_folder(tiny, 'volume_per_atom'), tmp_path / 'ens.pt'
    split = split_dataset(data, seed=0)
    first = train(data, split=split, seed=0, out=member_path(out, 0), epochs=2, progress=False)  # member 0 finished, then the run died
    kept = load_checkpoint(member_path(out, 0))
    with torch.no_grad(): kept.head[-1].bias.add_(1.0)  # marked, to see whether the rerun loads it or trains it again
    save_checkpoint(kept, member_path(out, 0))
    ensemble = train(data, split=split, seed=0, out=out, n_members=2, epochs=2, progress=False)
    assert torch.equal(ensemble.members[0].head[-1].bias, kept.head[-1].bias)  # loaded, not retrained
    assert not torch.equal(ensemble.members[1].head[-1].bias, first.head[-1].bias)  # member 1 trained (seed 1)
    assert not member_path(out, 0).exists() and not member_path(out, 1).exists() and out.exists()
    other = train(data, split=split, seed=0, out=member_path(out, 0), epochs=3, progress=False)  # other fit options: not reused
    again = train(data, split=split, seed=0, out=out, n_members=2, epochs=2, progress=False)
    assert not torch.equal(again.members[0].head[-1].bias, other.head[-1].bias)
