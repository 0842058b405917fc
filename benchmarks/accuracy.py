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
    Transfer learning between absorbing elements: median Delta mu per method
    on Fe (the real set, spectra brought onto the V form:
    ``ArctanBroadening(energies=energies - 7112.0)``, then each spectrum
    divided by the mean of its last 20 points) and S (``--unmatched drop``;
    ORCA spectra interpolated onto 226 points over their own 2395-2445 eV
    range), under ``KFold(5, shuffle=True, random_state=0)``: ``RidgeCV``,
    the net from scratch, ``FineTunedRegressor`` (defaults) from the V net
    (and from a V ensemble of 5 with ``--pretrained-ensemble``), one
    universal net (``make_universal_pipeline``) over the V training split
    (+ all of Fe, for S) + the element's training folds repeated 3 times,
    and that net fine-tuned on the training fold (``FineTunedRegressor``
    defaults), with the V held-out median of each fold's universal net
    against the V-only net.  Every fit
    uses one torch thread.  Writes ``transfer.json`` and ``transfer.png``
    beside ``--json`` (the JSON after each method, ``"complete": false``
    until the end).  ``--pretrained PATH`` / ``--pretrained-ensemble PATH``
    reuse V models saved with ``joblib`` (fitted on the V training split),
    fitting and saving them there when absent.

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


def _cached(path, fit):
    """A fitted model from ``path`` (joblib) when it exists, else ``fit()`` saved there."""
    import joblib

    if path and Path(path).exists():
        return joblib.load(path), 0.0
    t = time.perf_counter()
    model = fit()
    if path:
        joblib.dump(model, path)
    return model, time.perf_counter() - t


def _cv_median(make, X, y, cv, fit_X=None):
    """Median Delta mu (all test spectra) and fold medians of ``make()`` under ``cv``."""
    from xanesnet_sk import delta_mu

    t, dmu = time.perf_counter(), []
    for tr, te in cv.split(X):
        model = make().fit(X[tr], y[tr]) if fit_X is None else fit_X(tr)
        dmu.append(delta_mu(y[te], model.predict(X[te])))
    return {"median_delta_mu": float(np.median(np.concatenate(dmu))),
            "fold_medians": [float(np.median(d)) for d in dmu],
            "seconds": time.perf_counter() - t}


