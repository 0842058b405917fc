"""Feature-selection sweeps and wACSF studies by cross-validation (paper Figs. 3-6, 10).

Public through :mod:`xanesnet_sk.analysis`.
"""

import json
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.feature_selection import SelectKBest, SelectPercentile, VarianceThreshold
from sklearn.model_selection import GridSearchCV, ParameterGrid, cross_val_score
from sklearn.pipeline import Pipeline

from ..selection import feature_variance
from ._common import (
    CSVLog,
    as_2d,
    composition,
    default_scoring,
    featuriser_key,
    make_cv,
    progress_bar,
    relative_performance,
    split_featuriser,
)

__all__ = ["WACSF_STUDIES", "variance_sweep", "select_from_model_curve", "wacsf_search"]

#: ``GridSearchCV`` grids over ``WACSFTransformer`` parameters for the paper's
#: Figs. 3-5 (keys without the pipeline-step prefix; :func:`wacsf_search` adds it).
#: ``g2_scheme``/``g4_scheme``: 96 G2 (or 96 G4) wACSF, "shifted" against
#: "centred" (Fig. 3); ``g2_g4_split``: 96 G2 + G4 wACSF split in steps of 16
#: (Fig. 4); ``zeta_max``: 32 G2 and 64 G4 with 1, 2, 4 or 8 values of zeta
#: (Fig. 5).
WACSF_STUDIES = {
    "g2_scheme": [{"n_g2": [96], "n_g4": [0], "g2_scheme": ["shifted", "centred"]}],
    "g4_scheme": [{"n_g2": [0], "n_g4": [96], "g4_scheme": ["centred", "shifted"]}],
    "g2_g4_split": [{"n_g2": [96 - n], "n_g4": [n]} for n in range(0, 97, 16)],
    "zeta_max": [
        {
            "n_g2": [32],
            "n_g4": [64],
            "zetas": [(1.0,), (1.0, 2.0), (1.0, 2.0, 4.0, 8.0), tuple(2.0**k for k in range(8))],
        }
    ],
}


# ----------------------------------------------------------------------------- variance sweep


def _is_variance_filter(step):
    return isinstance(step, VarianceThreshold) or (
        isinstance(step, SelectPercentile) and step.score_func is feature_variance
    )


def _variance_step(estimator):
    """(pipeline, name of its first top-level variance filter, that step's index).

    A variance filter is a ``VarianceThreshold`` or a ``SelectPercentile``
    scored by :func:`~xanesnet_sk.selection.feature_variance` (what
    ``make_xanesnet_pipeline`` uses); without one, the latter is put first.
    """
    if isinstance(estimator, Pipeline):
        for i, (name, step) in enumerate(estimator.steps):
            if _is_variance_filter(step):
                return estimator, name, i
    wrapped = Pipeline([("variance", SelectPercentile(feature_variance)), ("model", estimator)])
    return wrapped, "variance", 0


def _filter_settings(step, variances, fractions):
    """(parameter, value) per fraction: ``percentile`` or ``threshold`` of the filter."""
    if isinstance(step, SelectPercentile):
        return [("percentile", 100.0 * (1.0 - f)) for f in fractions]
    order = np.sort(variances)
    out = []
    for fraction in fractions:
        k = int(round(fraction * order.size))
        # VarianceThreshold keeps variances above the threshold: put it between two of them
        value = 0.0 if k <= 0 else float(0.5 * (order[k - 1] + order[k]))
        out.append(("threshold", value))
    return out


