"""Plots of the analyses in :mod:`xanesnet_sk.analysis` (PNG, via matplotlib's Agg canvas).

Every function takes what the matching analysis returns, builds a
:class:`matplotlib.figure.Figure` directly (no ``pyplot``: no global backend,
no window), saves it as PNG when ``path`` is given, and returns it.

- :func:`plot_g2_importance`: G2 importance against mu, under the radial
  distribution of neighbours when structures are known (paper Fig. 8, top
  and centre).
- :func:`plot_g4_importance`: G4 importance in blocks of equal zeta, lambda
  and eta within (Fig. 8, bottom).
- :func:`plot_window_difference`: importance in one energy window minus
  another, against mu (Fig. 9).
- :func:`plot_variance_sweep`: performance against the share of features
  removed by the variance filter (Fig. 6).
- :func:`plot_select_from_model`: performance against the share of most
  important features kept (Fig. 10).
- :func:`plot_sequential_selection`: the score along a sequential feature
  selection path.
- :func:`plot_wacsf_search`: relative performance of wACSF settings
  (Figs. 3-5).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "plot_g2_importance",
    "plot_g4_importance",
    "plot_window_difference",
    "plot_variance_sweep",
    "plot_select_from_model",
    "plot_sequential_selection",
    "plot_wacsf_search",
]

_KIND_COLOURS = {"g1": "tab:grey", "g2": "tab:blue", "g4": "tab:orange", "other": "tab:green"}


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=120, format="png")
    return fig


def _window_rows(table, window):
    windows = list(dict.fromkeys(table["window"]))
    if window not in windows:
        raise ValueError(f"window {window!r} is not in the importance table (windows: {windows})")
    return table[table["window"] == window]


def _note(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _selected_set(selected):
    if selected is None:
        return set()
    if isinstance(selected, pd.DataFrame):
        selected = selected["feature"]
    return {str(s) for s in selected}


def plot_g2_importance(table, window="whole", distances=None, selected=None, path=None):
    """G2 importance against mu, under the radial distribution when it is known (Fig. 8).

    Parameters
    ----------
    table : DataFrame
        From :func:`~xanesnet_sk.analysis.permutation_importance_table`.
    window : str, default="whole"
        Which energy window's importance to plot.
    distances : dict or array-like or None, default=None
        Neighbour distances from the absorber
        (:func:`~xanesnet_sk.analysis.radial_distances`, or its
        ``"distance"`` array) for the histogram above.  Without it (features
        only, no structures) the importance is plotted alone and the figure
        says so.
    selected : iterable of str or DataFrame, default=None
        Features chosen by a selection (e.g. SFS), marked with triangles.
    path : path-like, default=None
        Save the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = _window_rows(table, window)
    g2 = rows[rows["kind"] == "g2"].sort_values("mu")
    if isinstance(distances, dict):
        distances = distances.get("distance")
    with_rdf = distances is not None
    fig = Figure(figsize=(7.0, 6.0 if with_rdf else 3.8))
    if with_rdf:
        ax_rdf, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
        distances = np.asarray(distances, dtype=float)
        top = float(np.nanmax(g2["mu"])) + 0.5 if len(g2) else float(distances.max(initial=6.0))
        ax_rdf.hist(distances[distances <= top], bins=120, color="0.55")
        ax_rdf.set_ylabel("neighbours")
        ax_rdf.set_title("radial distribution of atoms around the absorber")
    else:
        ax = fig.subplots()
    if len(g2) == 0:
        _note(ax, "no G2 features in the table")
    else:
        width = 0.8 * np.min(np.diff(g2["mu"]), initial=0.15)
        yerr = 100 * g2["importance_std"] / g2["baseline_delta_mu"]
        ax.bar(g2["mu"], g2["relative_importance"], width=width, color=_KIND_COLOURS["g2"],
               yerr=yerr, error_kw={"lw": 0.6})
        chosen = g2[g2["feature"].isin(_selected_set(selected))]
        if len(chosen):
            lift = 0.04 * np.ptp(g2["relative_importance"])
            ax.plot(chosen["mu"], chosen["relative_importance"] + lift, "v", color="k", ms=5,
                    label="selected")
            ax.legend(frameon=False)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlabel("G2 mu (Angstrom)")
    ax.set_ylabel(f"importance ({window}), % of baseline")
    if not with_rdf:
        ax.set_title("G2 importance (features only: no structures, so no radial distribution)",
                     fontsize=9)
    return _finish(fig, path)


