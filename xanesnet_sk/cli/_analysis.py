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
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import (
    CLIError,
    StagedOutputs,
    add_cv_options,
    add_output_option,
    common_parent,
    output_dir,
    refuse_existing,
)
from ._data import add_data_options, load_data

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["add_analysis_commands"]

_SCORE_LABEL = "-median delta mu (%)"

#: Appended to every analysis verb's description.
_NOTES = ("  Existing output files are kept unless --overwrite; the finished tables and plots "
          "appear only when the verb succeeds (rows of a running study go to NAME.partial.csv "
          "meanwhile).  --model names an estimator, not a file: these verbs load no model "
          "file (model files written by 'learn' are joblib pickles, and loading one runs "
          "code).")


# ------------------------------------------------------------------ options


def _floats(text):
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"expected comma-separated numbers, got {text!r}") from None


def _add_common(parser, folds=5, repeats=5, variance_drop=True):
    from ._fit import add_fit_options

    add_data_options(parser)
    add_output_option(parser, "DIR",
                      "directory for the CSV tables and PNG plots (created if needed)")
    group = add_fit_options(parser, ensemble=False)
    group.add_argument("--model", choices=["xanesnet", "ridge"], default="xanesnet",
                       help="the XANESNET net (default) or a ridge regression (fast, linear)")
    group.add_argument("--n-jobs", type=int, default=1, metavar="N",
                       help="parallel fits (folds); torch threads are shared out; default 1")
    add_cv_options(parser.add_argument_group("cross-validation"), folds, repeats,
                   flag="--folds", note="; paper 5 x 5")
    if variance_drop:
        parser.add_argument(
            "--variance-drop", type=float, default=0.25, metavar="F",
            help="first drop this share of lowest-variance features, over all data, and carry "
                 "the rest forward as the paper does (default 0.25; 0 keeps all)")


def _add_permutation_options(parser, held_out_for, when):
    """``--test-size`` and ``--n-repeats`` of the permutation importance."""
    parser.add_argument("--test-size", type=float, default=0.2, metavar="F",
                        help=f"share of the data held out for {held_out_for} (default 0.2)")
    parser.add_argument("--n-repeats", type=int, default=5, metavar="N",
                        help=f"permutations per feature{when} (default 5)")


def add_analysis_commands(subparsers, parent=None):
    """Register the analysis verbs on an ``argparse`` subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    parent : argparse.ArgumentParser, default=None
        Parent parser with the options every verb takes; default
        :func:`~xanesnet_sk.cli._common.common_parent`.
    """
    parent = common_parent() if parent is None else parent

    p = subparsers.add_parser(
        "importance", parents=[parent],
        help="permutation feature importance, whole spectrum and energy windows",
        description="Fit on all but --test-size of the data, then shuffle each feature of the "
                    "held-out part and record the rise of the median delta mu, over the whole "
                    "spectrum and in energy windows (XANESNET paper Figs. 8-9)." + _NOTES)
    _add_common(p)
    _add_permutation_options(p, "the permutations", "")
    p.add_argument("--windows", default="edge=-3:3,post_edge=50:56", metavar="SPEC",
                   help="energy windows NAME=LO:HI, comma-separated, besides the whole "
                        "spectrum (default 'edge=-3:3,post_edge=50:56', eV)")
    p.set_defaults(func=run_importance)

    p = subparsers.add_parser(
        "variance-sweep", parents=[parent],
        help="performance vs share of features removed by the variance filter",
        description="Repeated k-fold CV of the pipeline with its variance filter set to remove "
                    "0, 25, 50, 75 %% of the features (XANESNET paper Fig. 6)." + _NOTES)
    _add_common(p, variance_drop=False)
    p.add_argument("--fractions", default="0,0.25,0.5,0.75", metavar="LIST",
                   help="shares of features to remove (default 0,0.25,0.5,0.75)")
    p.set_defaults(func=run_variance_sweep)

    p = subparsers.add_parser(
        "select-from-model", parents=[parent],
        help="performance vs number of most important features kept",
        description="Rank the features by permutation importance (from --importance CSV, or "
                    "computed here on a held-out split) and cross-validate the pipeline on "
                    "the top k for k over a range (XANESNET paper Fig. 10)." + _NOTES)
    _add_common(p)
    p.add_argument("--importance", metavar="CSV",
                   help="importance.csv written by 'xanesnet-sk importance' (default: compute)")
    p.add_argument("--fractions", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1", metavar="LIST",
                   help="shares of the features to keep, most important first")
    _add_permutation_options(p, "computing the importance", " when computing the importance")
    p.set_defaults(func=run_select_from_model)

    p = subparsers.add_parser(
        "sfs", parents=[parent],
        help="sequential feature selection (forward/backward) with its score path",
        description="sklearn's SequentialFeatureSelector around the pipeline; the score of "
                    "every step is recorded (XANESNET paper section III.C).  Expensive: one CV "
                    "per candidate feature per step; use few epochs and folds." + _NOTES)
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
                    "g2_g4_split (G2:G4 at 96 functions), zeta_max." + _NOTES)
    _add_common(p, variance_drop=False)
    p.add_argument("--study", action="append", metavar="NAME",
                   help="g2_scheme, g4_scheme, g2_g4_split, zeta_max or all (repeatable; "
                        "default g2_g4_split)")
    p.set_defaults(func=run_wacsf_search)


