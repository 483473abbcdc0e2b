"""Screening benchmarks (not CI): IS2RE accuracy of relax-then-predict, throughput against CHGNet, batched against
one-at-a-time relaxation, Dask scaling, and large runs. Each prints the ratio it claims and writes
figures/bench_screen_<name>.json.

    python bench/screen.py prepare            # held-out IS2RE candidates -> data/is2re/candidates (then label them:)
    nirich-data label --in data/is2re/candidates --out data/is2re --md-steps 0 --elastic-every 0 && nirich-data collect --out data/is2re
    python bench/screen.py is2re              # MAE of relax-then-predict and of --no-relax against the CHGNet labels
    python bench/screen.py throughput --n 16  # candidates/s end to end, ours vs CHGNet relaxation + the same prediction
    python bench/screen.py dask --n 2000      # 2 workers vs 1 on the same candidates
    python bench/screen.py scale --n 100000 --no-relax   # a large run (resumes: rerun to continue), wall time and memory
"""
import argparse, json, resource, shutil, time
from pathlib import Path

import pandas as pd

from nirich_cgcnn.engine import close_client, start_client
from nirich_cgcnn.screen import ScreenSettings, predict_properties, screen
from nirich_cgcnn.structures import generate_structures, write_structures

ROOT = Path(__file__).resolve().parents[1]
IS2RE = ROOT / "data" / "is2re"


def prepare(n:int=480, seed:int=2026):
    "Generated 48-atom cells whose parent host (group) is in no split of the dataset the shipped models were trained on."
    seen = set(pd.read_csv(ROOT / "data" / "nirich" / "labels.csv")["group"])
    held = [r for r in generate_structures(n=n, seed=seed, min_atoms=48, max_atoms=48) if r.group not in seen]
    write_structures(held, IS2RE / "candidates")
    shutil.copy(ROOT / "data" / "nirich" / "references.json", IS2RE / "references.json")  # same references, same energies
    print(f"{len(held)} of {n} generated cells have a parent host unseen in data/nirich; wrote {IS2RE / 'candidates'}")


def write(name:str, result:dict):
    path = ROOT / "figures" / f"bench_screen_{name}.json"
    path.write_text(json.dumps(result, indent=1, default=float))
    print(json.dumps(result, indent=1, default=float)); print(f"wrote {path}")


