"""Defect formation energies of the CGCNN pipeline against CHGNet, and whether their σ is calibrated.

(a) Held-out pairs of the dataset (always; ~1 min): every defect cell of the model's validation and test groups
    (`--model`: a shipped checkpoint, default `defect_energy`, the default of `defect_energies`) with the pristine host of its group (both CHGNet-relaxed, positions and cell), sites
    matched by `defects.match_sites`, E_f at Δμ = 0 (n_d ΔH_f,d − n_h ΔH_f,h) from paired MC-dropout samples against
    CHGNet's labels. Per class: MAE and Spearman ρ between model and CHGNet E_f within the class; per split: 90 %
    coverage (Gaussian) of `sigma` (naive √(σ_d² + σ_h²) of the calibrated per-cell σ), `sigma_paired` (spread of
    the shared-mask samples) and `sigma_unpaired` (the same samples taken as independent), and the factor the paired
    σ would need on the validation split, applied to the test split. Pristine duplicates of a group are left out.
(b) Generated defects on held-out hosts (`--oracle-hosts N`, default 2; 0 skips it; minutes): the smallest pristine
    host of each of N families among the test groups, its symmetry-distinct defects (`enumerate_defects`, at most
    `--per-kind` of each kind) relaxed and predicted by `defect_energies` (CGCNN potential, positions only at the
    relaxed host lattice) against the CHGNet oracle on the same unrelaxed cells (host relaxed with its cell, defects
    positions only). Per class MAE and within-class Spearman ρ (over all defects of the class, every host).
Prints the numbers and writes figures/bench_defects.json.
Usage: python bench/defects.py [--model defect_energy] [--n-dropout 25] [--oracle-hosts 2] [--per-kind 3] [--dopants Al Mg] [--steps 300]
"""
import os
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[_var] = '1'  # before numpy: one thread
import argparse, json, time, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from nirich_cgcnn.data import read_cif
from nirich_cgcnn.defects import apply_ops, defect_energies, enumerate_defects
from nirich_cgcnn.paired import match_sites, pair_statistics, paired_samples
from nirich_cgcnn.thermo import references_of
from nirich_cgcnn.model import load_checkpoint, shipped_checkpoint

ROOT = Path(__file__).parents[1]
DATA = ROOT / 'data' / 'nirich'
Z90 = stats.norm.ppf(0.95)


def heldout_pairs(model, split:str, n_dropout:int, seed:int=0):
    "One row per defect cell of the split's groups: model and CHGNet E_f at Δμ = 0 and the three σ."
    labels = pd.read_csv(DATA / 'labels.csv').set_index('id')
    table = labels.loc[model.meta['split'][split]]
    rows = []
    for group, cells in table.groupby('group'):
        pristine = cells.index[cells['defect_class'] == 'pristine']
        if not len(pristine): continue
        hid = pristine[0]
        ids = [i for i in cells.index if cells.loc[i, 'defect_class'] != 'pristine']
        host = read_cif(DATA / 'cgcnn' / f'{hid}.cif')
        structures = [read_cif(DATA / 'cgcnn' / f'{i}.cif') for i in ids]
        keys = [match_sites(host, s) for s in structures]
        st = pair_statistics(model, paired_samples(model, host, structures, keys, n_dropout, seed), [len(host)] + [len(s) for s in structures])
        for k, (i, s) in enumerate(zip(ids, structures)):
            fe = lambda j: labels.loc[j, 'formation_energy_per_atom']
            rows.append(dict(split=split, id=i, host=hid, family=cells.loc[i, 'family'], defect_class=cells.loc[i, 'defect_class'],
                             n_host=len(host), n_defect=len(s), E_f_chgnet=len(s) * fe(i) - len(host) * fe(hid),
                             E_f=st['diff_mean'][k], sigma=st['sigma'][k], sigma_paired=st['sigma_paired'][k],
                             sigma_unpaired=st['sigma_unpaired'][k],
                             max_displacement=float(np.max(np.linalg.norm(((s.frac_coords - host.frac_coords[keys[k]] + 0.5) % 1 - 0.5) @ host.lattice.matrix, axis=1)))))
    return pd.DataFrame(rows)


