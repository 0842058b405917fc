"""Accuracy figures of ensembles, the derivative loss and the inverse model on the V set.

Run ``python -m benchmarks.accuracy PART [PART ...]`` with parts

``ensemble``
    ``make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=5)``
    against one net: median Delta mu of the mean, share of held-out points
    within +-2 std (calibrated and raw), Spearman correlation between each
    spectrum's mean std and its Delta mu, and the fit's wall time.
``derivative``
    One net with ``derivative_weight`` 0 (pointwise loss), 1 and 4:
    median Delta mu and median |Delta E| of the prominent peaks.
``inverse``
    ``make_inverse_pipeline`` from the spectra to the 97 features, and a
    standardised ``RidgeCV`` baseline: median R^2 over features.
``fe-shell``
    The inverse model on the real Fe set from spectra to
    :class:`~xanesnet_sk.inverse.FirstShell`'s first-shell distance and
    coordination number, 5-fold cross-validated (``cross_val_predict``),
    against RidgeCV and the mean.
``small``
    ``xanesnet-sk validate --splits 5 --repeats 1 --seed 0`` (the CLI itself,
    default net) on the real Fe and S sets (``--unmatched drop`` for S),
    against a standardised ``RidgeCV`` and the mean spectrum under the same
    folds: overall median Delta mu.
``transfer``
    Transfer learning between absorbing elements
    (:class:`~xanesnet_sk.FineTunedRegressor`, one universal net with the
    absorber as an input): median Delta mu per method on Fe (the real set,
    spectra brought onto the V form: ``ArctanBroadening(energies=energies -
    7112.0)``, then each spectrum divided by the mean of its last 20 points)
    and S (``--unmatched drop``; ORCA spectra interpolated onto 226 points
    over their own 2395-2445 eV range), under ``KFold(5, shuffle=True,
    random_state=0)``, and on the V held-out split for the universal model
    against the V-only net.  Writes ``transfer.png`` beside ``--json``.
    ``--pretrained PATH`` reuses a V pipeline saved with ``joblib`` (fitted
    on the V training split) instead of fitting one.

All parts on the V set use ``train_test_split(x, y, test_size=250,
random_state=0)`` of ``tmqm_k_edge_v.npz`` (``--data`` or
``$XANESNET_SK_DATA``).  ``--json PATH`` saves the figures (into an existing
file: the parts run replace theirs, the others stay), each part with its
machine, date and the 1-minute load average (wall times on a shared machine grow
with its load).
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

#: transfer: the Fe training folds repeated this often in the universal net's training set
UNIVERSAL_OVERSAMPLE = 3


def _data_dir(arg):
    root = Path(arg or os.environ.get("XANESNET_SK_DATA", ""))
    if not root.is_dir():
        sys.exit("benchmarks.accuracy: pass --data DIR or set XANESNET_SK_DATA")
    return root


def _v_split(root):
    from sklearn.model_selection import train_test_split

    from xanesnet_sk import load_v_dataset

    data = load_v_dataset(root / "tmqm_k_edge_v.npz")
    split = train_test_split(data.features, data.spectra, test_size=250, random_state=0)
    return split, np.asarray(data.energies, float)


def part_ensemble(root, n_jobs):
    from scipy.stats import spearmanr

    from xanesnet_sk import delta_mu, make_xanesnet_pipeline
    from xanesnet_sk.ensemble import coverage

    (xtr, xte, ytr, yte), _ = _v_split(root)
    t = time.perf_counter()
    # n_jobs=None is the pipeline's default: one process per member, at most the cores
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=5, n_jobs=n_jobs)
    pipe.fit(xtr, ytr)
    fit_s = time.perf_counter() - t
    mean, std = pipe.predict(xte, return_std=True)
    ens = pipe[-1]
    dmu = delta_mu(yte, mean)
    members = ens.predict_members(pipe[:-1].transform(xte))
    return {
        "median_delta_mu_mean": float(np.median(dmu)),
        "median_delta_mu_members": [float(np.median(delta_mu(yte, m))) for m in members],
        "coverage_2std": coverage(yte, mean, std),
        "coverage_2std_raw": coverage(yte, mean, std / ens.std_scale_),
        "std_scale": ens.std_scale_,
        "spearman_std_vs_delta_mu": float(spearmanr(std.mean(axis=1), dmu).statistic),
        "fit_s": fit_s,
        "n_jobs": ens.n_jobs,
    }


def part_derivative(root, weights=(0.0, 1.0, 4.0)):
    from xanesnet_sk import delta_e, delta_mu, make_xanesnet_pipeline

    (xtr, xte, ytr, yte), e = _v_split(root)
    rows = []
    for w in weights:
        t = time.perf_counter()
        pipe = make_xanesnet_pipeline(featurise=False, random_state=0, derivative_weight=w)
        pipe.fit(xtr, ytr)
        pred = pipe.predict(xte)
        de = delta_e(yte, pred, e)
        errors = np.abs(de["e_pred"] - de["e_target"])
        rows.append({"derivative_weight": w,
                     "median_delta_mu": float(np.median(delta_mu(yte, pred))),
                     "mean_abs_delta_e_eV": float(de["mean"]),
                     "median_abs_delta_e_eV": float(np.median(errors)),
                     "max_abs_delta_e_eV": float(de["max"]),
                     "peak_hit_rate": float(de["hit_rate"]),
                     "fit_s": time.perf_counter() - t})
        print(rows[-1], flush=True)
    return rows


def _median_r2(y, pred):
    from sklearn.metrics import r2_score

    varying = np.ptp(y, axis=0) > 0
    return float(np.median(r2_score(y[:, varying], pred[:, varying],
                                    multioutput="raw_values"))), int((~varying).sum())


def part_inverse(root):
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xanesnet_sk.inverse import make_inverse_pipeline

    (xtr, xte, ytr, yte), _ = _v_split(root)
    t = time.perf_counter()
    inv = make_inverse_pipeline(random_state=0).fit(ytr, xtr)
    fit_s = time.perf_counter() - t
    r2, n_const = _median_r2(xte, inv.predict(yte))
    ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))).fit(ytr, xtr)
    r2_ridge, _ = _median_r2(xte, ridge.predict(yte))
    return {"median_r2": r2, "median_r2_ridge": r2_ridge, "constant_features_left_out": n_const,
            "fit_s": fit_s}


def part_fe_shell(root):
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xanesnet_sk import load_dataset
    from xanesnet_sk.inverse import FirstShell, make_inverse_pipeline

    fe = root / "fe_k_edge"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset(fe / "xyz", fe / "xanes")
    targets = FirstShell(absorber_element="Fe").fit_transform(data.structures)
    cv = KFold(5, shuffle=True, random_state=0)
    models = {
        "inverse net": make_inverse_pipeline(random_state=0),
        "RidgeCV": make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
        "mean": DummyRegressor(),
    }
    out = {"n": len(targets), "target_mean": targets.mean(0).tolist(),
           "target_std": targets.std(0).tolist()}
    for name, model in models.items():
        pred = cross_val_predict(model, data.spectra, targets, cv=cv)
        out[name] = {
            "r2": r2_score(targets, pred, multioutput="raw_values").tolist(),
            "mae": mean_absolute_error(targets, pred, multioutput="raw_values").tolist(),
        }
        print(name, out[name], flush=True)
    out["columns"] = ["first_shell_distance", "coordination_number"]
    return out


def part_small(root):
    import tempfile

    import pandas as pd
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import RepeatedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from wacsf import WACSFTransformer
    from xanesnet_sk import load_dataset
    from xanesnet_sk.cli import main as cli
    from xanesnet_sk.metrics import delta_mu

    out = {}
    for name in ("fe", "s"):
        xyz, xanes = root / f"{name}_k_edge" / "xyz", root / f"{name}_k_edge" / "xanes"
        unmatched = ["--unmatched", "drop"] if name == "s" else []
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "validation.csv"
            start = time.perf_counter()
            rc = cli(["validate", "--xyz", str(xyz), "--xanes", str(xanes), *unmatched,
                      "--splits", "5", "--repeats", "1", "--seed", "0", "--output", str(csv),
                      "-q"])
            seconds = time.perf_counter() - start
            if rc != 0:
                sys.exit(f"benchmarks.accuracy: validate failed on {name} (exit {rc})")
            table = pd.read_csv(csv).set_index("fold")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the S set's unmatched files and repeated lines
            data = load_dataset(xyz, xanes, on_unmatched="drop" if name == "s" else "raise")
        X, y = WACSFTransformer().fit_transform(data.structures), np.asarray(data.spectra)
        ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        dmu = []
        for train, test in RepeatedKFold(n_splits=5, n_repeats=1, random_state=0).split(X):
            dmu.append(delta_mu(y[test], ridge.fit(X[train], y[train]).predict(X[test])))
        out[name] = {
            "n": len(y), "net_median": float(table.loc["overall", "median"]),
            "mean_spectrum_median": float(table.loc["overall", "baseline_median"]),
            "ridgecv_median": float(np.median(np.concatenate(dmu))), "validate_s": seconds,
        }
        print(name, out[name], flush=True)
    return out


def _fe_v_form(root):
    """(features, spectra) of the real Fe set, spectra brought onto the V set's form."""
    from wacsf import WACSFTransformer
    from xanesnet_sk import load_dataset
    from xanesnet_sk.spectra import ArctanBroadening

    fe = load_dataset(root / "fe_k_edge" / "xyz", root / "fe_k_edge" / "xanes")
    y = ArctanBroadening(energies=np.asarray(fe.energies) - 7112.0).fit_transform(fe.spectra)
    return WACSFTransformer().fit_transform(fe.structures), y / y[:, -20:].mean(1, keepdims=True)