def variance_sweep(
    estimator,
    X,
    y,
    fractions=(0.0, 0.25, 0.5, 0.75),
    *,
    feature_names=None,
    cv=None,
    scoring=None,
    n_jobs=None,
    random_state=None,
    csv_path=None,
    progress=False,
):
    """Performance against the share of features a variance-threshold filter removes (Fig. 6).

    For each fraction f the pipeline's variance filter is set to remove the
    f lowest-variance features and the pipeline is scored with
    ``cross_val_score``; the filter is refitted inside every training fold.

    Parameters
    ----------
    estimator : estimator
        Unfitted regressor or pipeline.  Its first top-level variance
        filter is used: ``SelectPercentile(feature_variance)`` (as in
        ``make_xanesnet_pipeline``) or ``VarianceThreshold``; without one,
        ``SelectPercentile(feature_variance)`` is put in front of it.
    X : array-like of shape (n_samples, n_features) or list of structures
        Features, or structures when the pipeline starts with a
        ``WACSFTransformer`` (featurised once).
    y : array-like of shape (n_samples, n_points)
        Target spectra.
    fractions : sequence of float in [0, 1), default=(0, 0.25, 0.5, 0.75)
        Shares of features to remove.  With a ``SelectPercentile`` filter
        the ``percentile`` is set to ``100 (1 - f)``; with a
        ``VarianceThreshold`` the ``threshold`` is set between the variances
        (over all of ``X``) that remove the share f.
    feature_names : array-like of str, default=None
        Names of the features, to report which ones are removed.
    cv : int, cross-validation generator or None, default=None
        None: ``RepeatedKFold(n_splits=5, n_repeats=5)`` as in the paper; an
        int k: shuffled ``KFold(k)``; or any splitter.
    scoring : str or callable, default=None
        Greater is better; default
        :func:`~xanesnet_sk.metrics.make_delta_mu_scorer` (negative median
        Delta mu, %).
    n_jobs : int, default=None
        Parallel jobs over folds (``cross_val_score``).
    random_state : int or None, default=None
        Seeds the default splitters.
    csv_path : path-like, default=None
        Append each fraction's row here as soon as it is scored.
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    DataFrame
        One row per fraction: ``fraction``, ``setting`` (the filter's
        parameter), ``n_removed``,
        ``fraction_removed`` (actual, after ties), ``n_kept``, ``n_g1``,
        ``n_g2``, ``n_g4`` (features kept by kind), ``score_mean``,
        ``score_std``, ``n_splits``, ``removed`` (names, ``;``-joined) and
        ``relative_performance`` (% of the best row; filled when all rows
        are done, so it is absent from the incremental CSV).
    """
    fractions = [float(f) for f in fractions]
    for f in fractions:
        if not 0.0 <= f < 1.0:
            raise ValueError(f"fractions must lie in [0, 1), got {f!r}")
    estimator, X, names = split_featuriser(estimator, X, feature_names)
    estimator, step_name, index = _variance_step(estimator)
    X_in = X
    if index > 0:
        X_in = Pipeline(estimator.steps[:index]).fit(X, y).transform(X)
        names = np.asarray([f"{index}:{i}" for i in range(np.shape(X_in)[1])], dtype=object)
    step = estimator.named_steps[step_name]
    variances = feature_variance(as_2d(X_in))
    settings = _filter_settings(step, variances, fractions)
    cv = make_cv(cv, random_state=random_state)
    scoring = default_scoring(scoring)
    log = CSVLog(csv_path)
    rows = []
    with progress_bar(progress, len(fractions), "variance sweep") as bar:
        for fraction, (param, value) in zip(fractions, settings):
            params = {f"{step_name}__{param}": value}
            model = clone(estimator).set_params(**params)
            # what the filter keeps on all of X (it is refitted in every fold)
            kept = clone(model.named_steps[step_name]).fit(X_in, y).get_support()
            scores = cross_val_score(model, X, y, cv=cv, scoring=scoring, n_jobs=n_jobs)
            row = {
                "fraction": fraction,
                "setting": f"{param}={value:.6g}",
                "n_removed": int((~kept).sum()),
                "fraction_removed": float((~kept).mean()),
                "n_kept": int(kept.sum()),
                **composition(names[kept]),
                "score_mean": float(np.mean(scores)),
                "score_std": float(np.std(scores)),
                "n_splits": int(len(scores)),
                "removed": ";".join(map(str, names[~kept])),
            }
            log.append(row)
            rows.append(row)
            bar.update()
    out = pd.DataFrame(rows)
    out["relative_performance"] = relative_performance(out["score_mean"])
    return out


# ----------------------------------------------------------------------------- select from model