def per_class(table:pd.DataFrame, model_col:str, ref_col:str, cls:str):
    "{class: n, MAE, Spearman ρ (within the class)} and the overall row."
    out = {}
    for name, t in [*table.groupby(cls), ('all', table)]:
        rho = stats.spearmanr(t[model_col], t[ref_col])[0] if len(t) > 2 else float('nan')
        out[str(name)] = dict(n=int(len(t)), mae=float((t[model_col] - t[ref_col]).abs().mean()), spearman=float(rho))
    return out


def coverage(table:pd.DataFrame):
    "Per split and σ: 90 % coverage, mean σ, Spearman of |error| with σ; the paired σ's factor fitted on val, applied to test."
    err = (table['E_f'] - table['E_f_chgnet']).abs()
    out = {}
    for split, t in table.groupby('split'):
        e = err[t.index]
        out[split] = {c: dict(coverage_90=float((e <= Z90 * t[c]).mean()), mean_sigma=float(t[c].mean()),
                              spearman_abs_error=float(stats.spearmanr(e, t[c])[0])) for c in ('sigma', 'sigma_paired', 'sigma_unpaired')}
        out[split]['per_class_coverage_90'] = {c: {k: float((err[g.index] <= Z90 * g[c]).mean()) for k, g in t.groupby('defect_class')}
                                               for c in ('sigma', 'sigma_paired')}
    val, test = table[table['split'] == 'val'], table[table['split'] == 'test']
    factor = float(np.quantile(err[val.index] / val['sigma_paired'], 0.9) / Z90)
    out['paired_factor_fitted_on_val'] = factor
    out['test_coverage_90_of_factor_x_paired'] = float((err[test.index] <= Z90 * factor * test['sigma_paired']).mean())
    return out


def oracle_defects(model, host_ids:list, dopants:list, per_kind:int, n_dropout:int, steps:int, references:dict):
    "Per defect of each host: model E_f (potential-relaxed cells) and CHGNet E_f (oracle-relaxed), both at Δμ = 0."
    from nirich_cgcnn.oracle import oracle_calculator, relax as oracle_relax
    calc = oracle_calculator(threads=1)
    zero = {el: 0.0 for el in references['mu']}
    rows, mu = [], references['mu']
    for hid in host_ids:
        host = read_cif(DATA / 'cgcnn' / f'{hid}.cif')
        t0 = time.time()
        table = defect_energies(host, dopants, (1, 1, 1), mu={'reference': zero}, n_dropout=n_dropout, steps=steps,
                                references=references, model=model, max_per_kind=per_kind)
        t_model = time.time() - t0
        sc, specs = enumerate_defects(host, dopants, (1, 1, 1), max_per_kind=per_kind)
        t0 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            h = oracle_relax(sc, fmax=0.05, steps=steps, relax_cell=True, calc=calc)
            from pymatgen.io.ase import AseAtomsAdaptor
            relaxed_host = AseAtomsAdaptor.get_structure(h['atoms'])
            for s, row in zip(specs, table.itertuples()):
                assert s.defect == row.defect
                d = oracle_relax(apply_ops(relaxed_host, s.ops), fmax=0.05, steps=steps, relax_cell=False, calc=calc)
                e_f = d['energy'] - h['energy'] - sum(n * mu[el] for el, n in s.changes.items())
                rows.append(dict(host=hid, defect=s.defect, kind=s.kind, separation=s.separation, E_f=row.E_f, sigma=row.sigma,
                                 sigma_paired=row.sigma_paired, E_f_potential=row.E_f_potential, E_f_chgnet=e_f,
                                 chgnet_converged=d['converged'], model_converged=row.relax_converged))
        print(f'  {hid}: {len(specs)} defects, model {t_model:.0f} s, CHGNet {time.time() - t0:.0f} s', flush=True)
    return pd.DataFrame(rows)