def part_transfer(root, pretrained=None, pretrained_ensemble=None, save=None,
                  oversample=UNIVERSAL_OVERSAMPLE, n_ensemble=5, done=None):
    """Transfer between absorbing elements; ``save(out)`` is called after each method.

    ``done``: figures of an interrupted run (its ``transfer.json``); the
    methods that do not use the V models (RidgeCV, from scratch) are taken
    from it instead of being measured again.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xanesnet_sk import FineTunedRegressor, delta_mu, make_xanesnet_pipeline
    from xanesnet_sk.transfer import add_element_column, make_universal_pipeline

    (xtr, xte, ytr, yte), _ = _v_split(root)
    v_net, v_s = _cached(pretrained, lambda: make_xanesnet_pipeline(
        featurise=False, random_state=0, n_threads=1).fit(xtr, ytr))
    out = {"v_pretrain_s": v_s, "oversample": oversample,
           "folds": "KFold(5, shuffle=True, random_state=0)", "torch_threads": 1,
           "V": {"V-only net": float(np.median(delta_mu(yte, v_net.predict(xte))))}}
    v_ens = None
    if pretrained_ensemble:
        v_ens, out["v_ensemble_pretrain_s"] = _cached(pretrained_ensemble, lambda: (
            make_xanesnet_pipeline(featurise=False, random_state=0, n_threads=1,
                                   n_ensemble=n_ensemble, n_jobs=1).fit(xtr, ytr)))
        out["V"][f"V-only ensemble ({n_ensemble})"] = float(
            np.median(delta_mu(yte, v_ens.predict(xte))))
    v_tr, v_te = add_element_column(xtr, 23), add_element_column(xte, 23)
    sets = {"Fe": (_fe_v_form(root), 26), "S": (_s_set(root), 16)}
    others = {"Fe": [], "S": [(sets["Fe"][0], 26)]}  # S: transfer from V + Fe
    cv = KFold(5, shuffle=True, random_state=0)
    for name, ((X, y), z) in sets.items():
        res = out[name] = {}
        methods = {
            "RidgeCV": lambda: make_pipeline(StandardScaler(),
                                             RidgeCV(alphas=np.logspace(-3, 3, 13))),
            "from scratch": lambda: make_xanesnet_pipeline(featurise=False, random_state=0,
                                                           n_threads=1),
            "fine-tuned from V": lambda: FineTunedRegressor(v_net, random_state=0),
        }
        if v_ens is not None:
            methods[f"fine-tuned from a V ensemble ({n_ensemble})"] = (
                lambda: FineTunedRegressor(v_ens, random_state=0))
        for method, make in methods.items():
            earlier = ((done or {}).get(name) or {}).get(method)
            if earlier is not None and method in ("RidgeCV", "from scratch"):
                res[method] = dict(earlier, resumed=True)  # measured by the interrupted run
            else:
                res[method] = _cv_median(make, X, y, cv)
            print(name, method, res[method], flush=True)
            if save:
                save(out)
        # one net over V (training split) + the other sets + this set's training folds
        Xz = add_element_column(X, z)
        extra_x = [add_element_column(Xo, zo) for (Xo, _), zo in others[name]]
        extra_y = [yo for (_, yo), _ in others[name]]
        elements = sorted({23, z, *(zo for _, zo in others[name])})
        label = "universal (V+" + "+".join(
            ["Fe"] * bool(others[name]) + [name]) + ")"
        v_med, tuned = [], []

        def fit_universal(tr, Xz=Xz, y=y, extra_x=extra_x, extra_y=extra_y, elements=elements,
                          v_med=v_med, tuned=tuned):
            uni = make_universal_pipeline(elements, random_state=0, n_threads=1).fit(
                np.vstack([v_tr, *extra_x] + [Xz[tr]] * oversample),
                np.vstack([ytr, *extra_y] + [y[tr]] * oversample))
            v_med.append(float(np.median(delta_mu(yte, uni.predict(v_te)))))
            # the same net, fine-tuned on this element's training fold alone
            tuned.append(FineTunedRegressor(uni, random_state=0).fit(Xz[tr], y[tr]))
            return uni

        res[label] = _cv_median(None, Xz, y, cv, fit_X=fit_universal)
        res[label]["v_heldout_median_per_fold"] = v_med
        res[label]["seconds_incl_fine_tuning"] = res[label].pop("seconds")
        models = iter(tuned)
        res[label + ", then fine-tuned"] = _cv_median(None, Xz, y, cv,
                                                     fit_X=lambda tr, models=models: next(models))
        print(name, label + ", then fine-tuned", res[label + ", then fine-tuned"], flush=True)
        out["V"][f"{label}, median over the {name} folds' nets"] = float(np.median(v_med))
        print(name, label, res[label], flush=True)
        if save:
            save(out)
    print("V", out["V"], flush=True)
    return out


def _transfer_figure(out, path):
    """Median Delta mu per method, one panel per element; dashed: the issue's goals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"Fe": "Fe (110, V form), 5-fold", "S": "S (108), 5-fold", "V": "V (250 held out)"}
    panels = []
    for el in ("Fe", "S"):
        if out.get(el):
            figures = {m: r["median_delta_mu"] for m, r in out[el].items()}
            goal = 0.85 * figures["from scratch"] if "from scratch" in figures else None
            panels.append((titles[el], figures, goal, "0.85 x from scratch"))
    v = dict(out.get("V", {}))
    panels.append((titles["V"], v, v["V-only net"] + 0.1 if "V-only net" in v else None,
                   "V-only net + 0.1"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8))
    for ax, (title, figures, goal, goal_label) in zip(np.atleast_1d(axes), panels):
        names = list(figures)
        ax.barh(range(len(names)), [figures[n] for n in names], color="C0")
        ax.set_yticks(range(len(names)), [n.split(", median")[0] for n in names], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("median Delta mu (%)")
        for i, n in enumerate(names):
            ax.text(figures[n], i, f" {figures[n]:.2f}", va="center", fontsize=8)
        if goal is not None:
            ax.axvline(goal, color="C3", ls="--", lw=1, label=goal_label)
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xlim(0, 1.25 * max(figures.values()))
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
    parser.add_argument("--pretrained", help="transfer: the V pipeline (joblib), fitted on "
                                             "the V training split and saved there if absent")
    parser.add_argument("--pretrained-ensemble", help="transfer: likewise, the V ensemble")
    parser.add_argument("--resume", action="store_true",
                        help="transfer: keep the RidgeCV and from-scratch figures of an "
                             "interrupted run's transfer.json (marked resumed)")
    args = parser.parse_args(argv)
    root = _data_dir(args.data)
    results = {}
    command = "python -m benchmarks.accuracy " + " ".join(argv if argv is not None
                                                           else sys.argv[1:])
    for part in args.parts:
        start = {"machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "load_1min_start": os.getloadavg()[0], "command": command}
        if part == "ensemble":
            results[part] = part_ensemble(root, args.n_jobs)
        elif part == "derivative":
            results[part] = part_derivative(root)
        elif part == "inverse":
            results[part] = part_inverse(root)
        elif part == "small":
            results[part] = part_small(root)
        elif part == "transfer":
            def save(partial, start=start):
                if args.json:
                    path = Path(args.json).with_name("transfer.json")
                    _write_json(path, {**partial, **start, "complete": False,
                                       "load_1min_now": os.getloadavg()[0]})
            done = None
            partial = Path(args.json).with_name("transfer.json") if args.json else None
            if args.resume and partial is not None and partial.exists():
                done = json.loads(partial.read_text())
                start["resumed_from"] = {k: done.get(k) for k in ("date", "load_1min_start")}
            results[part] = part_transfer(root, args.pretrained, args.pretrained_ensemble, save,
                                          done=done)
        else:
            results[part] = part_fe_shell(root)
        if isinstance(results[part], dict):
            results[part].update(start, load_1min_end=os.getloadavg()[0])
        print(part, json.dumps(results[part], indent=1), flush=True)
        if part == "transfer" and args.json:  # its own file and figure
            results[part]["complete"] = True
            _write_json(Path(args.json).with_name("transfer.json"), results.pop(part))
            _transfer_figure(json.loads(Path(args.json).with_name("transfer.json").read_text()),
                             Path(args.json).with_name("transfer.png"))
    if args.json and results:
        if Path(args.json).exists():  # parts not run this time keep their figures
            results = {**json.loads(Path(args.json).read_text()), **results}
        _write_json(Path(args.json), results)


def _write_json(path, payload):
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


if __name__ == "__main__":
    main()
