"""Error metrics of the XANESNET paper (Tables I and II), scikit-learn style.

Every function takes ``y_true`` and ``y_pred`` of shape (n_spectra,
n_energies) (a 1-D array is one spectrum).  Scorers made by
:func:`make_delta_mu_scorer` and :func:`make_spectral_error_scorer` plug
into ``GridSearchCV``, ``cross_validate`` and ``permutation_importance``,
optionally restricted to an energy window.
"""

import numpy as np
from scipy.signal import find_peaks
from scipy.stats import skew
from sklearn.metrics import make_scorer, r2_score

__all__ = [
    "delta_mu",
    "delta_mu_summary",
    "relative_spectral_error",
    "delta_e",
    "make_delta_mu_scorer",
    "make_spectral_error_scorer",
]


def _as_spectra(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}"
        )
    if y_true.ndim == 1:
        y_true, y_pred = y_true[None, :], y_pred[None, :]
    if y_true.ndim != 2:
        raise ValueError(
            f"Expected spectra of shape (n_spectra, n_energies), got {y_true.ndim} dimensions"
        )
    return y_true, y_pred


def _energy_grid(energies, n_points):
    energies = np.asarray(energies, dtype=np.float64)
    if energies.ndim != 1 or len(energies) != n_points:
        raise ValueError(
            f"energies must be 1-D with one value per energy point ({n_points}), "
            f"got shape {energies.shape}"
        )
    return energies


def delta_mu(y_true, y_pred):
    r"""Percentage error of each predicted spectrum (the paper's Delta mu).

    .. math::

        \Delta\mu = 100 \cdot
        \frac{\frac{1}{n} \sum_i |\hat y_i - y_i|}{\frac{1}{n} \sum_i |y_i|}

    over the n energy points of one spectrum.  The paper does not give its
    formula; this is the mean absolute error relative to the mean absolute
    target, so that it reads as "per cent of the spectrum".

    Parameters
    ----------
    y_true : array-like of shape (n_spectra, n_energies) or (n_energies,)
        Target spectra.
    y_pred : array-like of the same shape
        Predicted spectra.

    Returns
    -------
    errors : ndarray of shape (n_spectra,)
        Delta mu in per cent; ``nan`` for an all-zero target spectrum.

    Examples
    --------
    >>> from xanesnet_sk.metrics import delta_mu
    >>> delta_mu([[1.0, 2.0, 3.0]], [[1.0, 2.0, 2.4]])
    array([10.])
    """
    y_true, y_pred = _as_spectra(y_true, y_pred)
    num = np.abs(y_pred - y_true).mean(axis=1)
    den = np.abs(y_true).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 100.0 * num / np.where(den > 0, den, 1.0), np.nan)


def delta_mu_summary(y_true, y_pred, *, nan_policy="raise"):
    """Median, quartiles and skewness of Delta mu over spectra (paper Table I).

    Parameters
    ----------
    y_true : array-like of shape (n_spectra, n_energies)
        Target spectra.
    y_pred : array-like of the same shape
        Predicted spectra.
    nan_policy : {"raise", "omit"}, default="raise"
        What to do with spectra whose Delta mu is not finite (an all-zero
        target, or NaN/inf in either spectrum): ``"raise"`` a ValueError
        naming how many and the first; ``"omit"`` leave them out of the
        statistics and count them in ``n_nan``.

    Returns
    -------
    summary : dict
        ``median``, ``lower_quartile`` (25th percentile), ``upper_quartile``
        (75th percentile), ``mean`` (all in per cent), ``skewness`` (Fisher,
        biased, as ``scipy.stats.skew``), ``n_spectra`` (the spectra the
        statistics are over) and ``n_nan`` (those left out; 0 unless
        ``nan_policy="omit"``).

    Raises
    ------
    ValueError
        With ``nan_policy="raise"``, when any Delta mu is not finite; with
        ``"omit"``, when none is.

    See Also
    --------
    delta_mu : the per-spectrum errors.

    Examples
    --------
    >>> from xanesnet_sk.metrics import delta_mu_summary
    >>> delta_mu_summary([[1.0, 1.0], [0.0, 0.0]], [[1.1, 1.1], [1.0, 1.0]],
    ...                  nan_policy="omit")["n_nan"]
    1
    """
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    errors = delta_mu(y_true, y_pred)
    bad = ~np.isfinite(errors)
    if bad.any() and nan_policy == "raise":
        first = int(np.argmax(bad))
        raise ValueError(
            f"Delta mu is not finite for {int(bad.sum())} of {errors.size} spectra (first: "
            f"spectrum {first}): an all-zero target spectrum, or NaN/inf in a target or "
            "prediction; fix the data, or pass nan_policy='omit' to leave them out and count "
            "them"
        )
    errors = errors[~bad]
    if errors.size == 0:
        raise ValueError("No spectrum with a finite Delta mu (all targets zero?)")
    q1, med, q3 = np.percentile(errors, [25, 50, 75])
    return {
        "median": float(med),
        "lower_quartile": float(q1),
        "upper_quartile": float(q3),
        "mean": float(errors.mean()),
        "skewness": float(skew(errors)) if errors.size > 2 else float("nan"),
        "n_spectra": int(errors.size),
        "n_nan": int(bad.sum()),
    }


