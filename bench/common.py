"""Shared set-up of the benchmarks: a folder of generated Ni-rich cells in CGCNN format, and timing."""
import shutil, time
from pathlib import Path

from nirich_cgcnn.structures import generate_structures, write_structures


def bench_folder(folder, n:int=1000, seed:int=2026, min_atoms:int=24, max_atoms:int=108):
    "Write `n` generated Ni-rich cells with a dummy-label `id_prop.csv`; returns the folder and the records."
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    records = generate_structures(n=n, seed=seed, min_atoms=min_atoms, max_atoms=max_atoms)
    write_structures(records, folder)
    (folder / 'id_prop.csv').write_text(''.join(f'{r.id},0\n' for r in records))
    return folder, records


def timed(fn, *args, **kwargs):
    "(seconds, result) of one call."
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result
