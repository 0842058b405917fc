"""Sequential feature selection with the score of every step (public through ``analysis``)."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.feature_selection import SequentialFeatureSelector
from sklearn.model_selection import check_cv, cross_val_score

from ._common import (
    CSVLog,
    as_2d,
    default_scoring,
    make_cv,
    parse_feature_names,
    progress_bar,
    split_featuriser,
)

__all__ = ["sequential_selection"]

# ----------------------------------------------------------------------------- sequential selection


class _WatchedCV:
    """A splitter that reports every feature subset ``SequentialFeatureSelector`` scores.

    ``SequentialFeatureSelector`` hands each candidate subset ``X[:, mask]``
    to ``cross_val_score``, which calls ``split`` once, in the main process,
    before any fold is fitted.  This wrapper recognises the subset's columns
    (by their bytes) and passes their indices to ``on_subset``; the splits
    themselves are the wrapped splitter's.
    """

    def __init__(self, cv, fingerprints, on_subset):
        self.cv = cv
        self.fingerprints = fingerprints
        self.on_subset = on_subset

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.cv.get_n_splits(X, y, groups)

    def split(self, X, y=None, groups=None):
        self.on_subset(_match_columns(np.asarray(X), self.fingerprints))
        return self.cv.split(X, y, groups)


def _column_key(column):
    return np.ascontiguousarray(column, dtype=np.float64).tobytes()


def _match_columns(X_sub, fingerprints):
    """Original indices of the columns of ``X_sub`` (a column subset, in order)."""
    indices, start = [], 0
    for j in range(X_sub.shape[1]):
        key = _column_key(X_sub[:, j])
        for i in range(start, len(fingerprints)):
            if fingerprints[i] == key:
                indices.append(i)
                start = i + 1
                break
        else:
            raise RuntimeError("SequentialFeatureSelector scored a column that is not in X")
    return frozenset(indices)


class _SelectionPath:
    """The subsets chosen step by step, read off the subsets SFS scores.

    In step t, forward selection scores ``C_t | {f}`` for every remaining f
    and backward selection ``C_t - {f}`` for every f in ``C_t``; two
    candidates of a step pin down ``C_t`` (their intersection, or union),
    hence the feature chosen in step t - 1.
    """

    def __init__(self, n_features, direction, on_step):
        self.forward = direction == "forward"
        start = frozenset() if self.forward else frozenset(range(n_features))
        self.sets = [start]
        self.on_step = on_step
        self._size = None
        self._seen = []
        self.n_calls = 0

    def observe(self, subset):
        self.n_calls += 1
        if len(subset) != self._size:
            self._size, self._seen = len(subset), []
        self._seen.append(subset)
        if len(self._seen) == 2:
            a, b = self._seen
            current = (a & b) if self.forward else (a | b)
            if current != self.sets[-1]:
                self._advance(current)

    def finish(self, support):
        final = frozenset(np.flatnonzero(support).tolist())
        if final != self.sets[-1]:
            self._advance(final)

    def _advance(self, current):
        change = current ^ self.sets[-1]
        if len(change) != 1:
            raise RuntimeError(
                "could not follow SequentialFeatureSelector's path "
                f"(step {len(self.sets)} changed {len(change)} features)"
            )
        self.sets.append(current)
        self.on_step(len(self.sets) - 1, next(iter(change)), current)


def sequential_selection(
    estimator,
    X,
    y,
    *,
    direction="forward",
    n_features_to_select="auto",
    tol=None,
    feature_names=None,
    cv=3,
    scoring=None,
    n_jobs=None,
    random_state=None,
    csv_path=None,
    progress=False,
):
    """Sequential feature selection with the score of every step of its path.

    ``sklearn.feature_selection.SequentialFeatureSelector`` does the
    selection; it does not expose the order in which it added (removed)
    features nor their scores, so this function watches the subsets it
    scores (through a wrapper around ``cv`` that only observes) and, as soon
    as a step's choice is known, scores the chosen subset with the same
    ``cv`` and ``scoring`` -- the number the selector computed and threw
    away (exactly, for a deterministic estimator such as a seeded
    ``XANESNetRegressor``).  This costs one cross-validation per step on top
    of the selector's one per candidate.

    Parameters
    ----------
    estimator : estimator
        Unfitted regressor or pipeline on features (or starting with a
        ``WACSFTransformer``; then ``X`` holds structures, featurised once).
        Give it a ``random_state`` so that every candidate is trained alike.
    X : array-like of shape (n_samples, n_features) or list of structures
        Features or structures.
    y : array-like of shape (n_samples, n_points)
        Target spectra.
    direction : {"forward", "backward"}, default="forward"
        Add features from none, or remove them from all.
    n_features_to_select : "auto", int or float, default="auto"
        As ``SequentialFeatureSelector``: "auto" selects half of the
        features, or stops when a step improves the score by less than
        ``tol``.
    tol : float or None, default=None
        As ``SequentialFeatureSelector``.
    feature_names : array-like of str, default=None
        Feature names (see :func:`permutation_importance_table`).
    cv : int, cross-validation generator or None, default=3
        int k: shuffled ``KFold(k)`` (seeded by ``random_state``); None:
        5 x repeated 5-fold; or any splitter.
    scoring : str or callable, default=None
        Greater is better; default :func:`~xanesnet_sk.metrics.make_delta_mu_scorer`.
    n_jobs : int, default=None
        Parallel jobs over the folds of each candidate (as the selector).
    random_state : int or None, default=None
        Seeds the default splitters.
    csv_path : path-like, default=None
        Append each step's row here as soon as it is known and scored.
    progress : bool, default=False
        Show a tqdm bar over the candidate subsets the selector scores.

    Returns
    -------
    dict
        ``"path"``: DataFrame, one row per step: ``step``, ``n_features``,
        ``action`` ("add" or "remove"), ``feature``, its ``kind``, ``eta``,
        ``mu``, ``lambda``, ``zeta``, ``score_mean``, ``score_std``,
        ``n_splits``; ``"selected"``: DataFrame of the selected features
        (parsed names); ``"support"``: boolean mask of the selected
        features; ``"selector"``: the fitted ``SequentialFeatureSelector``.
    """
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    estimator, X, names = split_featuriser(estimator, X, feature_names)
    X = as_2d(X)
    n = X.shape[1]
    cv = check_cv(make_cv(cv, random_state=random_state), y)
    scoring = default_scoring(scoring)
    fingerprints = [_column_key(X[:, i]) for i in range(n)]
    if len(set(fingerprints)) < n:
        seen, dup = {}, []
        for i, key in enumerate(fingerprints):
            if key in seen:
                dup.append(f"{names[seen[key]]} = {names[i]}")
            seen.setdefault(key, i)
        raise ValueError(
            f"X has identical columns ({'; '.join(dup[:3])}): sequential selection cannot tell "
            "them apart; drop the duplicates first (e.g. VarianceThreshold() removes constant ones)"
        )
    parsed = parse_feature_names(names).set_index("feature", drop=False)
    log = CSVLog(csv_path)
    rows = []

    def on_step(step, feature, current):
        cols = sorted(current)
        scores = cross_val_score(estimator, X[:, cols], y, cv=cv, scoring=scoring, n_jobs=n_jobs)
        info = parsed.iloc[feature]
        row = {
            "step": step,
            "n_features": len(cols),
            "action": "add" if direction == "forward" else "remove",
            "feature": names[feature],
            **{key: info[key] for key in ("kind", "eta", "mu", "lambda", "zeta")},
            "score_mean": float(np.mean(scores)),
            "score_std": float(np.std(scores)),
            "n_splits": int(len(scores)),
        }
        log.append(row)
        rows.append(row)

    selector = SequentialFeatureSelector(
        estimator, n_features_to_select=n_features_to_select, tol=tol, direction=direction,
        scoring=scoring, cv=None, n_jobs=n_jobs,
    )
    path = _SelectionPath(n, direction, on_step)
    total = _sfs_calls(n, n_features_to_select, tol, direction)
    with progress_bar(progress, total, f"SFS {direction}") as bar:

        def observe(subset):
            path.observe(subset)
            bar.update()

        selector.set_params(cv=_WatchedCV(cv, fingerprints, observe))
        selector.fit(X, y)
        path.finish(selector.get_support())
    selector.set_params(cv=cv)
    support = selector.get_support()
    return {
        "path": pd.DataFrame(rows, columns=[
            "step", "n_features", "action", "feature", "kind", "eta", "mu", "lambda", "zeta",
            "score_mean", "score_std", "n_splits",
        ]),
        "selected": parse_feature_names(names[support]),
        "support": support,
        "selector": selector,
    }


def _sfs_calls(n, n_select, tol, direction):
    """Number of candidate subsets SequentialFeatureSelector will score (an upper bound)."""
    if n_select == "auto":
        k = n - 1 if tol is not None else n // 2
        steps = k if (tol is not None or direction == "forward") else n - k
    elif isinstance(n_select, Integral):
        steps = n_select if direction == "forward" else n - n_select
    else:
        k = int(n * float(n_select))
        steps = k if direction == "forward" else n - k
    return int(sum(n - t for t in range(max(steps, 0))))