class _FixedScores:
    """``score_func`` for ``SelectKBest`` returning precomputed importances."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float64)

    def __call__(self, X, y):
        if X.shape[1] != self.scores.size:
            raise ValueError(f"{self.scores.size} importances for {X.shape[1]} features")
        return self.scores


def _importance_vector(importances, names, window="whole"):
    """Importances aligned with ``names`` from an array, a Series or a table."""
    if isinstance(importances, pd.DataFrame):
        table = importances
        if "window" in table:
            if window not in set(table["window"]):
                raise ValueError(
                    f"the importance table has no window {window!r} "
                    f"(windows: {sorted(set(table['window']))})"
                )
            table = table[table["window"] == window]
        importances = table.set_index("feature")["importance"]
    if isinstance(importances, pd.Series):
        missing = [n for n in names if n not in importances.index]
        if missing:
            raise ValueError(
                f"no importance for {len(missing)} feature(s), e.g. {missing[:3]}: "
                "compute the importances on the same features"
            )
        return importances.loc[list(names)].to_numpy(dtype=np.float64)
    values = np.asarray(importances, dtype=np.float64).ravel()
    if values.size != len(names):
        raise ValueError(f"got {values.size} importances for {len(names)} features")
    return values


def select_from_model_curve(
    estimator,
    X,
    y,
    importances,
    ks=None,
    *,
    feature_names=None,
    window="whole",
    cv=None,
    scoring=None,
    n_jobs=None,
    random_state=None,
    csv_path=None,
    progress=False,
):
    """Performance against the number of most important features kept (Fig. 10).

    ``SelectKBest`` with the given importances as its fixed scores is put
    in front of ``estimator``, and ``k`` is swept with ``cross_val_score``.
    The last row keeps all features and is the baseline.

    Parameters
    ----------
    estimator : estimator
        Unfitted regressor or pipeline on features (or starting with a
        ``WACSFTransformer``, then ``X`` holds structures).
    X : array-like of shape (n_samples, n_features) or list of structures
        Features or structures.
    y : array-like of shape (n_samples, n_points)
        Target spectra.
    importances : array-like of shape (n_features,), Series or DataFrame
        Importance of each feature (greater = more important): an array in
        column order, a Series indexed by feature name, or the table of
        :func:`permutation_importance_table` (its ``window`` rows).
    ks : sequence of int, default=None
        Numbers of features to keep; default 10 %, 20 %, ..., 100 % of them.
    feature_names : array-like of str, default=None
        Feature names (see :func:`permutation_importance_table`).
    window : str, default="whole"
        Which window of an importance table ranks the features.
    cv, scoring, n_jobs, random_state, csv_path, progress
        As in :func:`variance_sweep`.

    Returns
    -------
    DataFrame
        One row per k: ``k``, ``fraction_included``, ``n_g1``, ``n_g2``,
        ``n_g4``, ``score_mean``, ``score_std``, ``n_splits``, ``added``
        (the features added since the previous k, ``;``-joined) and
        ``relative_performance`` (% of the all-features baseline).

    Notes
    -----
    When the importances come from the same data, the selection has seen
    every fold: the curve measures how many features the model needs, not
    an unbiased generalisation error (as in the paper).
    """
    estimator, X, names = split_featuriser(estimator, X, feature_names)
    n = len(names)
    scores_vec = _importance_vector(importances, names, window)
    if ks is None:
        ks = sorted({max(1, int(round(n * p / 10))) for p in range(1, 11)})
    ks = sorted({int(k) for k in ks} | {n})
    if ks[0] < 1 or ks[-1] > n:
        raise ValueError(f"ks must lie in 1..{n} (the number of features), got {ks}")
    model = Pipeline([("select", SelectKBest(_FixedScores(scores_vec), k=n)), ("model", estimator)])
    cv = make_cv(cv, random_state=random_state)
    scoring = default_scoring(scoring)
    log = CSVLog(csv_path)
    rows, previous = [], np.zeros(n, dtype=bool)
    with progress_bar(progress, len(ks), "select from model") as bar:
        for k in ks:
            candidate = clone(model).set_params(select__k=k)
            # the mask SelectKBest keeps (its scores are fixed, so any X gives it)
            mask = clone(candidate.named_steps["select"]).fit(X, y).get_support()
            scores = cross_val_score(candidate, X, y, cv=cv, scoring=scoring, n_jobs=n_jobs)
            row = {
                "k": k,
                "fraction_included": k / n,
                **composition(names[mask]),
                "score_mean": float(np.mean(scores)),
                "score_std": float(np.std(scores)),
                "n_splits": int(len(scores)),
                "added": ";".join(map(str, names[mask & ~previous])),
            }
            previous = mask
            log.append(row)
            rows.append(row)
            bar.update()
    out = pd.DataFrame(rows)
    out["relative_performance"] = relative_performance(
        out["score_mean"], reference=float(out.loc[out["k"] == n, "score_mean"].iloc[0])
    )
    return out


# ----------------------------------------------------------------------------- wACSF studies


def _portable(value):
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_portable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _cell(value):
    """A CSV-friendly rendering of a parameter value."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return ",".join(f"{v:g}" if isinstance(v, Real) else str(v) for v in value)
    return value


def _short(name, key):
    return name[len(key) + 2:] if name.startswith(key + "__") else name


