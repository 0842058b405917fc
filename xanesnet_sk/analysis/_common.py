"""Shared pieces of the analyses: feature names, scorers, splitters, CSV logs."""

import csv
import re
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, RepeatedKFold
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from wacsf import WACSFTransformer

from ..metrics import make_delta_mu_scorer

__all__ = ["parse_feature_names", "relative_performance"]

_NAME_RE = re.compile(r"^(g2|g4)((?:_[a-z]+=[^_]+)+)$")
_PARAM_RE = re.compile(r"_([a-z]+)=([^_]+)")


# ----------------------------------------------------------------------------- helpers


def parse_feature_names(names):
    """Parse wACSF feature names into their kind and parameters.

    Parameters
    ----------
    names : array-like of str
        Names as ``WACSFTransformer.get_feature_names_out`` writes them:
        ``g1``, ``g2_eta=19.2_mu=0.5``, ``g4_eta=0.5_mu=0_lambda=1_zeta=1``.
        Other names are kept with kind ``"other"``.

    Returns
    -------
    DataFrame
        One row per name, in order: ``feature``, ``kind`` (``"g1"``,
        ``"g2"``, ``"g4"`` or ``"other"``), ``eta``, ``mu``, ``lambda``,
        ``zeta`` (floats; NaN where a kind has no such parameter).

    Examples
    --------
    >>> table = parse_feature_names(["g1", "g2_eta=19.2_mu=0.5"])
    >>> table["kind"].tolist(), table.loc[1, ["eta", "mu"]].tolist()
    (['g1', 'g2'], [19.2, 0.5])
    >>> bool(table.loc[0, ["eta", "mu"]].isna().all())
    True
    """
    rows = []
    for name in np.asarray(names, dtype=object).ravel():
        name = str(name)
        row = {"feature": name, "kind": "other", "eta": np.nan, "mu": np.nan,
               "lambda": np.nan, "zeta": np.nan}
        if name == "g1":
            row["kind"] = "g1"
        else:
            match = _NAME_RE.match(name)
            if match:
                params = dict(_PARAM_RE.findall(match.group(2)))
                try:
                    values = {key: float(value) for key, value in params.items()}
                except ValueError:
                    values = None
                if values is not None and set(values) <= {"eta", "mu", "lambda", "zeta"}:
                    row["kind"] = match.group(1)
                    row.update(values)
        rows.append(row)
    return pd.DataFrame(rows, columns=["feature", "kind", "eta", "mu", "lambda", "zeta"])


def _window_mask(energies, window, name):
    """Boolean mask of the energy points inside ``window`` (closed), or all."""
    if window is None:
        return np.ones(energies.shape, dtype=bool)
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(
            f"energy window {name!r} must be None or a pair (e_min, e_max), got {window!r}"
        ) from None
    if not lo < hi:
        raise ValueError(f"energy window {name!r} = ({lo:g}, {hi:g}) is empty: need e_min < e_max")
    mask = (energies >= lo) & (energies <= hi)
    if not mask.any():
        raise ValueError(
            f"energy window {name!r} = ({lo:g}, {hi:g}) eV holds none of the "
            f"{energies.size} energy points ({energies.min():g} to {energies.max():g} eV)"
        )
    return mask


def window_scorer(energies, window, name):
    """Delta mu scorer of one named window (checked, so errors name the window)."""
    if window is not None:
        _window_mask(energies, window, name)
    return make_delta_mu_scorer(energies, window=window)


def default_scoring(scoring):
    return make_delta_mu_scorer() if scoring is None else scoring


def _is_featuriser(step):
    return isinstance(step, WACSFTransformer)


def featuriser_key(estimator):
    """The ``get_params`` key of the (only) WACSFTransformer inside ``estimator``."""
    keys = [k for k, v in estimator.get_params(deep=True).items() if _is_featuriser(v)]
    if _is_featuriser(estimator):
        raise ValueError(
            "the estimator is a bare WACSFTransformer; give a pipeline ending in a regressor"
        )
    if not keys:
        raise ValueError(
            "the pipeline has no WACSFTransformer step to search over: build it with "
            "make_xanesnet_pipeline(featurise=True) or put a WACSFTransformer first"
        )
    if len(keys) > 1:
        raise ValueError(f"the pipeline has several WACSFTransformer steps ({keys}); expected one")
    return keys[0]


def split_featuriser(estimator, X, feature_names=None, fitted=False):
    """Featurise once if ``estimator`` starts with a WACSFTransformer.

    Returns the estimator acting on features, the feature matrix (or X
    unchanged) and the feature names.
    """
    if isinstance(estimator, Pipeline) and _is_featuriser(estimator.steps[0][1]):
        featuriser = estimator.steps[0][1]
        X = featuriser.transform(X)
        names = featuriser.get_feature_names_out()
        rest = estimator[1:]
        if not fitted:
            rest = clone(rest)
        return rest, X, _check_names(names if feature_names is None else feature_names, X)
    if feature_names is None:
        if isinstance(X, pd.DataFrame):
            feature_names = X.columns.astype(str)
        elif hasattr(estimator, "feature_names_in_"):
            feature_names = estimator.feature_names_in_
        else:
            X = np.asarray(X)
            feature_names = [f"x{i}" for i in range(X.shape[1])]
    return estimator, X, _check_names(feature_names, X)


def _check_names(names, X):
    names = np.asarray(names, dtype=object).ravel()
    n_features = np.shape(X)[1]
    if names.size != n_features:
        raise ValueError(f"got {names.size} feature names for {n_features} features")
    return names


def as_2d(X, name="X"):
    X = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    return X


def make_cv(cv, n_splits=5, n_repeats=5, random_state=None):
    if cv is None:
        return RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    if isinstance(cv, Integral):
        return KFold(n_splits=int(cv), shuffle=True, random_state=random_state)
    return cv


def relative_performance(scores, reference=None):
    """Performance relative to a reference score, in %.

    Parameters
    ----------
    scores : array-like
        Scores, greater is better (e.g. negative Delta mu).
    reference : float, default=None
        The reference; None takes the best (greatest) of ``scores``, as in
        the paper's "relative to the best performance in the panel".

    Returns
    -------
    ndarray
        ``100 * (scores - reference) / |reference|``: 0 for the reference,
        negative for worse scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if reference is None:
        reference = np.nanmax(scores)
    if reference == 0:
        raise ValueError("cannot express scores relative to a reference score of 0")
    return 100.0 * (scores - reference) / abs(reference)


class CSVLog:
    """Append rows (dicts) to a CSV file, header first; the file starts empty."""

    def __init__(self, path):
        self.path = None if path is None else Path(path)
        self.fields = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def append(self, row):
        if self.path is None:
            return
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            if self.fields is None:
                self.fields = list(row)
                csv.DictWriter(fh, fieldnames=self.fields).writeheader()
            csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore").writerow(row)


def progress_bar(show, total, desc):
    return tqdm(total=total, desc=desc, disable=not show, leave=False, dynamic_ncols=True)


def composition(names):
    kinds = parse_feature_names(names)["kind"]
    return {f"n_{k}": int((kinds == k).sum()) for k in ("g1", "g2", "g4")}