def relative_spectral_error(y_true, y_pred, energies=None):
    r"""Relative spectral error as computed by the XANESNET code.

    .. math::

        \epsilon = \frac{\sqrt{\sum_i (y_i - \hat y_i)^2 \, \delta_i}}
                        {\sum_i \hat y_i \, \delta_i}

    per spectrum, with :math:`\delta_i` the energy step.  Note the
    denominator is the *predicted* spectrum's area, and the value scales as
    :math:`1/\sqrt{\delta}`: compare it only between spectra on the same
    grid.  It is not the paper's Delta mu (see :func:`delta_mu`).

    Parameters
    ----------
    y_true : array-like of shape (n_spectra, n_energies) or (n_energies,)
        Target spectra.
    y_pred : array-like of the same shape
        Predicted spectra.
    energies : array-like of shape (n_energies,), default=None
        Energy grid; :math:`\delta_i` is ``np.gradient(energies)`` (the step,
        for a uniform grid).  ``None`` takes :math:`\delta_i = 1`.

    Returns
    -------
    errors : ndarray of shape (n_spectra,)
        The relative error of each spectrum (a fraction, not per cent).
    """
    y_true, y_pred = _as_spectra(y_true, y_pred)
    if energies is None:
        delta = np.ones(y_true.shape[1])
    else:
        delta = np.abs(np.gradient(_energy_grid(energies, y_true.shape[1])))
    num = np.sqrt(((y_true - y_pred) ** 2 * delta).sum(axis=1))
    den = (y_pred * delta).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _peak_positions(spectrum, energies, prominence):
    """Energies of the peaks of one spectrum, refined by a 3-point parabola."""
    idx, _ = find_peaks(spectrum, prominence=prominence)
    positions = energies[idx].copy()
    for k, i in enumerate(idx):
        if 0 < i < len(spectrum) - 1:
            x0, x1, x2 = energies[i - 1 : i + 2]
            y0, y1, y2 = spectrum[i - 1 : i + 2]
            denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
            a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
            b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
            if a < 0:
                positions[k] = -b / (2 * a)
    return positions


