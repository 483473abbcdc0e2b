"The engine under a killed Dask worker: CHGNet labelling completes, every item once, finished items untouched."
import os, signal, statistics, threading, time
from pathlib import Path

from conftest import labelling_folders
from nirich_cgcnn.engine import close_client, run_pending, start_client
from nirich_cgcnn.dataset import label_folder


def kill_one_worker_when(client, ready, timeout=300):
    "Wait until `ready()` holds, then SIGKILL one of the client's worker processes; the files seen by then."
    pid = next(iter(client.run(os.getpid).values()))
    t0 = time.time()
    while not ready() and time.time() - t0 < timeout: time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return pid


def snapshot(folder, pattern):
    "Bytes and modification times of the files matching `pattern`."
    return {q.name: (q.read_bytes(), q.stat().st_mtime_ns) for q in Path(folder).glob(pattern)}


def assert_untouched(folder, before):
    for name, (data, mtime) in before.items():
        q = Path(folder) / name
        assert q.read_bytes() == data and q.stat().st_mtime_ns == mtime, f"{name} was rewritten"


def test_run_pending_records_a_task_that_keeps_killing_its_worker(tmp_path):
    "A task whose worker dies every time (os._exit) becomes its error record once Dask gives up; the rest complete."
    client = start_client(n_workers=2)
    try:
        def work(x):
            if x == 3: os._exit(1)
            return {f"out/{x}.txt": str(2 * x).encode()}
        n = run_pending(work, {str(x): x for x in range(6)}, tmp_path, lambda k: (tmp_path / f"out/{k}.txt").exists(),
                        lambda k, e: {f"out/{k}.txt": f"error: {type(e).__name__}".encode()}, client)
    finally: close_client(client)
    assert n == 6
    assert {q.stem: q.read_text() for q in (tmp_path / "out").glob("*.txt")} == {
        "0": "0", "1": "2", "2": "4", "3": "error: KilledWorker", "4": "8", "5": "10"}


def test_chgnet_labelling_survives_a_killed_worker(tmp_path):
    cand, out, recs = labelling_folders(tmp_path, 8)
    client = start_client(n_workers=2)
    try:
        run = threading.Thread(target=label_folder, args=(cand, out, client),
                               kwargs=dict(steps=3, md_steps=0, elastic_every=0, progress=False))
        run.start()
        kill_one_worker_when(client, lambda: list((out / "labels").glob("*.json")))
        before = snapshot(out / "labels", "*.json")
        run.join(600)
        assert not run.is_alive()
    finally: close_client(client)
    assert 1 <= len(before) < len(recs), "the kill must land mid-run"
    assert sorted(q.stem for q in (out / "labels").glob("*.json")) == sorted(r.id for r in recs)
    assert len(list((out / "frames").glob("*.extxyz.gz"))) == len(recs) and not (out / "failed").exists()
    assert_untouched(out / "labels", before)
    assert not list(out.rglob(".*.tmp*"))


def faults_reallocating_128_mib(times=3):
    "Page faults of the calling thread while a 128 MiB tensor is allocated, filled and freed `times` times."
    import resource, torch
    from nirich_cgcnn.model import reuse_freed_memory
    reuse_freed_memory()
    torch.ones(2**25).sum()  # the first allocation may fault; only the reuse is counted (the tensor is freed at once)
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(times): torch.ones(2**25).sum()
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before


def test_worker_tasks_reuse_freed_memory():
    """A task runs outside the main thread; with its own malloc arena every 128 MiB tensor faults its 32,768 pages again.
    A fresh worker's first task shares the heap with the worker's start-up (it faulted 65,536 pages in 1 of 4 probes),
    so the median of three tasks is counted."""
    client = start_client(n_workers=1)
    try: faults = [client.submit(faults_reallocating_128_mib, pure=False).result() for _ in range(3)]
    finally: close_client(client)
    assert statistics.median(faults) < 0.1 * 3 * 2**25 * 4 / 4096, faults