# ------------------------------------------------------------------ shared pieces


def _config(args, variance_drop=None):
    from ._fit import read_config

    config = read_config(args)
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

        from ..selection import feature_variance

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
    from ..model import XANESNetRegressor
    from ._fit import build_pipeline
    from ._training import prefix_of

    pipeline = build_pipeline(_config(args, variance_drop), featurise, seed=args.seed,
                              epochs=args.epochs)
    n_jobs = _n_jobs(args)
    if n_jobs > 1:
        prefix = prefix_of(pipeline, XANESNetRegressor)
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

        from ._training import featurise_once

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

    from ..selection import feature_variance

    keep = SelectPercentile(feature_variance, percentile=100 * (1 - drop)).fit(X).get_support()
    report.say(f"variance filter: keeping {keep.sum()} of {keep.size} features "
               f"(dropped the {drop:.0%} with the lowest variance)")
    return X[:, keep], names[keep]


class _Outputs:
    """A verb's tables and plots, written under temporary names and renamed together at the end.

    Used as ``with _Outputs(args, out, report) as files:``; ``files.csv`` and
    ``files.plot`` write, ``files.log`` is the path a running study appends
    its rows to (``NAME.partial.csv``, kept if the run stops, removed when it
    finishes).  Nothing is announced as written before it is in place.
    """

    def __init__(self, args, out, report):
        self.staged = StagedOutputs(args.overwrite)
        self.out, self.report = out, report
        self.labels, self.logs = [], []

    def csv(self, frame, name, label):
        frame.to_csv(self.staged.path(self.out / name), index=False)
        self.labels.append((label, self.out / name))

    def plot(self, function, name, label, *args, **kwargs):
        function(*args, path=self.staged.path(self.out / name), **kwargs)
        self.labels.append((label, self.out / name))

    def log(self, name):
        path = self.out / f"{Path(name).stem}.partial.csv"
        self.logs.append(path)
        return path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.staged.__exit__(exc_type, exc, tb)
        if exc_type is None:
            for path in self.logs:
                path.unlink(missing_ok=True)
            for label, path in self.labels:
                self.report.wrote(label, path)
        return False


def _start(args, report, names, featurise=None):
    """Check the options, the configuration and the outputs, then load the data.

    Everything that can be known before the data is checked first, so a typo
    fails in a second, not after featurising; existing outputs are refused
    unless ``--overwrite``.

    Returns
    -------
    data : CLIData
    out : Path
    """
    from ._featurise import make_wacsf
    from ._fit import check_fit_options

    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    config = _config(args)
    if args.model == "xanesnet":
        check_fit_options(args, config)
    else:
        make_wacsf(config["wacsf"])
    _cv(args)
    drop = getattr(args, "variance_drop", None)
    if drop is not None and not 0 <= drop < 1:
        raise CLIError(f"--variance-drop must be in [0, 1), got {drop}")
    test_size = getattr(args, "test_size", None)
    if test_size is not None and not 0 < test_size < 1:
        raise CLIError(f"--test-size must be in (0, 1), got {test_size}")
    out = output_dir(args.output, "--output")
    refuse_existing([out / name for name in names], args.overwrite)
    data = load_data(args, report)
    return data, out


def _summary(frame, columns):
    return frame[[c for c in columns if c in frame.columns]]