def is2re(workers:int=2):
    """MAE of the default path (unrelaxed in -> relax -> predict) and of --no-relax against the oracle's relaxed labels;
    also of predicting the oracle's own relaxed cells, the floor that a perfect relaxation would reach."""
    labels = pd.read_csv(IS2RE / "labels.csv").set_index("id")
    labels = labels[labels["converged"].astype(bool)]
    inputs = {"unrelaxed": IS2RE / "candidates", "oracle_relaxed": IS2RE / "cgcnn"}  # as generated; as CHGNet relaxed them
    for kind, source in inputs.items():  # only the cells that have a converged label
        folder = IS2RE / "_work" / kind
        shutil.rmtree(folder, ignore_errors=True); folder.mkdir(parents=True)
        for i in labels.index: shutil.copy(source / f"{i}.cif", folder)
    client = start_client(n_workers=workers)
    out = {}
    try:
        for name, kind, relax in [("relax_then_predict", "unrelaxed", True), ("no_relax", "unrelaxed", False),
                                  ("oracle_relaxed", "oracle_relaxed", False)]:
            t0, folder, run = time.time(), IS2RE / "_work" / kind, IS2RE / "_work" / "runs" / name
            shutil.rmtree(run, ignore_errors=True)  # measured afresh: a resumed run would report no wall time
            chunk = max(1, -(-len(labels) // (4 * workers)))  # four chunks per worker, so none sits idle
            table = screen(folder, run, ScreenSettings(relax=relax), chunk_size=chunk, client=client,
                           progress=False).set_index("id")
            err = table["formation_energy_per_atom"] - labels.loc[table.index, "formation_energy_per_atom"]
            z = err.abs() / table["formation_energy_per_atom_sigma"]
            inside = (labels.loc[table.index, "formation_energy_per_atom"].between(
                table["formation_energy_per_atom_low_90"], table["formation_energy_per_atom_high_90"]))
            out[name] = dict(n=int(err.notna().sum()), mae=float(err.abs().mean()), bias=float(err.mean()),
                             median_sigma=float(table["formation_energy_per_atom_sigma"].median()),
                             coverage_90=float(inside.mean()), median_abs_z=float(z.median()),
                             mae_by_class=err.abs().groupby(labels.loc[table.index, "defect_class"]).mean().round(4).to_dict(),
                             errors=int(table["error"].notna().sum()), wall_s=time.time() - t0)
    finally: close_client(client)
    out["mae_ratio_no_relax_over_default"] = out["no_relax"]["mae"] / out["relax_then_predict"]["mae"]
    out["mae_ratio_default_over_oracle_relaxed"] = out["relax_then_predict"]["mae"] / out["oracle_relaxed"]["mae"]
    write("is2re", out)


def chgnet_path(structures:list)->float:
    "Seconds to relax the cells with CHGNet (ASE FIRE, cell + ions, fmax 0.05, 300 steps) and predict every property."
    from pymatgen.io.ase import AseAtomsAdaptor
    from nirich_cgcnn.oracle import oracle_calculator, relax
    calc = oracle_calculator(threads=1)
    t0 = time.perf_counter()
    relaxed = [AseAtomsAdaptor.get_structure(relax(s, fmax=0.05, steps=300, n_frames=1, calc=calc)["atoms"]) for s in structures]
    predict_properties(relaxed, ScreenSettings())
    return time.perf_counter() - t0


def throughput(n:int=16, seed:int=11):
    "Candidates per second end to end on one core: ours (batched potential relaxation + prediction) vs CHGNet + prediction."
    import torch; torch.set_num_threads(1)
    from nirich_cgcnn.screen import screen_rows, structure_items
    recs = generate_structures(n=n, seed=seed, min_atoms=48, max_atoms=48)
    structures = [r.structure for r in recs]
    item = structure_items(structures, [r.id for r in recs], chunk_size=n)[0]
    screen_rows(item, ScreenSettings(relax=False, n_dropout=1))  # load the models once, outside the timing
    t0 = time.perf_counter(); ours = screen_rows(item, ScreenSettings()); t_ours = time.perf_counter() - t0
    t_chgnet = chgnet_path(structures)
    write("throughput", dict(n_candidates=n, n_atoms=48, ours_s=t_ours, chgnet_s=t_chgnet,
                             ours_per_s=n / t_ours, chgnet_per_s=n / t_chgnet, speedup=t_chgnet / t_ours,
                             ours_relax_steps_median=float(ours["relax_steps"].median()),
                             ours_converged=float(ours["relax_converged"].mean())))


def dask_scaling(n:int=2000, seed:int=12, relax:bool=True):
    "Wall time of the same candidates on a LocalCluster of 1 and of 2 workers."
    spec = dict(n=n, seed=seed, min_atoms=48, max_atoms=48)
    out = {}
    for workers in (1, 2):
        run = ROOT / "bench" / "_work" / f"dask_{workers}"
        shutil.rmtree(run, ignore_errors=True)
        client = start_client(n_workers=workers)
        try:
            t0 = time.time(); screen(spec, run, ScreenSettings(relax=relax), client=client, progress=False)
            out[f"wall_s_{workers}_workers"] = time.time() - t0
        finally: close_client(client)
    out.update(n_candidates=n, relax=relax, speedup_2_over_1=out["wall_s_1_workers"] / out["wall_s_2_workers"])
    write("dask", out)


def call_times(run:Path)->list:
    "(seconds, workers) of each call of a run, stopped calls included: from the call's start to its last finished chunk."
    calls = [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()]
    ends = [c["start"] for c in calls[1:]] + [float("inf")]
    done = [p.stat().st_mtime for p in (run / "chunks").glob("*.parquet")]
    return [(max([t for t in done if c["start"] <= t < end], default=c["start"]) - c["start"], c["workers"])
            for c, end in zip(calls, ends)]


def error_kinds(errors:pd.Series)->dict:
    "How many candidates failed with each message, its numbers replaced by #."
    return errors.dropna().str.replace(r"\d+(\.\d+)?", "#", regex=True).value_counts().to_dict()


def scale(n:int, relax:bool, workers:int=2, seed:int=13, chunk_size:int=256):
    "A large run (a rerun resumes it, a stopped call still counts): wall time, peak memory, table size, per-worker throughput."
    run = ROOT / "bench" / "_work" / f"scale_{n}_{'relax' if relax else 'norelax'}"
    spec = dict(n=n, seed=seed, min_atoms=24, max_atoms=108)
    (run / "chunks").mkdir(parents=True, exist_ok=True)
    with open(run / "calls.jsonl", "a") as f: f.write(json.dumps(dict(start=time.time(), workers=workers)) + "\n")
    client = start_client(n_workers=workers)
    try:
        table = screen(spec, run, ScreenSettings(relax=relax), chunk_size=chunk_size, client=client, progress=True)
        worker_rss = max(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).values())
    finally: close_client(client)
    with open(run / "peaks.jsonl", "a") as f:  # this call's peak memory; the run reports the largest of its calls
        f.write(json.dumps(dict(client_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, worker_mb=worker_rss / 1024)) + "\n")
    peaks = pd.read_json(run / "peaks.jsonl", lines=True).max()
    times = call_times(run)
    per_worker = n / sum(seconds * w for seconds, w in times)  # candidates per second per worker, over every call
    write(f"scale_{'relax' if relax else 'norelax'}", dict(
        n_candidates=n, relax=relax, calls=[dict(wall_s=seconds, workers=w) for seconds, w in times],
        wall_s=sum(seconds for seconds, _ in times), per_worker_per_s=per_worker,
        peak_rss_client_mb=float(peaks["client_mb"]), peak_rss_worker_mb=float(peaks["worker_mb"]),
        table_mb=(run / "screen.parquet").stat().st_size / 2**20, errors=int(table["error"].notna().sum()),
        error_kinds=error_kinds(table["error"]),
        hours_for_1e6_on_100_workers=1e6 / per_worker / 100 / 3600))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["prepare", "is2re", "throughput", "dask", "scale"])
    p.add_argument("--n", type=int); p.add_argument("--no-relax", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    if a.command == "prepare": prepare()
    elif a.command == "is2re": is2re(a.workers)
    elif a.command == "throughput": throughput(a.n or 16)
    elif a.command == "dask": dask_scaling(a.n or 2000, relax=not a.no_relax)
    else: scale(a.n or 100000, not a.no_relax, a.workers)
