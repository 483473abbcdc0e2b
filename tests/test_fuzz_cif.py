"""Fuzz: 500 seeded mutations of valid CIFs (deleted, swapped, duplicated or truncated lines, swapped fields, edited
numbers, random bytes) through `nirich-predict`. Each must end in either one clean error naming the file (and no
CSV) or a valid one-row prediction; never another exception, never a partial output file."""
import collections, contextlib, io, random
from pathlib import Path

import numpy as np
import pandas as pd

from nirich_cgcnn.model import shipped_checkpoint
from nirich_cgcnn.predict import main as predict_main

SEEDS = sorted((Path(__file__).parent / 'fixtures' / 'tiny').glob('*.cif'))
N_VARIANTS = 500
NUMBERS = ['nan', 'inf', '-inf', '0', '1e30', '-1e-30', '?', '.', '1e-9', '-5']


def mutate(text:str, rng:random.Random):
    "One mutation of a CIF's text: (kind, bytes)."
    lines = text.split('\n')
    kind = rng.choice(['delete_lines', 'swap_fields', 'swap_lines', 'duplicate_line', 'edit_number', 'random_bytes', 'truncate'])
    if kind == 'delete_lines':
        for _ in range(rng.randint(1, 3)): del lines[rng.randrange(len(lines))]
    elif kind == 'swap_fields':
        i = rng.randrange(len(lines)); fields = lines[i].split()
        if len(fields) >= 2:
            a, b = rng.sample(range(len(fields)), 2)
            fields[a], fields[b] = fields[b], fields[a]
            lines[i] = ' '.join(fields)
    elif kind == 'swap_lines':
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
    elif kind == 'duplicate_line':
        i = rng.randrange(len(lines)); lines.insert(i, lines[i])
    elif kind == 'edit_number':
        i = rng.randrange(len(lines)); fields = lines[i].split()
        numeric = [j for j, f in enumerate(fields) if f.lstrip('-').replace('.', '', 1).isdigit()]
        if numeric:
            j = rng.choice(numeric)
            fields[j] = rng.choice(NUMBERS + [f'{float(fields[j]) * rng.uniform(-3, 3):.6f}'])
            lines[i] = ' '.join(fields)
    data = '\n'.join(lines).encode()
    if kind == 'random_bytes':
        data = bytearray(data)
        for _ in range(rng.randint(1, 8)): data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    elif kind == 'truncate': data = data[:rng.randrange(len(data))]
    return kind, data


def test_mutated_cifs_give_a_clean_error_or_a_valid_prediction(tmp_path):
    rng = random.Random(0)
    checkpoint = str(shipped_checkpoint('formation_energy_per_atom'))
    outcomes, failures = collections.Counter(), []
    for n in range(N_VARIANTS):
        kind, data = mutate(rng.choice(SEEDS).read_text(), rng)
        folder, out = tmp_path / f'v{n:03d}', tmp_path / f'v{n:03d}' / 'out' / 'p.csv'
        folder.mkdir()
        (folder / 'x.cif').write_bytes(data)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                predict_main([checkpoint, str(folder), '--n-dropout', '2', '--out', str(out)])
        except SystemExit as stop:
            message = str(stop.code)
            clean = message.startswith('nirich-predict: error: ') and 'x.cif' in message and '\n' not in message
            outcomes['error'] += 1
            if not clean or out.exists() or out.parent.exists() and any(out.parent.iterdir()):
                failures.append((n, kind, f'unclean error or output left behind: {message[:200]}'))
            continue
        except BaseException as e:  # anything else is a bug
            failures.append((n, kind, f'{type(e).__name__}: {str(e)[:200]}'))
            continue
        table = pd.read_csv(out)
        outcomes['prediction'] += 1
        leftovers = [p.name for p in out.parent.iterdir() if p.name != 'p.csv']
        if len(table) != 1 or not np.isfinite(table[['mu', 'sigma', 'low_90', 'high_90']].to_numpy()).all() or leftovers:
            failures.append((n, kind, f'bad prediction: {table.to_dict("records")}, leftovers {leftovers}'))
    assert not failures, f'{len(failures)} of {N_VARIANTS} variants: {failures[:10]}'
    assert outcomes['error'] >= 100 and outcomes['prediction'] >= 50, outcomes  # both paths are exercised