def _importance(args, X, y, energies, names, report, windows=None):
    from sklearn.model_selection import train_test_split

    from ..analysis import permutation_importance_table

    if not 0 < args.test_size < 1:
        raise CLIError(f"--test-size must be in (0, 1), got {args.test_size}")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, random_state=args.seed)
    model = _build(args, featurise=False, variance_drop=0.0)
    report.say(f"fitting on {len(X_train)} samples, permuting on {len(X_test)} held out")
    from ._training import fit_pipeline

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
    from ..analysis import radial_distances, window_difference
    from ..analysis.plots import plot_g2_importance, plot_g4_importance, plot_window_difference

    windows = _windows(args.windows)
    others = [w for w in windows if w != "whole"]
    names = ["importance.csv", "importance_g2.png", "importance_g4.png"]
    if len(others) >= 2:
        names += ["importance_window_difference.csv", "importance_window_difference.png"]
    data, out = _start(args, report, names)
    X, names, structures = _features(args, data, report)
    X, names = _carry_forward(X, names, args.variance_drop, report)
    table = _importance(args, X, data.y, _relative_energies(data, report), names, report,
                        windows)
    distances = None
    if structures is not None:
        r_cut = _config(args)["wacsf"].get("r_cut", 6.0)
        distances = radial_distances(structures, r_cut=r_cut)
    else:
        report.say("features only (no structures): the G2 plot shows importance without the "
                   "radial distribution")
    with _Outputs(args, out, report) as files:
        files.csv(table, "importance.csv", "importance table")
        files.plot(plot_g2_importance, "importance_g2.png", "G2 importance plot", table,
                   distances=distances)
        files.plot(plot_g4_importance, "importance_g4.png", "G4 importance plot", table)
        if len(others) >= 2:
            diff = window_difference(table, high=others[-1], low=others[0])
            files.csv(diff, "importance_window_difference.csv", "window difference table")
            files.plot(plot_window_difference, "importance_window_difference.png",
                       "window difference plot", diff)
    whole = table[table["window"] == "whole"].sort_values("importance", ascending=False)
    report.table(_summary(whole.head(10), ["feature", "importance", "relative_importance"]),
                 title="most important features (whole spectrum; median delta mu rise, %-points)")
    return 0


def run_variance_sweep(args, report):
    """``xanesnet-sk variance-sweep``."""
    from ..analysis import variance_sweep
    from ..analysis.plots import plot_variance_sweep

    fractions = _floats(args.fractions)
    data, out = _start(args, report, ["variance_sweep.csv", "variance_sweep.png"])
    X, names, _ = _features(args, data, report)
    model = _build(args, featurise=False, variance_drop=0.0)
    with _Outputs(args, out, report) as files:
        sweep = variance_sweep(model, X, data.y, fractions, feature_names=names,
                               cv=_cv(args), n_jobs=_n_jobs(args),
                               csv_path=files.log("variance_sweep.csv"),
                               progress=not report.quiet)
        files.csv(sweep, "variance_sweep.csv", "variance sweep table")
        files.plot(plot_variance_sweep, "variance_sweep.png", "variance sweep plot", sweep)
    report.table(_summary(sweep, ["fraction_removed", "n_kept", "n_g2", "n_g4", "score_mean",
                                  "score_std", "relative_performance"]),
                 title=f"variance sweep (score: {_SCORE_LABEL})")
    return 0


def run_select_from_model(args, report):
    """``xanesnet-sk select-from-model``."""
    from ..analysis import select_from_model_curve
    from ..analysis.plots import plot_select_from_model

    fractions = _floats(args.fractions)
    outputs = ["select_from_model.csv", "select_from_model.png"]
    if args.importance:
        from ._common import existing_file

        existing_file(args.importance, "--importance", (".csv",))
    else:
        outputs.append("importance.csv")
    data, out = _start(args, report, outputs)
    X, names, _ = _features(args, data, report)
    X, names = _carry_forward(X, names, args.variance_drop, report)
    with _Outputs(args, out, report) as files:
        if args.importance:
            table = _read_importance(args.importance)
            missing = set(names) - set(table["feature"])
            if missing:
                raise CLIError(f"--importance {args.importance!r} has no row for "
                               f"{len(missing)} feature(s) of these data, e.g. "
                               f"{sorted(missing)[0]!r}")
        else:
            table = _importance(args, X, data.y, data.energies, names, report,
                                windows={"whole": None})
            files.csv(table, "importance.csv", "importance table")
        n = len(names)
        ks = sorted({min(n, max(1, int(round(f * n)))) for f in fractions})
        curve = select_from_model_curve(
            _build(args, featurise=False, variance_drop=0.0), X, data.y, table, ks,
            feature_names=names, cv=_cv(args), n_jobs=_n_jobs(args),
            csv_path=files.log("select_from_model.csv"), progress=not report.quiet)
        files.csv(curve, "select_from_model.csv", "select-from-model table")
        files.plot(plot_select_from_model, "select_from_model.png", "select-from-model plot",
                   curve)
    report.table(_summary(curve, ["k", "n_g2", "n_g4", "score_mean", "relative_performance"]),
                 title=f"select from model (score: {_SCORE_LABEL})")
    return 0