def _s_set(root, n_points=226):
    """(features, spectra) of the S set: unmatched files dropped, 226 points over its range."""
    from wacsf import WACSFTransformer
    from xanesnet_sk import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unmatched files, named in the warning
        s = load_dataset(root / "s_k_edge" / "xyz", root / "s_k_edge" / "xanes",
                         on_unmatched="drop")
    e = np.asarray(s.energies, float)
    grid = np.linspace(e[0], e[-1], n_points)
    y = np.stack([np.interp(grid, e, row) for row in s.spectra])
    return WACSFTransformer().fit_transform(s.structures), y


def _universal(random_state=0, elements=(16, 23, 26)):
    """One net for several absorbers: the element (last input column) one-hot encoded."""
    from sklearn.pipeline import Pipeline

    from xanesnet_sk import make_xanesnet_pipeline
    from xanesnet_sk.transfer import ElementEncoder

    pipe = make_xanesnet_pipeline(featurise=False, random_state=random_state)
    return Pipeline([("element", ElementEncoder(list(elements)))] + pipe.steps)


def part_transfer(root, pretrained=None, out_png=None, oversample=UNIVERSAL_OVERSAMPLE):
    import joblib
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xanesnet_sk import FineTunedRegressor, delta_mu, make_xanesnet_pipeline
    from xanesnet_sk.transfer import add_element_column

    (xtr, xte, ytr, yte), _ = _v_split(root)
    t = time.perf_counter()
    if pretrained:
        v_net = joblib.load(pretrained)
    else:
        v_net = make_xanesnet_pipeline(featurise=False, random_state=0).fit(xtr, ytr)
    out = {"v_pretrain_s": time.perf_counter() - t, "oversample": oversample}
    v_tr, v_te = add_element_column(xtr, 23), add_element_column(xte, 23)
    sets = {"Fe": (_fe_v_form(root), 26), "S": (_s_set(root), 16)}
    cv = KFold(5, shuffle=True, random_state=0)
    for name, ((X, y), z) in sets.items():
        methods = {
            "from scratch": lambda: make_xanesnet_pipeline(featurise=False, random_state=0),
            "RidgeCV": lambda: make_pipeline(StandardScaler(),
                                             RidgeCV(alphas=np.logspace(-3, 3, 13))),
            "fine-tuned from V": lambda: FineTunedRegressor(v_net, random_state=0),
        }
        res = {}
        for method, make in methods.items():
            t = time.perf_counter()
            dmu = [delta_mu(y[te], make().fit(X[tr], y[tr]).predict(X[te]))
                   for tr, te in cv.split(X)]
            res[method] = {"median_delta_mu": float(np.median(np.concatenate(dmu))),
                           "fold_medians": [float(np.median(d)) for d in dmu],
                           "seconds": time.perf_counter() - t}
            print(name, method, res[method], flush=True)
        if name == "Fe":  # one net over V (training split) + the Fe training folds
            t, dmu, v_med = time.perf_counter(), [], []
            Xz = add_element_column(X, z)
            for tr, te in cv.split(X):
                uni = _universal().fit(np.vstack([v_tr] + [Xz[tr]] * oversample),
                                       np.vstack([ytr] + [y[tr]] * oversample))
                dmu.append(delta_mu(y[te], uni.predict(Xz[te])))
                v_med.append(float(np.median(delta_mu(yte, uni.predict(v_te)))))
            res["universal (V+Fe)"] = {
                "median_delta_mu": float(np.median(np.concatenate(dmu))),
                "fold_medians": [float(np.median(d)) for d in dmu],
                "v_heldout_median_per_fold": v_med, "seconds": time.perf_counter() - t}
            print(name, "universal", res["universal (V+Fe)"], flush=True)
        out[name] = res
    out["V"] = {"V-only net": float(np.median(delta_mu(yte, v_net.predict(xte)))),
                "universal (V+Fe), median over the Fe folds' nets":
                    float(np.median(out["Fe"]["universal (V+Fe)"]["v_heldout_median_per_fold"]))}
    print("V", out["V"], flush=True)
    if out_png:
        _transfer_figure(out, out_png)
    return out


