"""The analysis verbs of ``xanesnet-sk``: feature importance, selection, wACSF studies.

::

    xanesnet-sk importance         permutation importance, whole spectrum + windows (Figs. 8-9)
    xanesnet-sk variance-sweep     performance vs share of features the variance filter drops
                                   (Fig. 6)
    xanesnet-sk select-from-model  performance vs number of most important features kept
                                   (Fig. 10)
    xanesnet-sk sfs                sequential feature selection, forward and/or backward
    xanesnet-sk wacsf-search       GridSearchCV over wACSF parameters (Figs. 3-5; structures)

Each verb reads ``--data FILE.npz`` or ``--xyz DIR --xanes DIR``, writes CSV
tables and PNG plots into ``--output DIR`` and shows progress.  CSV rows are
appended as each step finishes, so an interrupted run keeps what it finished;
the finished table (with the relative performance, which needs every row) then
replaces it.  Model options are those of ``learn`` (``--config``,
``--epochs``, ``--seed``); ``--model ridge`` swaps the net for a ridge
regression, for a quick first look.
"""

import os

import numpy as np
import pandas as pd

from ._cli_common import CLIError, common_parent, output_dir
from ._cli_data import add_data_options, load_data

__all__ = ["add_analysis_commands"]

_SCORE_LABEL = "-median delta mu (%)"


# ------------------------------------------------------------------ options


def _floats(text):
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"expected comma-separated numbers, got {text!r}") from None


def _add_common(parser, folds=5, repeats=5, variance_drop=True):
    from ._cli_fit import add_fit_options

    add_data_options(parser)
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="directory for the CSV tables and PNG plots (created if needed)")
    group = add_fit_options(parser)
    group.add_argument("--model", choices=["xanesnet", "ridge"], default="xanesnet",
                       help="the XANESNET net (default) or a ridge regression (fast, linear)")
    group.add_argument("--n-jobs", type=int, default=1, metavar="N",
                       help="parallel fits (folds); torch threads are shared out; default 1")
    cv = parser.add_argument_group("cross-validation")
    cv.add_argument("--folds", type=int, default=folds, metavar="K",
                    help=f"folds per repeat (default {folds})")
    cv.add_argument("--repeats", type=int, default=repeats, metavar="R",
                    help=f"repeats of the k-fold split (default {repeats}; paper 5 x 5)")
    if variance_drop:
        parser.add_argument(
            "--variance-drop", type=float, default=0.25, metavar="F",
            help="first drop this share of lowest-variance features, over all data, and carry "
                 "the rest forward as the paper does (default 0.25; 0 keeps all)")