def _read_importance(path):
    """An importance.csv written by ``importance``; CLIError naming the file otherwise."""
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CLIError(f"--importance {str(path)!r}: not a readable CSV ({exc})") from None
    for column in ("feature", "importance"):
        if column not in table.columns:
            raise CLIError(f"--importance {str(path)!r}: no {column!r} column (write it with "
                           "'xanesnet-sk importance')")
    return table


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

    from ..analysis import sequential_selection
    from ..analysis.plots import plot_sequential_selection
    from ..metrics import make_delta_mu_scorer

    n_features = _n_features(args.n_features)
    directions = ["forward", "backward"] if args.direction == "both" else [args.direction]
    names_out = [f"sfs_{d}{tail}" for d in directions for tail in (".csv", "_selected.csv")]
    data, out = _start(args, report, names_out + ["sfs.png"])
    X, names, _ = _features(args, data, report)
    X, names = _carry_forward(X, names, args.variance_drop, report)
    model = _build(args, featurise=False, variance_drop=0.0)
    cv = _cv(args)
    paths = {}
    with _Outputs(args, out, report) as files:
        for direction in directions:
            result = sequential_selection(
                model, X, data.y, direction=direction, n_features_to_select=n_features,
                tol=args.tol, feature_names=names, cv=cv, n_jobs=_n_jobs(args),
                csv_path=files.log(f"sfs_{direction}.csv"), progress=not report.quiet)
            files.csv(result["path"], f"sfs_{direction}.csv", f"SFS {direction} path")
            files.csv(result["selected"], f"sfs_{direction}_selected.csv",
                      f"SFS {direction} selected features")
            paths[direction] = result["path"]
            kinds = result["selected"]["kind"].value_counts().to_dict()
            best = result["path"]["score_mean"].iloc[-1] if len(result["path"]) \
                else float("nan")
            report.say(f"SFS {direction}: {int(result['support'].sum())} features selected "
                       f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
                       f"CV score {best:.3f} ({_SCORE_LABEL})")
        baseline = float(np.mean(cross_val_score(model, X, data.y, cv=cv,
                                                 scoring=make_delta_mu_scorer(),
                                                 n_jobs=_n_jobs(args))))
        report.say(f"all {len(names)} features: CV score {baseline:.3f}")
        files.plot(plot_sequential_selection, "sfs.png", "SFS plot", paths, baseline=baseline,
                   score_label=_SCORE_LABEL)
    return 0


def run_wacsf_search(args, report):
    """``xanesnet-sk wacsf-search``."""
    from ..analysis import WACSF_STUDIES, wacsf_search
    from ..analysis.plots import plot_wacsf_search

    studies = args.study or ["g2_g4_split"]
    if "all" in studies:
        studies = list(WACSF_STUDIES)
    for study in studies:
        if study not in WACSF_STUDIES:
            raise CLIError(f"--study {study!r}: choose from {', '.join(WACSF_STUDIES)} or all")
    names = [f"wacsf_{study}{suffix}" for study in studies for suffix in (".csv", ".png")]
    data, out = _start(args, report, names)
    if data.kind != "structures":
        raise CLIError("wacsf-search needs structures (--xyz DIR --xanes DIR, or an .npz of "
                       f"structures); {data.source} holds precomputed features")
    if len(data) < 300:
        report.say(f"note: {len(data)} samples is small for telling wACSF settings apart; "
                   "compare the differences with score_std")
    model = _build(args, featurise=True, variance_drop=0.0)
    with _Outputs(args, out, report) as files:
        for study in studies:
            results = wacsf_search(model, data.X, data.y, study, cv=_cv(args),
                                   n_jobs=_n_jobs(args), csv_path=files.log(f"wacsf_{study}"),
                                   progress=not report.quiet)
            results.insert(0, "study", study)
            files.csv(results, f"wacsf_{study}.csv", f"wACSF {study} table")
            files.plot(plot_wacsf_search, f"wacsf_{study}.png", f"wACSF {study} plot", results,
                       title=study)
            report.table(_summary(results, ["label", "score_mean", "score_std",
                                            "relative_performance"]),
                         title=f"wACSF {study} (score: {_SCORE_LABEL})")
    return 0