def delta_e(y_true, y_pred, energies, *, prominence=0.05, tolerance=5.0):
    """Errors in the energy positions of prominent peaks (paper Table II).

    Peaks are found in each target and predicted spectrum with
    ``scipy.signal.find_peaks`` and placed by the vertex of the parabola
    through the peak point and its two neighbours.  Each target peak is
    matched to the nearest predicted peak of the same sample if that lies
    within ``tolerance``; several target peaks may match the same predicted
    peak.  The paper does not say how it found or matched peaks; these
    choices and defaults are ours.

    Parameters
    ----------
    y_true : array-like of shape (n_spectra, n_energies) or (n_energies,)
        Target spectra.
    y_pred : array-like of the same shape
        Predicted spectra.
    energies : array-like of shape (n_energies,)
        Energy grid in eV (increasing).
    prominence : float, default=0.05
        Minimum peak prominence, as a fraction of the target spectrum's
        peak-to-peak range (``ptp(y_true[i])``); the same absolute
        threshold is used for the target and the prediction of a sample.
        0.05 keeps the white line and the main resonances of edge-step
        normalised K-edge spectra and ignores wiggles.
    tolerance : float, default=5.0
        Largest ``|E_pred - E_target|`` (eV) that counts as a match; the paper's
        largest reported errors are 3.5 to 5.3 eV.

    Returns
    -------
    result : dict
        ``mean`` (mean ``|dE|``), ``max`` (max ``|dE|``), ``std`` (standard
        deviation of the signed dE), ``bias`` (mean signed dE = E_pred -
        E_target), all in eV and ``nan`` without matches; ``r2``
        (``sklearn.metrics.r2_score`` of matched E_pred against E_target,
        the parity plot's R^2); ``hit_rate`` (matched target peaks / target
        peaks, ``nan`` when no target has a peak); ``n_target_peaks``,
        ``n_matched``; ``n_nonfinite``, the spectrum pairs left out because the
        target or the prediction holds NaN or inf (counted, not dropped
        silently); and the arrays ``e_target``, ``e_pred`` and
        ``sample`` (spectrum index) of the matched pairs, for parity plots.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.metrics import delta_e
    >>> e = np.linspace(-15, 60, 226)
    >>> target = np.exp(-0.5 * ((e - 10) / 2) ** 2)
    >>> shifted = np.exp(-0.5 * ((e - 11) / 2) ** 2)
    >>> round(delta_e(target, shifted, e)["mean"], 6), delta_e(target, shifted, e)["hit_rate"]
    (1.0, 1.0)
    """
    y_true, y_pred = _as_spectra(y_true, y_pred)
    energies = _energy_grid(energies, y_true.shape[1])
    if prominence < 0:
        raise ValueError(f"prominence must be >= 0, got {prominence!r}")
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
    e_target, e_pred, sample = [], [], []
    n_target = 0
    finite = np.isfinite(y_true).all(axis=1) & np.isfinite(y_pred).all(axis=1)
    for i, (t, p) in enumerate(zip(y_true, y_pred)):
        if not finite[i]:
            continue  # no peak positions in a spectrum with NaN or inf: counted below
        threshold = prominence * np.ptp(t)
        peaks_t = _peak_positions(t, energies, threshold)
        peaks_p = _peak_positions(p, energies, threshold)
        n_target += len(peaks_t)
        if len(peaks_p) == 0:
            continue
        for et in peaks_t:
            nearest = peaks_p[np.argmin(np.abs(peaks_p - et))]
            if abs(nearest - et) <= tolerance:
                e_target.append(et)
                e_pred.append(nearest)
                sample.append(i)
    e_target = np.asarray(e_target)
    e_pred = np.asarray(e_pred)
    err = e_pred - e_target
    matched = err.size > 0
    return {
        "mean": float(np.abs(err).mean()) if matched else float("nan"),
        "max": float(np.abs(err).max()) if matched else float("nan"),
        "std": float(err.std()) if matched else float("nan"),
        "bias": float(err.mean()) if matched else float("nan"),
        "r2": float(r2_score(e_target, e_pred)) if err.size > 1 else float("nan"),
        "hit_rate": err.size / n_target if n_target else float("nan"),
        "n_target_peaks": int(n_target),
        "n_matched": int(err.size),
        "n_nonfinite": int((~finite).sum()),
        "e_target": e_target,
        "e_pred": e_pred,
        "sample": np.asarray(sample, dtype=np.intp),
    }


def _window_columns(energies, window, n_points):
    if window is None:
        return slice(None)
    if energies is None:
        raise ValueError("A window needs the energy grid: pass energies=... as well")
    energies = _energy_grid(energies, n_points)
    lo, hi = window
    cols = np.flatnonzero((energies >= lo) & (energies <= hi))
    if cols.size == 0:
        raise ValueError(
            f"No energy point in window {window}; the grid spans "
            f"{energies.min():g} to {energies.max():g}"
        )
    return cols