def _transfer_figure(out, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(el, {m: r["median_delta_mu"] for m, r in out[el].items()}) for el in ("Fe", "S")]
    panels.append(("V (held out)", dict(out["V"])))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (title, figures) in zip(axes, panels):
        names = list(figures)
        ax.barh(range(len(names)), [figures[n] for n in names], color="C0")
        ax.set_yticks(range(len(names)), [n.split(",")[0] for n in names], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel("median Delta mu (%)")
        for i, n in enumerate(names):
            ax.text(figures[n], i, f" {figures[n]:.2f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _machine():
    """CPU model and core count (the machine each part was measured on)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=["ensemble", "derivative", "inverse",
                                                      "fe-shell", "small", "transfer"])
    parser.add_argument("--data", help="folder with tmqm_k_edge_v.npz and fe_k_edge/")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="ensemble members in parallel (default: the pipeline's)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--pretrained", help="transfer: a joblib V pipeline to reuse")
    args = parser.parse_args(argv)
    root = _data_dir(args.data)
    results = {}
    for part in args.parts:
        start = {"machine": _machine(), "date": time.strftime("%Y-%m-%d"),
                 "load_1min_start": os.getloadavg()[0]}
        if part == "ensemble":
            results[part] = part_ensemble(root, args.n_jobs)
        elif part == "derivative":
            results[part] = part_derivative(root)
        elif part == "inverse":
            results[part] = part_inverse(root)
        elif part == "small":
            results[part] = part_small(root)
        elif part == "transfer":
            png = Path(args.json).with_name("transfer.png") if args.json else None
            results[part] = part_transfer(root, args.pretrained, png)
        else:
            results[part] = part_fe_shell(root)
        if isinstance(results[part], dict):
            results[part].update(start, load_1min_end=os.getloadavg()[0])
        print(part, json.dumps(results[part], indent=1), flush=True)
    if args.json:
        if Path(args.json).exists():  # parts not run this time keep their figures
            results = {**json.loads(Path(args.json).read_text()), **results}
        tmp = Path(args.json).with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
