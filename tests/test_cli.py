"""The command line is the API: every command documents itself with examples, `nirich-train` exposes the
architecture and trains the shipped recipes exactly, `nirich-predict` refuses bad arguments cleanly."""
import configparser, contextlib, importlib, io, json, re, subprocess, sys
from dataclasses import fields
from pathlib import Path

import pytest

from nirich_cgcnn.model import Ensemble, ModelConfig, load_checkpoint, shipped_checkpoint
from nirich_cgcnn.train import RECIPES, args_config, parse_train_args, train_parser

ROOT = Path(__file__).resolve().parents[1]
CFG = configparser.ConfigParser(delimiters=['='])
CFG.read(ROOT / 'settings.ini')
SCRIPTS = dict(line.split('=') for line in CFG['DEFAULT']['console_scripts'].split())
SAMPLE = ROOT / 'data' / 'sample'


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_every_command_has_help_with_examples(script):
    module, function = SCRIPTS[script].split(':')
    main = getattr(importlib.import_module(module), function)
    out = io.StringIO()
    with pytest.raises(SystemExit) as stop, contextlib.redirect_stdout(out): main(['--help'])
    assert stop.value.code == 0
    text = out.getvalue()
    assert f'usage: {script}' in text and 'examples:' in text
    examples = text[text.index('examples:'):]
    assert len(re.findall(rf'^\s+{script} ', examples, re.M)) >= 2  # at least two runnable example lines


def test_train_cli_exposes_every_architecture_option():
    "Every ModelConfig field a user would set is a flag of nirich-train."
    dests = {a.dest for a in train_parser()._actions}
    internal = {'task', 'n_classes', 'graph', 'batch_norm', 'message_scale', 'envelope', 'short_neighbors'}  # set by the task, or potentials only
    assert {f.name for f in fields(ModelConfig)} - internal <= dests
    assert {'cutoff', 'max_neighbors', 'n_members', 'recipe'} <= dests


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_is_the_shipped_checkpoints_recipe(name):
    "RECIPES (used by `make shipped-<name>` and `nirich-train --recipe`) describes the shipped checkpoint exactly."
    recipe, model = RECIPES[name], load_checkpoint(shipped_checkpoint(name))
    assert recipe.config(model.config.n_classes) == model.config
    args = parse_train_args(['--recipe', name])
    assert args_config(args, model.config.n_classes) == model.config
    assert (args.property, args.unit, args.task) == (model.meta['property'], model.meta['unit'], model.config.task)
    histories = model.meta['history'] if isinstance(model, Ensemble) else [model.meta['history']]  # an ensemble: one per network
    assert len(histories) == recipe.n_members == args.n_members and args.calibration == recipe.calibration
    assert all(len(h) == args.epochs == recipe.epochs for h in histories)  # every epoch of the schedule ran
    report = json.loads((ROOT / 'figures' / 'metrics' / f'{name}.json').read_text())  # the shipped model's report
    assert model.config.task != 'regression' or report['calibration'] == recipe.calibration  # calibrated as the recipe says
    assert (ROOT / args.data / 'id_prop.csv').is_file() and args.skip_unlabelled


def test_makefile_trains_every_recipe_by_name():
    makefile = (ROOT / 'Makefile').read_text()
    shipped = re.search(r'^SHIPPED := (.+)$', makefile, re.M)[1].split()
    assert sorted(shipped) == sorted(RECIPES)
    for name in shipped:
        assert re.search(rf'^shipped-{name}:.*\n\t\$\(call train,{name},00_train', makefile, re.M), name
    assert '-p recipe $(1)' in makefile  # 00_train reads the recipe itself: nothing of it is repeated here


def test_recipe_options_can_be_overridden():
    args = parse_train_args(['--recipe', 'formation_energy_per_atom', '--no-crystal-context', '--epochs', '3', 'other/'])
    assert args.data == 'other/' and args.epochs == 3 and args_config(args) == ModelConfig()


@pytest.mark.parametrize('argv, message', [
    (['--n-dropout', '-1'], 'argument --n-dropout: -1 must be ≥ 0'),
    (['--batch-size', '0'], 'argument --batch-size: 0 must be ≥ 1'),
    (['--out', '/proc/version/p.csv'], 'argument --out: /proc/version/p.csv: /proc/version is a file, not a folder'),
])
def test_predict_refuses_bad_arguments_with_one_message(argv, message, tmp_path):
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.predict', 'formation_energy_per_atom', str(SAMPLE)] + argv,
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2 and 'Traceback' not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == f'nirich-predict: error: {message}'
    assert not any(tmp_path.iterdir())


def test_train_refuses_bad_arguments_with_one_message(tmp_path):
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.calibrate', str(SAMPLE), '--dropout', '1.5', '--out', str(tmp_path / 'm.pt')],
                         capture_output=True, text=True)
    assert run.returncode == 2 and 'Traceback' not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == 'nirich-train: error: argument --dropout: 1.5 must be < 1'


def test_predict_says_once_when_inputs_are_far_from_relaxed(tmp_path):
    from pymatgen.core import Structure
    import pandas as pd
    cell = Structure.from_file(SAMPLE / 'LiNiO2_Li-vacancy_0027_cee743.cif')
    shaken = cell.copy(); shaken.perturb(0.2, min_distance=0.2)
    folder = tmp_path / 'in'; folder.mkdir()
    cell.to(filename=str(folder / 'relaxed.cif')); shaken.to(filename=str(folder / 'shaken.cif'))
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.predict', 'formation_energy_per_atom', str(folder), '--n-dropout', '2',
                          '--out', str(tmp_path / 'p.csv')], capture_output=True, text=True)
    assert run.returncode == 0 and 'Warning' not in run.stderr, run.stderr
    assert run.stdout.count('far from a relaxed geometry') == 1 and '1 structures are far' in run.stdout
    table = pd.read_csv(tmp_path / 'p.csv').set_index('id')
    assert table.loc['relaxed', 'near_relaxed'] and not table.loc['shaken', 'near_relaxed']
    run = subprocess.run([sys.executable, '-m', 'nirich_cgcnn.predict', 'formation_energy_per_atom', str(folder), '--n-dropout', '2',
                          '--no-relax-check', '--out', str(tmp_path / 'q.csv')], capture_output=True, text=True)
    assert 'far from' not in run.stdout and 'max_force' not in pd.read_csv(tmp_path / 'q.csv')