def _g4_order(g4):
    """G4 rows sorted into zeta blocks, then lambda, then eta."""
    return g4.sort_values(["zeta", "lambda", "eta", "mu"], ascending=[True, False, False, True])


def plot_g4_importance(table, window="whole", selected=None, path=None):
    """G4 importance in blocks of equal zeta (Fig. 8, bottom).

    Within each shaded block of one zeta, features run by lambda (+1, then
    -1) and by eta (wide to narrow Gaussians).

    Parameters
    ----------
    table : DataFrame
        From :func:`~xanesnet_sk.analysis.permutation_importance_table`.
    window : str, default="whole"
        Which energy window's importance to plot.
    selected : iterable of str or DataFrame, default=None
        Features chosen by a selection, marked with triangles.
    path : path-like, default=None
        Save the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = _window_rows(table, window)
    g4 = _g4_order(rows[rows["kind"] == "g4"]).reset_index(drop=True)
    fig = Figure(figsize=(9.0, 3.8))
    ax = fig.subplots()
    if len(g4) == 0:
        _note(ax, "no G4 features in the table")
        return _finish(fig, path)
    x = np.arange(len(g4))
    colours = np.where(g4["lambda"] > 0, "tab:orange", "tab:red")
    ax.bar(x, g4["relative_importance"], color=colours, width=0.85)
    for i, (zeta, block) in enumerate(g4.groupby("zeta", sort=True)):
        lo, hi = block.index.min() - 0.5, block.index.max() + 0.5
        if i % 2:
            ax.axvspan(lo, hi, color="0.92", zorder=0)
        ax.text((lo + hi) / 2, 1.0, f"zeta={zeta:g}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8)
    chosen = g4.index[g4["feature"].isin(_selected_set(selected))]
    if len(chosen):
        ax.plot(chosen, g4.loc[chosen, "relative_importance"]
                + 0.04 * np.ptp(g4["relative_importance"]), "v", color="k", ms=4, label="selected")
    ax.plot([], [], "s", color="tab:orange", label="lambda=+1")
    ax.plot([], [], "s", color="tab:red", label="lambda=-1")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlim(-0.5, len(g4) - 0.5)
    ax.set_xticks([])
    ax.set_xlabel("G4 features: blocks of zeta; lambda, then eta (wide to narrow) within")
    ax.set_ylabel(f"importance ({window}), % of baseline")
    return _finish(fig, path)


def plot_window_difference(difference, path=None):
    """Importance in one window minus another, against G2 mu (Fig. 9).

    Parameters
    ----------
    difference : DataFrame
        From :func:`~xanesnet_sk.analysis.window_difference`.
    path : path-like, default=None
        Save the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    high = difference.attrs.get("high", "high")
    low = difference.attrs.get("low", "low")
    fig = Figure(figsize=(7.0, 3.6))
    ax = fig.subplots()
    g2 = difference[difference["kind"] == "g2"].sort_values("mu")
    if len(g2):
        x, xlabel = g2["mu"].to_numpy(), "G2 mu (Angstrom)"
        width = 0.8 * np.min(np.diff(x), initial=0.15)
        values = g2["difference"].to_numpy()
    else:
        x, xlabel = difference["position"].to_numpy(), "feature (column)"
        width, values = 0.8, difference["difference"].to_numpy()
    ax.bar(x, values, width=width, color=np.where(values >= 0, "tab:blue", "tab:red"))
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"importance {high} - {low}\n(% of baseline)")
    return _finish(fig, path)


