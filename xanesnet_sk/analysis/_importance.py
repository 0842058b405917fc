"""Permutation importance over the spectrum and energy windows (Figs. 8-9), neighbour distances."""


import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from ._common import parse_feature_names, split_featuriser, window_scorer

__all__ = ["DEFAULT_WINDOWS", "permutation_importance_table", "window_difference",
           "radial_distances"]

#: Energy windows of Fig. 9 (eV relative to the edge); ``None`` is the whole spectrum.
DEFAULT_WINDOWS = {"whole": None, "edge": (-3.0, 3.0), "post_edge": (50.0, 56.0)}


# ----------------------------------------------------------------------------- importance


def permutation_importance_table(
    pipeline,
    X,
    y,
    energies,
    windows=None,
    *,
    feature_names=None,
    n_repeats=5,
    random_state=None,
    n_jobs=None,
    max_samples=1.0,
):
    """Permutation feature importance on the whole spectrum and in energy windows.

    Each feature is shuffled in turn over the samples of ``X`` (best a
    held-out set) and the increase of the median Delta mu is recorded, with
    ``sklearn.inspection.permutation_importance`` and one Delta mu scorer
    per window (the same permutations serve every window).

    Parameters
    ----------
    pipeline : fitted estimator
        A fitted regressor or pipeline predicting spectra.  When it starts
        with a ``WACSFTransformer``, ``X`` holds structures: they are
        featurised once and the features are permuted.
    X : array-like of shape (n_samples, n_features) or list of structures
        Features (or structures, see above).
    y : array-like of shape (n_samples, n_points)
        Target spectra.
    energies : array-like of shape (n_points,)
        Energies of the spectrum points (eV relative to the edge).
    windows : dict of str to (float, float) or None, default=None
        Named energy windows; ``None`` as a value means the whole spectrum.
        Default :data:`DEFAULT_WINDOWS`: ``{"whole": None, "edge": (-3, 3),
        "post_edge": (50, 56)}`` (paper Fig. 9).
    feature_names : array-like of str, default=None
        Names of the features; default: the featuriser's names, the
        DataFrame's columns, the estimator's ``feature_names_in_``, or
        ``x0, x1, ...``.
    n_repeats : int, default=5
        Permutations per feature.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations.
    n_jobs : int, default=None
        Parallel jobs over features (``permutation_importance``).
    max_samples : int or float, default=1.0
        Samples drawn per repeat (``permutation_importance``).

    Returns
    -------
    DataFrame
        Tidy: one row per (feature, window), with ``feature``, ``kind``,
        ``eta``, ``mu``, ``lambda``, ``zeta`` (see
        :func:`parse_feature_names`), ``position`` (column index),
        ``window``, ``e_min``, ``e_max``, ``baseline_delta_mu`` (median
        Delta mu, %, unpermuted), ``importance`` and ``importance_std``
        (mean and standard deviation over repeats of the increase in median
        Delta mu, percentage points) and ``relative_importance``
        (``100 * importance / baseline_delta_mu``: the performance penalty
        relative to the baseline, %).

    See Also
    --------
    window_difference : the difference between two windows (Fig. 9).
    xanesnet_sk.analysis.plots.plot_g2_importance, plot_g4_importance

    Notes
    -----
    Permutation importance spreads over correlated features: shuffling one
    of two overlapping Gaussians loses little, since its neighbour still
    carries the information (the "leakage" discussed in the paper).
    """
    windows = dict(DEFAULT_WINDOWS if windows is None else windows)
    if not windows:
        raise ValueError("windows is empty: give at least one, e.g. {'whole': None}")
    energies = np.asarray(energies, dtype=np.float64).ravel()
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] != energies.size:
        raise ValueError(
            f"y has shape {y.shape} but there are {energies.size} energies: expected "
            f"(n_samples, {energies.size})"
        )
    estimator, X, names = split_featuriser(pipeline, X, feature_names, fitted=True)
    scorers = {name: window_scorer(energies, win, name) for name, win in windows.items()}
    result = permutation_importance(
        estimator, X, y, scoring=scorers, n_repeats=n_repeats, n_jobs=n_jobs,
        random_state=random_state, max_samples=max_samples,
    )
    parsed = parse_feature_names(names)
    parsed.insert(1, "position", np.arange(len(names)))
    frames = []
    for name, win in windows.items():
        baseline = -scorers[name](estimator, X, y)
        frame = parsed.copy()
        frame["window"] = name
        frame["e_min"] = energies.min() if win is None else float(win[0])
        frame["e_max"] = energies.max() if win is None else float(win[1])
        frame["baseline_delta_mu"] = baseline
        frame["importance"] = result[name].importances_mean
        frame["importance_std"] = result[name].importances_std
        frame["relative_importance"] = 100.0 * frame["importance"] / baseline
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def window_difference(table, high="post_edge", low="edge", column="relative_importance"):
    """Difference of feature importance between two energy windows (paper Fig. 9).

    Parameters
    ----------
    table : DataFrame
        Output of :func:`permutation_importance_table`.
    high, low : str, default="post_edge", "edge"
        Windows to subtract: ``high - low``.
    column : str, default="relative_importance"
        Which importance column to subtract.

    Returns
    -------
    DataFrame
        One row per feature: its parsed columns, ``high``, ``low`` (the
        importances) and ``difference`` (``high - low``).
    """
    present = sorted(set(table["window"]))
    for win in (high, low):
        if win not in present:
            raise ValueError(f"window {win!r} is not in the table (windows: {present})")
    keys = ["feature", "position", "kind", "eta", "mu", "lambda", "zeta"]
    hi = table.loc[table["window"] == high, keys + [column]].rename(columns={column: "high"})
    lo = table.loc[table["window"] == low, ["feature", column]].rename(columns={column: "low"})
    out = hi.merge(lo, on="feature", how="inner", sort=False)
    out["difference"] = out["high"] - out["low"]
    out.attrs.update(high=high, low=low, column=column)
    return out.reset_index(drop=True)


def radial_distances(structures, absorber=0, r_cut=6.0):
    """Distances of all neighbours from the absorbing atom, for the radial distribution.

    Parameters
    ----------
    structures : sequence of ase.Atoms
        The structures (molecules; periodic cells use the minimum image).
    absorber : int, default=0
        Index of the absorbing atom in every structure.
    r_cut : float or None, default=6.0
        Keep distances up to ``r_cut`` (Angstrom); None keeps all.

    Returns
    -------
    dict of ndarray
        ``distance`` (Angstrom) and ``z`` (atomic number of the neighbour),
        concatenated over the structures.
    """
    dist, numbers = [], []
    for index, atoms in enumerate(structures):
        n = len(atoms)
        if not 0 <= absorber < n:
            raise ValueError(f"structure {index} has {n} atoms: no absorber at index {absorber}")
        others = np.delete(np.arange(n), absorber)
        if others.size == 0:
            continue
        d = atoms.get_distances(absorber, others, mic=bool(np.any(atoms.pbc)))
        z = atoms.numbers[others]
        keep = np.ones(d.shape, bool) if r_cut is None else d <= r_cut
        dist.append(d[keep])
        numbers.append(z[keep])
    if not dist:
        return {"distance": np.empty(0), "z": np.empty(0, dtype=int)}
    return {"distance": np.concatenate(dist), "z": np.concatenate(numbers)}
