"""Spectrum and evaluation plots (PNG, via matplotlib's Agg canvas).

Every function builds a :class:`matplotlib.figure.Figure` directly (no
``pyplot``, so no global backend or figure registry is touched and nothing
opens a window), saves it when ``path`` is given, and returns it.

- :func:`plot_spectrum`: one predicted spectrum, with its target if known.
- :func:`plot_spectra_examples`: best, median and worst predictions by
  delta mu, target against prediction.
- :func:`plot_dmu_histogram`: the distribution of per-spectrum delta mu with
  its median and quartiles, as in Fig. 11 of the XANESNET paper [1]_.
- :func:`plot_peak_parity`: target against predicted peak energies, as in
  Fig. 12 of the paper.

References
----------
.. [1] C. D. Rankine and T. J. Penfold, J. Chem. Phys. 156, 164102 (2022).
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import spearmanr

__all__ = [
    "plot_spectrum",
    "plot_spectra_examples",
    "plot_dmu_histogram",
    "plot_peak_parity",
    "plot_calibration",
    "plot_std_vs_error",
    "MAX_BINS",
]

_TARGET = dict(color="0.2", lw=1.6, label="target")
_PREDICT = dict(color="tab:red", lw=1.3, ls="--", label="predicted")


def _energy_label(energies):
    """Axis label: relative energies (any below zero) or absolute ones."""
    return "E - E0 (eV)" if np.min(energies) < 0 else "Energy (eV)"


def _finish(fig, path):
    """Lay out ``fig``, save it as PNG when ``path`` is given, and return it."""
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=120, format="png")
    return fig


def plot_spectrum(energies, predicted, target=None, title=None, path=None, std=None):
    """Plot one predicted spectrum, over its target when one is given.

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Energy grid (eV), absolute or relative to the edge.
    predicted : array-like of shape (n_points,)
        The predicted spectrum.
    target : array-like of shape (n_points,), default=None
        The reference spectrum, drawn beneath the prediction.
    title : str, default=None
        Axes title (e.g. the structure's name).
    path : str or path-like, default=None
        Where to write the PNG; nothing is written when None.
    std : array-like of shape (n_points,), default=None
        One-standard-deviation error bar of the prediction (an ensemble's):
        drawn as a shaded band of ±2 std around it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.add_subplot()
    if target is not None:
        ax.plot(energies, target, **_TARGET)
    if std is not None:
        predicted_ = np.asarray(predicted, dtype=float)
        band = 2.0 * np.asarray(std, dtype=float)
        ax.fill_between(energies, predicted_ - band, predicted_ + band, color=_PREDICT["color"],
                        alpha=0.25, linewidth=0, label="±2 std")
    ax.plot(energies, predicted, **_PREDICT)
    ax.set_xlabel(_energy_label(energies))
    ax.set_ylabel("mu (arb. units)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return _finish(fig, path)


def plot_spectra_examples(energies, y_true, y_pred, dmu, names=None, path=None, std=None):
    """Plot the best, median and worst predictions by delta mu.

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Energy grid (eV).
    y_true, y_pred : array-like of shape (n_spectra, n_points)
        Target and predicted spectra.
    dmu : array-like of shape (n_spectra,)
        Per-spectrum delta mu (%), used to pick the three examples.
    names : sequence of str, default=None
        Spectrum names for the panel titles.
    path : str or path-like, default=None
        Where to write the PNG.
    std : array-like of shape (n_spectra, n_points), default=None
        One-standard-deviation error bars of the predictions (an
        ensemble's): drawn as shaded bands of ±2 std.

    Returns
    -------
    matplotlib.figure.Figure
    """
    dmu = np.asarray(dmu, dtype=float)
    order = np.argsort(dmu)
    picks = {"best": order[0], "median": order[len(order) // 2], "worst": order[-1]}
    fig = Figure(figsize=(10.5, 3.2))
    for k, (label, i) in enumerate(picks.items()):
        ax = fig.add_subplot(1, 3, k + 1)
        ax.plot(energies, np.asarray(y_true)[i], **_TARGET)
        predicted = np.asarray(y_pred, dtype=float)[i]
        if std is not None:
            band = 2.0 * np.asarray(std, dtype=float)[i]
            ax.fill_between(energies, predicted - band, predicted + band,
                            color=_PREDICT["color"], alpha=0.25, linewidth=0, label="±2 std")
        ax.plot(energies, predicted, **_PREDICT)
        name = f" {names[i]}" if names is not None else ""
        ax.set_title(f"{label}{name}: dmu = {dmu[i]:.2f} %", fontsize=8)
        ax.set_xlabel(_energy_label(energies))
        if k == 0:
            ax.set_ylabel("mu (arb. units)")
            ax.legend(frameon=False, fontsize=8)
    return _finish(fig, path)


#: Most bins :func:`plot_dmu_histogram` draws when it chooses them itself.
MAX_BINS = 100


def plot_dmu_histogram(dmu, path=None, bins=None, title=None):
    """Histogram of per-spectrum delta mu with median and quartiles (paper Fig. 11).

    Parameters
    ----------
    dmu : array-like of shape (n_spectra,)
        Per-spectrum percentage errors.  NaN or inf values (a diverged
        prediction) are left out of the histogram and counted in the title.
    path : str or path-like, default=None
        Where to write the PNG.
    bins : int or sequence, default=None
        Histogram bins; None takes 1 %-wide bins up to the 99th percentile of
        the finite values (finer below 10 %, at most :data:`MAX_BINS` bins;
        larger values land in the last bin).
    title : str, default=None
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    dmu = np.asarray(dmu, dtype=float).reshape(-1)
    finite = dmu[np.isfinite(dmu)]
    n_bad = dmu.size - finite.size
    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.add_subplot()
    if finite.size:
        q1, med, q3 = np.percentile(finite, [25, 50, 75])
        values = finite
        if bins is None:
            low = min(0.0, float(finite.min()))
            top = max(float(np.percentile(finite, 99)), low + 1e-9)
            width = top - low
            step = width / 10 if width < 10 else max(1.0, width / MAX_BINS)
            n_bins = min(MAX_BINS, max(1, int(np.ceil(width / step))))
            bins = np.linspace(low, low + n_bins * step, n_bins + 1)
            values = np.clip(finite, None, bins[-1])  # outliers land in the last bin
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.75, edgecolor="white")
        ax.axvline(med, color="k", lw=1.5, label=f"median {med:.2f} %")
        ax.axvline(q1, color="k", lw=1.0, ls=":", label=f"quartiles {q1:.2f}-{q3:.2f} %")
        ax.axvline(q3, color="k", lw=1.0, ls=":")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("delta mu (%)")
    ax.set_ylabel("spectra")
    default = f"delta mu over {finite.size} spectra"
    if n_bad:
        default += f" ({n_bad} non-finite, not shown)"
    ax.set_title(title or default, fontsize=9)
    return _finish(fig, path)


def plot_peak_parity(e_target, e_predict, path=None, title=None):
    """Parity plot of target against predicted peak positions (paper Fig. 12).

    Parameters
    ----------
    e_target, e_predict : array-like of shape (n_peaks,)
        Energies (eV) of matched peak pairs.
    path : str or path-like, default=None
        Where to write the PNG.
    title : str, default=None
        Axes title; by default the number of peaks, mean ``|delta E|`` and R^2.

    Returns
    -------
    matplotlib.figure.Figure
    """
    e_target = np.asarray(e_target, dtype=float)
    e_predict = np.asarray(e_predict, dtype=float)
    fig = Figure(figsize=(4.2, 4.2))
    ax = fig.add_subplot()
    if e_target.size:
        lo = float(min(e_target.min(), e_predict.min()))
        hi = float(max(e_target.max(), e_predict.max()))
        pad = 0.03 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1.0)
        ax.scatter(e_target, e_predict, s=10, color="tab:blue", alpha=0.7)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
    if title is None:
        title = _parity_title(e_target, e_predict)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("E target (eV)")
    ax.set_ylabel("E predicted (eV)")
    ax.set_aspect("equal", adjustable="box")
    return _finish(fig, path)


def _parity_title(e_target, e_predict):
    """Default parity title: number of peaks, mean |delta E| and R^2."""
    if e_target.size == 0:
        return "no matched peaks"
    err = np.abs(e_predict - e_target)
    ss_res = float(np.sum((e_predict - e_target) ** 2))
    ss_tot = float(np.sum((e_target - e_target.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return f"{e_target.size} peaks: mean |dE| = {err.mean():.2f} eV, R2 = {r2:.3f}"


def plot_calibration(expected, observed, path=None):
    """Observed against expected coverage of an ensemble's error bars.

    Parameters
    ----------
    expected, observed : array-like of shape (n_levels,)
        As returned by :func:`xanesnet_sk.ensemble.calibration_curve`.
    path : str or path-like, default=None
        Where to write the PNG; nothing is written when None.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(3.8, 3.6))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls=":", label="calibrated")
    ax.plot(expected, observed, "o-", color="tab:red", ms=3, lw=1.2, label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("expected coverage")
    ax.set_ylabel("observed coverage")
    ax.legend(frameon=False, fontsize=8)
    return _finish(fig, path)


def plot_std_vs_error(mean_std, dmu, path=None):
    """Each spectrum's mean predicted std against its Delta mu (log-log scatter).

    Parameters
    ----------
    mean_std : array-like of shape (n_spectra,)
        Mean over energy points of the predicted standard deviation.
    dmu : array-like of shape (n_spectra,)
        Delta mu (%) of the same spectra.
    path : str or path-like, default=None
        Where to write the PNG; nothing is written when None.

    Returns
    -------
    matplotlib.figure.Figure
    """
    mean_std, dmu = np.asarray(mean_std, dtype=float), np.asarray(dmu, dtype=float)
    ok = np.isfinite(mean_std) & np.isfinite(dmu) & (mean_std > 0) & (dmu > 0)
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.add_subplot()
    ax.scatter(mean_std[ok], dmu[ok], s=6, color="tab:blue", alpha=0.6, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean predicted std")
    ax.set_ylabel("delta mu (%)")
    if ok.sum() > 2:
        rho = spearmanr(mean_std[ok], dmu[ok]).statistic
        ax.set_title(f"Spearman rho = {rho:.2f}", fontsize=9)
    return _finish(fig, path)