def add_analysis_commands(subparsers, parent=None):
    """Register the analysis verbs on an ``argparse`` subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    parent : argparse.ArgumentParser, default=None
        Parent parser with the options every verb takes; default
        :func:`~xanesnet_sk._cli_common.common_parent`.
    """
    parent = common_parent() if parent is None else parent

    p = subparsers.add_parser(
        "importance", parents=[parent],
        help="permutation feature importance, whole spectrum and energy windows",
        description="Fit on all but --test-size of the data, then shuffle each feature of the "
                    "held-out part and record the rise of the median delta mu, over the whole "
                    "spectrum and in energy windows (XANESNET paper Figs. 8-9).")
    _add_common(p)
    p.add_argument("--test-size", type=float, default=0.2, metavar="F",
                   help="share of the data held out for the permutations (default 0.2)")
    p.add_argument("--n-repeats", type=int, default=5, metavar="N",
                   help="permutations per feature (default 5)")
    p.add_argument("--windows", default="edge=-3:3,post_edge=50:56", metavar="SPEC",
                   help="energy windows NAME=LO:HI, comma-separated, besides the whole "
                        "spectrum (default 'edge=-3:3,post_edge=50:56', eV)")
    p.set_defaults(func=run_importance)

    p = subparsers.add_parser(
        "variance-sweep", parents=[parent],
        help="performance vs share of features removed by the variance filter",
        description="Repeated k-fold CV of the pipeline with its variance filter set to remove "
                    "0, 25, 50, 75 %% of the features (XANESNET paper Fig. 6).")
    _add_common(p, variance_drop=False)
    p.add_argument("--fractions", default="0,0.25,0.5,0.75", metavar="LIST",
                   help="shares of features to remove (default 0,0.25,0.5,0.75)")
    p.set_defaults(func=run_variance_sweep)

    p = subparsers.add_parser(
        "select-from-model", parents=[parent],
        help="performance vs number of most important features kept",
        description="Rank the features by permutation importance (from --importance CSV, or "
                    "computed here on a held-out split) and cross-validate the pipeline on "
                    "the top k for k over a range (XANESNET paper Fig. 10).")
    _add_common(p)
    p.add_argument("--importance", metavar="CSV",
                   help="importance.csv written by 'xanesnet-sk importance' (default: compute)")
    p.add_argument("--fractions", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1", metavar="LIST",
                   help="shares of the features to keep, most important first")
    p.add_argument("--test-size", type=float, default=0.2, metavar="F",
                   help="held-out share for computing the importance (default 0.2)")
    p.add_argument("--n-repeats", type=int, default=5, metavar="N",
                   help="permutations per feature when computing the importance (default 5)")
    p.set_defaults(func=run_select_from_model)

    p = subparsers.add_parser(
        "sfs", parents=[parent],
        help="sequential feature selection (forward/backward) with its score path",
        description="sklearn's SequentialFeatureSelector around the pipeline; the score of "
                    "every step is recorded (XANESNET paper section III.C).  Expensive: one CV "
                    "per candidate feature per step; use few epochs and folds.")
    _add_common(p, folds=3, repeats=1)
    p.add_argument("--direction", choices=["forward", "backward", "both"], default="forward")
    p.add_argument("--n-features", default="auto", metavar="N",
                   help="features to select: an integer, a share (0-1) or 'auto' (half, or "
                        "stop by --tol); default auto")
    p.add_argument("--tol", type=float, default=None, metavar="T",
                   help="with --n-features auto: stop when a step gains less than T in score "
                        "(-median delta mu, %%)")
    p.set_defaults(func=run_sfs)

    p = subparsers.add_parser(
        "wacsf-search", parents=[parent],
        help="GridSearchCV over wACSF parameters (needs structures)",
        description="Cross-validate the pipeline over wACSF parameterisations with GridSearchCV "
                    "(XANESNET paper Figs. 3-5): g2_scheme, g4_scheme (shifted vs centred), "
                    "g2_g4_split (G2:G4 at 96 functions), zeta_max.")
    _add_common(p, variance_drop=False)
    p.add_argument("--study", action="append", metavar="NAME",
                   help="g2_scheme, g4_scheme, g2_g4_split, zeta_max or all (repeatable; "
                        "default g2_g4_split)")
    p.set_defaults(func=run_wacsf_search)


# ------------------------------------------------------------------ shared pieces


def _config(args, variance_drop=None):
    from ._cli_fit import _read_config

    config = _read_config(args)
    if variance_drop is not None:
        config = {**config, "preprocessing": {**config["preprocessing"],
                                              "variance_drop": variance_drop}}
    return config