def kind_class(row):
    "Class of a generated defect for the per-class numbers: v_Li, v_TM, v_O, dopant on Li/TM, antisite."
    if row['kind'] == 'vacancy': el = row['defect'].split('_')[1].split('#')[0]; return 'v_Li' if el == 'Li' else 'v_O' if el in ('O', 'F') else 'v_TM'
    if row['kind'] == 'substitution': return 'dopant on Li' if row['defect'].split('_')[1].split('#')[0] == 'Li' else 'dopant on TM'
    return 'antisite'


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n-dropout', type=int, default=25); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--oracle-hosts', type=int, default=2); p.add_argument('--per-kind', type=int, default=3)
    p.add_argument('--dopants', nargs='*', default=['Al', 'Mg']); p.add_argument('--steps', type=int, default=300)
    p.add_argument('--max-host-atoms', type=int, default=24)
    p.add_argument('--model', default='defect_energy', help='shipped checkpoint name (formation_energy_per_atom: the per-cell ensemble)')
    p.add_argument('--out', default=str(ROOT / 'figures' / 'bench_defects.json'))
    a = p.parse_args()
    torch.set_num_threads(1)
    model = load_checkpoint(shipped_checkpoint(a.model))
    t0 = time.time()
    pairs = pd.concat([heldout_pairs(model, s, a.n_dropout, a.seed) for s in ('val', 'test')], ignore_index=True)
    result = dict(settings=vars(a), heldout=dict(
        n_pairs={s: int((pairs['split'] == s).sum()) for s in ('val', 'test')},
        median_max_displacement_A=float(pairs['max_displacement'].median()),
        test_per_class=per_class(pairs[pairs['split'] == 'test'], 'E_f', 'E_f_chgnet', 'defect_class'),
        coverage=coverage(pairs), seconds=time.time() - t0))
    h = result['heldout']
    print(f"(a) held-out dataset pairs: {h['n_pairs']} (val, test), {h['seconds']:.0f} s")
    for c, v in h['test_per_class'].items(): print(f"    test {c:12s} n {v['n']:3d}  MAE {v['mae']:.3f} eV  Spearman {v['spearman']:.2f}")
    for s in ('val', 'test'):
        for c in ('sigma', 'sigma_paired', 'sigma_unpaired'):
            v = h['coverage'][s][c]
            print(f"    {s:4s} {c:15s} 90 % coverage {v['coverage_90']:.3f}  mean σ {v['mean_sigma']:.3f} eV  ρ(|err|, σ) {v['spearman_abs_error']:.2f}")
    print(f"    paired σ needs ×{h['coverage']['paired_factor_fitted_on_val']:.2f} (val) → test coverage {h['coverage']['test_coverage_90_of_factor_x_paired']:.3f}")
    if a.oracle_hosts > 0:
        labels = pd.read_csv(DATA / 'labels.csv').set_index('id')
        test = labels.loc[model.meta['split']['test']]
        hosts = test[(test['defect_class'] == 'pristine') & (test['n_atoms'] <= a.max_host_atoms)].sort_values(['n_atoms', 'family'])
        host_ids = hosts.groupby('family').head(1).index[:a.oracle_hosts].tolist()
        print(f'(b) generated defects on held-out hosts {host_ids} vs the CHGNet oracle')
        refs = references_of()
        t0 = time.time()
        gen = oracle_defects(model, host_ids, a.dopants, a.per_kind, a.n_dropout, a.steps, refs)
        gen['class'] = gen.apply(kind_class, axis=1)
        err = (gen['E_f'] - gen['E_f_chgnet']).abs()
        result['oracle'] = dict(hosts=host_ids, n_defects=int(len(gen)), per_class=per_class(gen, 'E_f', 'E_f_chgnet', 'class'),
                                potential_per_class=per_class(gen, 'E_f_potential', 'E_f_chgnet', 'class'),
                                coverage_90=dict(sigma=float((err <= Z90 * gen['sigma']).mean()), sigma_paired=float((err <= Z90 * gen['sigma_paired']).mean())),
                                rows=gen.round(4).to_dict('records'), seconds=time.time() - t0)
        o = result['oracle']
        for c, v in o['per_class'].items():
            pv = o['potential_per_class'][c]
            print(f"    {c:13s} n {v['n']:3d}  model MAE {v['mae']:.3f} eV ρ {v['spearman']:.2f} | potential MAE {pv['mae']:.3f} eV ρ {pv['spearman']:.2f}")
        print(f"    90 % coverage: sigma {o['coverage_90']['sigma']:.3f}, sigma_paired {o['coverage_90']['sigma_paired']:.3f}")
    Path(a.out).write_text(json.dumps(result, indent=1, default=float))
    print(f'wrote {a.out}')


if __name__ == '__main__':
    main()
