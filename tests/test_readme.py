"""README.md is what `make readme` writes from nbs/index.ipynb, stays short, and its examples name real code."""
import configparser, importlib, re, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'docs'))
import build  # noqa: E402  (docs/build.py)


@pytest.fixture(scope='module')
def readme():
    return (ROOT / 'README.md').read_text()


def blocks(text, language):
    return re.findall(rf'```{language}\n(.*?)```', text, re.S)


def test_readme_is_generated_from_the_index_notebook(readme):
    unresolved = []
    assert readme == build.readme_text(unresolved), 'README.md is stale: run `make readme` (it is written from nbs/index.ipynb)'
    assert not unresolved, unresolved  # every link of the README points at a file of the repository


def test_readme_is_short_and_has_its_parts(readme):
    assert len(readme.encode()) <= 12 * 1024
    assert 'make study' in readme and 'make test' in readme
    python, = blocks(readme, 'python')
    cli = [b for b in blocks(readme, 'bash') if 'nirich-' in b]
    assert len(python.strip().splitlines()) <= 10 and len(cli) == 1 and len(cli[0].strip().splitlines()) <= 5
    assert 'from nirich_cgcnn.screen import screen' in python and 'nirich-screen --n 1000 --out runs/screen' in cli[0]
    assert '![' in readme and 'docs/howto/' in readme and 'docs/results/' in readme
    from nirich_cgcnn.train import RECIPES
    tables = re.findall(r'((?:^\| .*\n)+)', readme, re.M)
    models = next(t for t in tables if t.startswith('| property |')).splitlines()
    assert len(models) == 2 + len(RECIPES)  # header, rule, one row per shipped property
    assert 'GPAW' in readme and 'CHGNet' in readme


def test_headline_table_comes_from_metrics_json(readme):
    import json
    rows = {r['property']: r for r in json.loads((ROOT / 'figures' / 'metrics.json').read_text())}
    fe = rows['formation_energy_per_atom']
    line = next(l for l in readme.splitlines() if l.startswith('| formation energy |'))
    assert f"{fe['value']:.3g}" in line and f"{fe['coverage_90']:.2f}" in line and f"{fe['vs_reference']:.2f}" in line


def test_scale_table_comes_from_the_scale_benches(readme):
    import json
    runs = {'norelax': '| as given (`--no-relax`) |', 'relax': '| relax, then predict (default) |'}
    for key, start in runs.items():
        f = ROOT / 'figures' / f'bench_screen_scale_{key}.json'
        line = next((l for l in readme.splitlines() if l.startswith(start)), None)
        assert (line is None) == (not f.exists()), key  # a row for each scale run written, none for the others
        if line:
            r = json.loads(f.read_text())
            assert f"| {r['n_candidates']:,} |" in line and f"| {r['per_worker_per_s']:.2f} |" in line and f"| {r['errors']} |" in line


def test_python_example_names_real_functions(readme):
    python, = blocks(readme, 'python')
    compile(python, 'README example', 'exec')
    for module, names in re.findall(r'^from (\S+) import (.+)$', python, re.M):
        imported = importlib.import_module(module)
        assert all(hasattr(imported, n.strip()) for n in names.split(','))


def test_cli_example_commands_exist_and_parse(readme):
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    scripts = {line.split('=')[0].strip() for line in cfg['DEFAULT']['console_scripts'].split() if '=' in line}
    cli = next(b for b in blocks(readme, 'bash') if 'nirich-' in b)
    from nirich_cgcnn.predict import predict_parser
    from nirich_cgcnn.train import parse_train_args
    for line in cli.strip().splitlines():
        command, *args = line.split('#')[0].split()
        assert command in scripts, command
        if command == 'nirich-predict': predict_parser().parse_args(args)
        if command == 'nirich-train': parse_train_args(args)