def _relative_errorbar(frame):
    """Standard deviation of the score in % of the reference, for error bars."""
    reference = frame["score_mean"] / (1 + frame["relative_performance"] / 100.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(100.0 * frame["score_std"] / reference)


def _labelled_curve(frame, x, labels, xlabel, ylabel, title, figsize, offset, fontsize, path):
    """Relative performance against ``x`` with error bars, each point labelled."""
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    ax.errorbar(x, frame["relative_performance"], yerr=_relative_errorbar(frame), marker="o",
                capsize=3, color="tab:blue")
    for xi, yi, text in zip(x, frame["relative_performance"], labels):
        ax.annotate(text, (xi, yi), textcoords="offset points", xytext=offset, fontsize=fontsize)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return _finish(fig, path)


def plot_variance_sweep(sweep, path=None):
    """Relative performance against the share of features removed (Fig. 6).

    Parameters
    ----------
    sweep : DataFrame
        From :func:`~xanesnet_sk.analysis.variance_sweep`.
    path : path-like, default=None
        Save the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _labelled_curve(
        sweep, 100 * sweep["fraction_removed"], [f"{n}" for n in sweep["n_kept"]],
        xlabel="features removed by the variance filter (%)",
        ylabel="performance relative to the best (%)", title="labels: features kept",
        figsize=(5.5, 3.8), offset=(4, 4), fontsize=8, path=path)


def plot_select_from_model(curve, path=None):
    """Relative performance against the share of most important features kept (Fig. 10).

    Parameters
    ----------
    curve : DataFrame
        From :func:`~xanesnet_sk.analysis.select_from_model_curve`.
    path : path-like, default=None
        Save the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _labelled_curve(
        curve, 100 * curve["fraction_included"],
        [f"{g2}:{g4}" for g2, g4 in zip(curve["n_g2"], curve["n_g4"])],
        xlabel="most important features included (%)",
        ylabel="performance relative to all features (%)", title="labels: G2:G4 features kept",
        figsize=(6.0, 4.0), offset=(3, -11), fontsize=7, path=path)


def plot_sequential_selection(paths, baseline=None, score_label="CV score", path=None):
    """The score along sequential feature selection paths.

    Parameters
    ----------
    paths : DataFrame or dict of str to DataFrame
        The ``"path"`` of :func:`~xanesnet_sk.analysis.sequential_selection`,
        or several keyed by a label (e.g. ``{"forward": ..., "backward": ...}``).
    baseline : float, default=None
        Score with all features, drawn as a horizontal line.
    score_label : str, default="CV score"
        Axis label of the score.
    path : path-like, default=None
        Save the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(paths, pd.DataFrame):
        paths = {"": paths}
    fig = Figure(figsize=(6.5, 4.0))
    ax = fig.subplots()
    for label, frame in paths.items():
        if len(frame) == 0:
            continue
        frame = frame.sort_values("n_features")
        ax.errorbar(frame["n_features"], frame["score_mean"], yerr=frame["score_std"], lw=1,
                    capsize=2, label=label or None, color="0.4", alpha=0.6)
        for kind, part in frame.groupby("kind"):
            ax.plot(part["n_features"], part["score_mean"], "o", ms=4, ls="none",
                    color=_KIND_COLOURS.get(kind, "k"))
    for kind, colour in _KIND_COLOURS.items():
        if kind != "other":
            ax.plot([], [], "o", color=colour, label=f"step's feature: {kind}")
    if baseline is not None:
        ax.axhline(baseline, color="k", ls="--", lw=0.8, label="all features")
    ax.set_xlabel("number of features")
    ax.set_ylabel(score_label)
    ax.legend(frameon=False, fontsize=8)
    return _finish(fig, path)


def plot_wacsf_search(results, title=None, path=None):
    """Relative performance of wACSF parameter settings (Figs. 3-5).

    Parameters
    ----------
    results : DataFrame
        From :func:`~xanesnet_sk.analysis.wacsf_search`.
    title : str, default=None
        Figure title (e.g. the study's name).
    path : path-like, default=None
        Save the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    params = [c for c in results.columns if c not in _SEARCH_COLUMNS]
    varying = [c for c in params if results[c].astype(str).nunique() > 1] or params
    labels = [", ".join(f"{c}={row[c]}" for c in varying) for _, row in results.iterrows()]
    fig = Figure(figsize=(7.0, 0.9 + 0.45 * len(results)))
    ax = fig.subplots()
    y = np.arange(len(results))
    ax.barh(y, results["relative_performance"], xerr=_relative_errorbar(results), color="tab:blue",
            error_kw={"lw": 0.8, "capsize": 2})
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", lw=0.6)
    ax.set_xlabel("performance relative to the best (%)")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


_SEARCH_COLUMNS = {
    "candidate", "label", "n_features", "n_g2_features", "n_g4_features", "score_mean",
    "score_std", "n_splits", "fit_time", "params", "relative_performance", "study",
}