def _build(args, featurise, variance_drop=None):
    """The pipeline of ``--model`` (featurising or not); ``variance_drop`` overrides the config."""
    if args.model == "ridge":
        from sklearn.feature_selection import SelectPercentile
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        from .selection import feature_variance

        drop = _config(args)["preprocessing"].get("variance_drop") if variance_drop is None \
            else variance_drop
        steps = []
        if featurise:
            from wacsf import WACSFTransformer

            steps.append(("wacsf", WACSFTransformer(**_config(args)["wacsf"])))
        steps += [("variance", SelectPercentile(feature_variance,
                                                percentile=100.0 * (1.0 - (drop or 0.0)))),
                  ("scale", StandardScaler()), ("model", Ridge(alpha=1.0))]
        return Pipeline(steps)
    from ._cli_fit import _prefix_of, build_pipeline
    from .model import XANESNetRegressor

    pipeline = build_pipeline(_config(args, variance_drop), featurise, seed=args.seed,
                              epochs=args.epochs)
    n_jobs = _n_jobs(args)
    if n_jobs > 1:
        prefix = _prefix_of(pipeline, XANESNetRegressor)
        pipeline.set_params(**{prefix + "n_threads": max(1, (os.cpu_count() or 1) // n_jobs)})
    return pipeline


def _n_jobs(args):
    return (os.cpu_count() or 1) if args.n_jobs == -1 else max(1, args.n_jobs)


def _cv(args):
    from sklearn.model_selection import KFold, RepeatedKFold

    if args.folds < 2:
        raise CLIError(f"--folds must be at least 2, got {args.folds}")
    if args.repeats < 1:
        raise CLIError(f"--repeats must be at least 1, got {args.repeats}")
    if args.repeats == 1:
        return KFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    return RepeatedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed)


def _features(args, data, report):
    """(features, names, structures or None) of the data set; structures are featurised once."""
    if data.kind == "structures":
        from wacsf import WACSFTransformer

        from ._cli_fit import featurise_once

        wacsf = WACSFTransformer(**_config(args)["wacsf"])
        return featurise_once(wacsf, data.X, report), wacsf.get_feature_names_out(), data.X
    X = np.asarray(data.X, dtype=float)
    names = data.feature_names
    if names is None:
        names = _default_names(data, X.shape[1])
    return X, np.asarray(names, dtype=object), None


def _default_names(data, n_features):
    """Feature names of a features-only file: from its wACSF parameters, or the paper's."""
    from wacsf import WACSFTransformer

    try:
        names = WACSFTransformer(**(data.wacsf_params or {})).get_feature_names_out()
    except (TypeError, ValueError):
        names = []
    if len(names) == n_features:
        return names
    return np.asarray([f"x{i}" for i in range(n_features)], dtype=object)


def _carry_forward(X, names, drop, report):
    """Drop the lowest-variance share ``drop`` of the features over all data (paper III.B)."""
    if not drop:
        return X, names
    if not 0 < drop < 1:
        raise CLIError(f"--variance-drop must be in [0, 1), got {drop}")
    from sklearn.feature_selection import SelectPercentile

    from .selection import feature_variance

    keep = SelectPercentile(feature_variance, percentile=100 * (1 - drop)).fit(X).get_support()
    report.say(f"variance filter: keeping {keep.sum()} of {keep.size} features "
               f"(dropped the {drop:.0%} with the lowest variance)")
    return X[:, keep], names[keep]


def _finish_csv(frame, path, report, label):
    frame.to_csv(path, index=False)
    report.wrote(label, path)


def _summary(frame, columns):
    return frame[[c for c in columns if c in frame.columns]]


def _importance(args, X, y, energies, names, report, windows=None):
    from sklearn.model_selection import train_test_split

    from .analysis import permutation_importance_table

    if not 0 < args.test_size < 1:
        raise CLIError(f"--test-size must be in (0, 1), got {args.test_size}")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, random_state=args.seed)
    model = _build(args, featurise=False, variance_drop=0.0)
    report.say(f"fitting on {len(X_train)} samples, permuting on {len(X_test)} held out")
    from ._cli_fit import fit_pipeline

    fit_pipeline(model, X_train, y_train, report)
    return permutation_importance_table(
        model, X_test, y_test, energies, windows=windows, feature_names=names,
        n_repeats=args.n_repeats, random_state=args.seed, n_jobs=_n_jobs(args))


def _relative_energies(data, report):
    """Energies relative to the edge: absolute grids on XANESNET's layout are shifted."""
    energies = np.asarray(data.energies, dtype=float)
    if energies.min() < 0:
        return energies
    e0 = data.extra.get("e0") if isinstance(data.extra, dict) else None
    if e0 is not None and np.isfinite(np.nanmedian(e0)):
        e0 = float(np.nanmedian(e0))
    elif energies.size == 226 and abs(energies[-1] - energies[0] - 75.0) < 1e-6:
        e0 = float(energies[0] + 15.0)  # XANESNET's grid: E0 - 15 ... E0 + 60 eV
    else:
        raise CLIError(f"{data.source}: the energies ({energies[0]:g} to {energies[-1]:g} eV) "
                       "are absolute and the edge is unknown: give spectra relative to the edge")
    report.say(f"energies are absolute: windows are taken relative to E0 = {e0:g} eV")
    return energies - e0


def _windows(spec):
    windows = {"whole": None}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        try:
            name, rng = part.split("=")
            lo, hi = (float(v) for v in rng.split(":"))
        except ValueError:
            raise CLIError(f"--windows: expected NAME=LO:HI, got {part!r}") from None
        windows[name.strip()] = (lo, hi)
    return windows


# ------------------------------------------------------------------ verbs


def run_importance(args, report):
    """``xanesnet-sk importance``."""
    from .analysis import radial_distances, window_difference
    from .analysis_plots import plot_g2_importance, plot_g4_importance, plot_window_difference

    data = load_data(args, report)
    out = output_dir(args.output, "--output")
    X, names, structures = _features(args, data, report)
    X, names = _carry_forward(X, names, args.variance_drop, report)
    windows = _windows(args.windows)
    table = _importance(args, X, data.y, _relative_energies(data, report), names, report,
                        windows)
    _finish_csv(table, out / "importance.csv", report, "importance table")
    distances = None
    if structures is not None:
        r_cut = _config(args)["wacsf"].get("r_cut", 6.0)
        distances = radial_distances(structures, r_cut=r_cut)
    else:
        report.say("features only (no structures): the G2 plot shows importance without the "
                   "radial distribution")
    plot_g2_importance(table, distances=distances, path=out / "importance_g2.png")
    report.wrote("G2 importance plot", out / "importance_g2.png")
    plot_g4_importance(table, path=out / "importance_g4.png")
    report.wrote("G4 importance plot", out / "importance_g4.png")
    others = [w for w in windows if w != "whole"]
    if len(others) >= 2:
        diff = window_difference(table, high=others[-1], low=others[0])
        _finish_csv(diff, out / "importance_window_difference.csv", report,
                    "window difference table")
        plot_window_difference(diff, path=out / "importance_window_difference.png")
        report.wrote("window difference plot", out / "importance_window_difference.png")
    whole = table[table["window"] == "whole"].sort_values("importance", ascending=False)
    report.table(_summary(whole.head(10), ["feature", "importance", "relative_importance"]),
                 title="most important features (whole spectrum; median delta mu rise, %-points)")
    return 0


def run_variance_sweep(args, report):
    """``xanesnet-sk variance-sweep``."""
    from .analysis import variance_sweep
    from .analysis_plots import plot_variance_sweep

    data = load_data(args, report)
    out = output_dir(args.output, "--output")
    X, names, _ = _features(args, data, report)
    model = _build(args, featurise=False, variance_drop=0.0)
    path = out / "variance_sweep.csv"
    sweep = variance_sweep(model, X, data.y, _floats(args.fractions), feature_names=names,
                           cv=_cv(args), n_jobs=_n_jobs(args), csv_path=path,
                           progress=not report.quiet)
    _finish_csv(sweep, path, report, "variance sweep table")
    plot_variance_sweep(sweep, path=out / "variance_sweep.png")
    report.wrote("variance sweep plot", out / "variance_sweep.png")
    report.table(_summary(sweep, ["fraction_removed", "n_kept", "n_g2", "n_g4", "score_mean",
                                  "score_std", "relative_performance"]),
                 title=f"variance sweep (score: {_SCORE_LABEL})")
    return 0


def run_select_from_model(args, report):
    """``xanesnet-sk select-from-model``."""
    from .analysis import select_from_model_curve
    from .analysis_plots import plot_select_from_model

    data = load_data(args, report)
    out = output_dir(args.output, "--output")
    X, names, _ = _features(args, data, report)
    X, names = _carry_forward(X, names, args.variance_drop, report)
    if args.importance:
        from ._cli_common import existing_file

        table = pd.read_csv(existing_file(args.importance, "--importance", (".csv",)))
        missing = set(names) - set(table["feature"])
        if missing:
            raise CLIError(f"--importance {args.importance!r} has no row for {len(missing)} "
                           f"feature(s) of these data, e.g. {sorted(missing)[0]!r}")
    else:
        table = _importance(args, X, data.y, data.energies, names, report,
                            windows={"whole": None})
        _finish_csv(table, out / "importance.csv", report, "importance table")
    n = len(names)
    ks = sorted({min(n, max(1, int(round(f * n)))) for f in _floats(args.fractions)})
    path = out / "select_from_model.csv"
    curve = select_from_model_curve(
        _build(args, featurise=False, variance_drop=0.0), X, data.y, table, ks,
        feature_names=names, cv=_cv(args), n_jobs=_n_jobs(args), csv_path=path,
        progress=not report.quiet)
    _finish_csv(curve, path, report, "select-from-model table")
    plot_select_from_model(curve, path=out / "select_from_model.png")
    report.wrote("select-from-model plot", out / "select_from_model.png")
    report.table(_summary(curve, ["k", "n_g2", "n_g4", "score_mean", "relative_performance"]),
                 title=f"select from model (score: {_SCORE_LABEL})")
    return 0


def _n_features(text):
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise CLIError(f"--n-features must be an integer, a share or 'auto', got {text!r}") \
            from None
    return int(value) if value >= 1 else value


def run_sfs(args, report):
    """``xanesnet-sk sfs``."""
    from sklearn.model_selection import cross_val_score

    from .analysis import sequential_selection
    from .analysis_plots import plot_sequential_selection
    from .metrics import make_delta_mu_scorer

    data = load_data(args, report)
    out = output_dir(args.output, "--output")
    X, names, _ = _features(args, data, report)
    X, names = _carry_forward(X, names, args.variance_drop, report)
    model = _build(args, featurise=False, variance_drop=0.0)
    cv = _cv(args)
    directions = ["forward", "backward"] if args.direction == "both" else [args.direction]
    paths = {}
    for direction in directions:
        path = out / f"sfs_{direction}.csv"
        result = sequential_selection(
            model, X, data.y, direction=direction,
            n_features_to_select=_n_features(args.n_features), tol=args.tol,
            feature_names=names, cv=cv, n_jobs=_n_jobs(args), csv_path=path,
            progress=not report.quiet)
        _finish_csv(result["path"], path, report, f"SFS {direction} path")
        _finish_csv(result["selected"], out / f"sfs_{direction}_selected.csv", report,
                    f"SFS {direction} selected features")
        paths[direction] = result["path"]
        kinds = result["selected"]["kind"].value_counts().to_dict()
        best = result["path"]["score_mean"].iloc[-1] if len(result["path"]) else float("nan")
        report.say(f"SFS {direction}: {int(result['support'].sum())} features selected "
                   f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
                   f"CV score {best:.3f} ({_SCORE_LABEL})")
    baseline = float(np.mean(cross_val_score(model, X, data.y, cv=cv,
                                             scoring=make_delta_mu_scorer(),
                                             n_jobs=_n_jobs(args))))
    report.say(f"all {len(names)} features: CV score {baseline:.3f}")
    plot_sequential_selection(paths, baseline=baseline, score_label=_SCORE_LABEL,
                              path=out / "sfs.png")
    report.wrote("SFS plot", out / "sfs.png")
    return 0


def run_wacsf_search(args, report):
    """``xanesnet-sk wacsf-search``."""
    from .analysis import WACSF_STUDIES, wacsf_search
    from .analysis_plots import plot_wacsf_search

    data = load_data(args, report)
    if data.kind != "structures":
        raise CLIError("wacsf-search needs structures (--xyz DIR --xanes DIR, or an .npz of "
                       f"structures); {data.source} holds precomputed features")
    out = output_dir(args.output, "--output")
    studies = args.study or ["g2_g4_split"]
    if "all" in studies:
        studies = list(WACSF_STUDIES)
    for study in studies:
        if study not in WACSF_STUDIES:
            raise CLIError(f"--study {study!r}: choose from {', '.join(WACSF_STUDIES)} or all")
    if len(data) < 300:
        report.say(f"note: {len(data)} samples is small for telling wACSF settings apart; "
                   "compare the differences with score_std")
    model = _build(args, featurise=True, variance_drop=0.0)
    for study in studies:
        path = out / f"wacsf_{study}.csv"
        results = wacsf_search(model, data.X, data.y, study, cv=_cv(args), n_jobs=_n_jobs(args),
                               csv_path=path, progress=not report.quiet)
        results.insert(0, "study", study)
        _finish_csv(results, path, report, f"wACSF {study} table")
        plot_wacsf_search(results, title=study, path=out / f"wacsf_{study}.png")
        report.wrote(f"wACSF {study} plot", out / f"wacsf_{study}.png")
        report.table(_summary(results, ["label", "score_mean", "score_std",
                                        "relative_performance"]),
                     title=f"wACSF {study} (score: {_SCORE_LABEL})")
    return 0
