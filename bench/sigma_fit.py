"""Which objective and family should fit the σ calibration (s, b of σ' = s·σ_ref·(σ/σ_ref)^b)? The shipped fit (NLL,
Gaussian or Student-t chosen by it) against a Gaussian NLL fit and a Gaussian fit that minimises the miscalibration
area, each with and without the power b.

Fitted on the out-of-fold CV table of a shipped property (`figures/metrics/<property>_cv.csv`) and scored two ways:
nested CV (`nested_calibration`: each host-group fifth calibrated by a fit on the other four, pooled, averaged over
`--repeats` fold draws) and the shipped model's test split (fit on the whole CV table). Prints, per objective,
50 % and 90 % coverage, miscalibration area and NLL, and the area ratio against the shipped fit measured in the
same run; then the shipped network's median raw σ and MAE over the fold networks' on the same validation cells.

    python bench/sigma_fit.py [--properties log10_bulk_modulus ...]   # default: every property of --data with a CV table
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize_scalar

from nirich_cgcnn.data import load_folder, read_id_prop
from nirich_cgcnn.model import load_checkpoint
from nirich_cgcnn.uncertainty import (IDENTITY_CALIBRATION, apply_calibration, evaluate, fit_sigma_calibration,
                                      miscalibration_area, nested_calibration, regression_metrics)


def fit_area(table, power:bool=True):
    "Gaussian `sigma_scale`, `sigma_power`, `sigma_reference` minimising the miscalibration area (b on a grid, s bounded)."
    y, mu, sigma = (table[c].to_numpy(float) for c in ('target', 'mu', 'sigma'))
    reference = float(np.median(sigma))
    best = None
    for b in (np.linspace(0.25, 3, 23) if power else [1.0]):
        shaped = reference * (sigma / reference) ** b
        r = minimize_scalar(lambda log_s: miscalibration_area(y, mu, np.exp(log_s) * shaped), bounds=(-5, 3),
                            method='bounded')
        if best is None or r.fun < best[0]: best = (r.fun, float(np.exp(r.x)), float(b))
    return {'sigma_scale': best[1], 'sigma_power': best[2], 'sigma_reference': reference}


def fit_nll(table, **kw): return fit_sigma_calibration(table['target'], table['mu'], table['sigma'], **kw)

FITS = {'nll_power_family (shipped)': fit_nll,
        'nll_power_gaussian': lambda t: fit_nll(t, dofs=(np.inf,)),
        'nll_scale_gaussian': lambda t: fit_nll(t, power=False, dofs=(np.inf,)),
        'area_power': fit_area, 'area_scale': lambda t: fit_area(t, False)}


SCORES = ('coverage_50', 'coverage_90', 'miscalibration_area', 'nll')


def shipped_table(property, data_dir, models_dir, split:str='test'):
    "Uncalibrated predictions of the shipped model on one of its saved splits."
    model = load_checkpoint(f'{models_dir}/{property}.pt')
    model.meta.update(IDENTITY_CALIBRATION)
    ds = load_folder(data_dir, property, skip_unlabelled=True)
    return evaluate(model, ds.subset([ds.ids.index(i) for i in model.meta['split'][split]]))[1]


def sigma_level(property, data_dir, models_dir, figures_dir):
    """Shipped network over the fold networks (CV table) on the same validation cells: median raw σ and MAE. A
    calibration fitted on the folds' σ carries over to the shipped network only if the σ ratio is near 1."""
    cv = pd.read_csv(f'{figures_dir}/metrics/{property}_cv.csv').set_index('id')
    shipped = shipped_table(property, data_dir, models_dir, 'val').set_index('id')
    folds = cv.loc[shipped.index]
    return dict(sigma=float(shipped['sigma'].median() / folds['sigma'].median()),
                mae=regression_metrics(shipped)['mae'] / regression_metrics(folds)['mae'])


def compare(property, data_dir, models_dir, figures_dir, repeats):
    "One row per objective: nested-CV and test scores."
    cv = pd.read_csv(f'{figures_dir}/metrics/{property}_cv.csv')
    groups = pd.read_csv(f'{data_dir}/id_prop.csv').set_index('id').loc[cv['id'], 'group'].to_numpy()
    test = shipped_table(property, data_dir, models_dir)
    rows = []
    for name, fit in FITS.items():
        nested = nested_calibration(cv, groups, repeats=repeats, fit=fit)
        calibration = fit(cv)
        scored = regression_metrics(apply_calibration(test, calibration))
        rows.append(dict(property=property, objective=name, power=calibration['sigma_power'], dof=calibration.get('sigma_dof'),
                         **{f'nested_{k}': nested[k] for k in SCORES}, **{f'test_{k}': scored[k] for k in SCORES}))
    table = pd.DataFrame(rows)
    shipped = table.iloc[0]
    for split in ('nested', 'test'):
        table[f'{split}_area_vs_shipped'] = table[f'{split}_miscalibration_area'] / shipped[f'{split}_miscalibration_area']
    return table


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--properties', nargs='+', help='default: every property of --data with a CV table in <figures>/metrics')
    ap.add_argument('--data', default='data/nirich/cgcnn')
    ap.add_argument('--models', default='nirich_cgcnn/models')
    ap.add_argument('--figures', default='figures')
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with_cv = sorted(path.stem.removesuffix('_cv') for path in Path(a.figures, 'metrics').glob('*_cv.csv'))
    properties = a.properties or [p for p in with_cv if p in read_id_prop(a.data).columns]
    for p in properties:
        print(compare(p, a.data, a.models, a.figures, a.repeats).to_string(index=False, float_format='%.3f'))
        level = sigma_level(p, a.data, a.models, a.figures)
        print(f"{p}: shipped network / fold networks on the validation cells: median raw σ {level['sigma']:.2f}, "
              f"MAE {level['mae']:.2f}", flush=True)