# NaN propagates: a spectrum without a finite error (a diverged prediction, an
# all-zero target) makes the score NaN, which scikit-learn reports, rather than
# being dropped from the statistic without a word.
_STATISTICS = {"median": np.median, "mean": np.mean}


def _check_scorer_args(energies, window, statistic):
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    if window is not None:
        if energies is None:
            raise ValueError("A window needs the energy grid: pass energies=... as well")
        if len(window) != 2 or not window[0] < window[1]:
            raise ValueError(f"window must be (low, high) with low < high, got {window!r}")
    return None if energies is None else np.asarray(energies, dtype=np.float64)


def _windowed_delta_mu(y_true, y_pred, energies=None, window=None, statistic="median"):
    y_true, y_pred = _as_spectra(y_true, y_pred)
    cols = _window_columns(energies, window, y_true.shape[1])
    return float(_STATISTICS[statistic](delta_mu(y_true[:, cols], y_pred[:, cols])))


def _windowed_spectral_error(y_true, y_pred, energies=None, window=None, statistic="median"):
    y_true, y_pred = _as_spectra(y_true, y_pred)
    cols = _window_columns(energies, window, y_true.shape[1])
    sub_e = None if energies is None else np.asarray(energies)[cols]
    errors = relative_spectral_error(y_true[:, cols], y_pred[:, cols], sub_e)
    return float(_STATISTICS[statistic](errors))


def make_delta_mu_scorer(energies=None, window=None, statistic="median"):
    """Scorer of the median (or mean) Delta mu, optionally in an energy window.

    For ``GridSearchCV(scoring=...)``, ``cross_validate`` and
    ``permutation_importance``.  Lower Delta mu is better, so the scorer
    is built with ``greater_is_better=False`` and returns **minus** the
    statistic (scikit-learn maximises scores); negate ``best_score_`` to
    read it in per cent.  Permutation importances come out positive when
    permuting a feature raises the error.

    Parameters
    ----------
    energies : array-like of shape (n_energies,), default=None
        Energy grid of the spectra; needed only with ``window``.
    window : tuple of (float, float), default=None
        Closed energy range ``(low, high)`` in the units of ``energies``;
        only those points enter Delta mu (e.g. ``(-3, 3)`` for the edge,
        ``(50, 56)`` for the far region of the paper's Fig. 9).  ``None``
        scores the whole spectrum.
    statistic : {"median", "mean"}, default="median"
        How Delta mu of the spectra is summarised.  A spectrum whose Delta
        mu is NaN (an all-zero target, a NaN prediction) makes the score NaN:
        it is not left out silently.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` as made by ``sklearn.metrics.make_scorer``.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.metrics import make_delta_mu_scorer
    >>> scorer = make_delta_mu_scorer(np.linspace(-15, 60, 226), window=(-3, 3))
    """
    energies = _check_scorer_args(energies, window, statistic)
    return make_scorer(
        _windowed_delta_mu,
        greater_is_better=False,
        energies=energies,
        window=None if window is None else tuple(window),
        statistic=statistic,
    )


def make_spectral_error_scorer(energies=None, window=None, statistic="median"):
    """Scorer of the XANESNET code's relative spectral error, optionally windowed.

    Like :func:`make_delta_mu_scorer` (``greater_is_better=False``, the
    score is minus the statistic) but with :func:`relative_spectral_error`.

    Parameters
    ----------
    energies : array-like of shape (n_energies,), default=None
        Energy grid; sets the step delta and is needed with ``window``.
    window : tuple of (float, float), default=None
        Closed energy range ``(low, high)``; ``None`` scores the whole spectrum.
    statistic : {"median", "mean"}, default="median"
        How the errors of the spectra are summarised.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``.
    """
    energies = _check_scorer_args(energies, window, statistic)
    return make_scorer(
        _windowed_spectral_error,
        greater_is_better=False,
        energies=energies,
        window=None if window is None else tuple(window),
        statistic=statistic,
    )