def wacsf_search(
    pipeline,
    structures,
    y,
    param_grid="g2_g4_split",
    *,
    cv=None,
    scoring=None,
    n_jobs=None,
    random_state=None,
    csv_path=None,
    progress=False,
):
    """Compare wACSF parameterisations with ``GridSearchCV`` (paper Figs. 3-5).

    The ``WACSFTransformer`` inside ``pipeline`` is searched over
    ``param_grid``; the rest of the pipeline (filters, scaling, model) is
    refitted in every fold.  One ``GridSearchCV`` (``refit=False``) runs per
    grid point, so each finished point is written at once.

    Parameters
    ----------
    pipeline : Pipeline
        Unfitted pipeline containing one ``WACSFTransformer``, e.g.
        ``make_xanesnet_pipeline(featurise=True)``.
    structures : sequence of ase.Atoms
        Structures, absorber first (or as the featuriser's ``absorber`` says).
    y : array-like of shape (n_samples, n_points)
        Target spectra.
    param_grid : str, dict or list of dict, default="g2_g4_split"
        A study of :data:`WACSF_STUDIES` (``"g2_scheme"``, ``"g4_scheme"``,
        ``"g2_g4_split"``, ``"zeta_max"``), or a grid as ``GridSearchCV``
        takes it with ``WACSFTransformer`` parameter names (a name holding
        ``__`` is taken as a full pipeline parameter).
    cv : int, cross-validation generator or None, default=None
        None: 5 x repeated 5-fold (paper); int k: shuffled ``KFold(k)``.
    scoring : str or callable, default=None
        Greater is better; default :func:`~xanesnet_sk.metrics.make_delta_mu_scorer`.
    n_jobs : int, default=None
        Parallel jobs over folds (``GridSearchCV``).
    random_state : int or None, default=None
        Seeds the default splitters.
    csv_path : path-like, default=None
        Append each grid point's row here as soon as it is scored.
    progress : bool, default=False
        Show a tqdm bar over the grid points.

    Returns
    -------
    DataFrame
        One row per grid point: ``candidate``, ``label`` (the point's
        parameters), one column per parameter (short name), ``n_features``,
        ``n_g2_features``, ``n_g4_features``, ``score_mean``, ``score_std``,
        ``n_splits``, ``fit_time``, ``params`` (JSON) and
        ``relative_performance`` (% of the best point).

    Notes
    -----
    The paper's studies used five-times-repeated five-fold CV on about
    1,000 Fe complexes; on small sets (the 110 Fe complexes shipped here)
    the differences between settings are often within the fold-to-fold
    spread, so read ``score_std`` before the ranking.
    """
    key = featuriser_key(pipeline)
    if isinstance(param_grid, str):
        if param_grid not in WACSF_STUDIES:
            raise ValueError(
                f"unknown wACSF study {param_grid!r}; choose from {sorted(WACSF_STUDIES)} "
                "or give a parameter grid"
            )
        param_grid = WACSF_STUDIES[param_grid]
    grids = [param_grid] if isinstance(param_grid, dict) else list(param_grid)
    prefixed = [
        {(k if "__" in k else f"{key}__{k}"): list(v) for k, v in grid.items()} for grid in grids
    ]
    points = list(ParameterGrid(prefixed))
    columns = list(dict.fromkeys(_short(k, key) for point in points for k in point))
    featuriser = pipeline.get_params()[key]
    y = np.asarray(y)
    cv = make_cv(cv, random_state=random_state)
    scoring = default_scoring(scoring)
    log = CSVLog(csv_path)
    rows = []
    with progress_bar(progress, len(points), "wACSF search") as bar:
        for index, point in enumerate(points):
            short = {_short(k, key): v for k, v in point.items()}
            own = {k: v for k, v in short.items() if "__" not in k}
            names = clone(featuriser).set_params(**own).get_feature_names_out()
            search = GridSearchCV(
                pipeline, {k: [v] for k, v in point.items()}, scoring=scoring, cv=cv,
                n_jobs=n_jobs, refit=False, error_score="raise",
            )
            search.fit(structures, y)
            res = search.cv_results_
            n_splits = search.n_splits_
            row = {
                "candidate": index,
                "label": ", ".join(f"{k}={_cell(v)}" for k, v in short.items()),
                **{k: _cell(short[k]) if k in short else "" for k in columns},
                "n_features": len(names),
                **{f"{k}_features": v for k, v in composition(names).items() if k != "n_g1"},
                "score_mean": float(res["mean_test_score"][0]),
                "score_std": float(res["std_test_score"][0]),
                "n_splits": int(n_splits),
                "fit_time": float(res["mean_fit_time"][0]),
                "params": json.dumps({k: _portable(v) for k, v in short.items()}),
            }
            log.append(row)
            rows.append(row)
            bar.update()
    out = pd.DataFrame(rows)
    out["relative_performance"] = relative_performance(out["score_mean"])
    return out
