"""Tables the verbs print and write: cross-validation folds, evaluation summaries.

The numbers come from :mod:`xanesnet_sk.metrics`; this module only arranges
them into :class:`pandas.DataFrame` tables.
"""

import numpy as np
import pandas as pd

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["delta_mu", "fold_summary", "spectrum_table", "summary_table", "peak_pairs"]


def delta_mu(y_true, y_pred):
    """Per-spectrum delta mu (%) from :mod:`xanesnet_sk.metrics`, as a float ndarray."""
    from ..metrics import delta_mu as _delta_mu

    return np.asarray(_delta_mu(y_true, y_pred), dtype=float).reshape(-1)


def _quartiles(values):
    """(median, q1, q3) over the finite values; NaN when there are none.

    Non-finite values (a diverged prediction) are not dropped silently: the
    tables count them in their own column or row (:func:`n_nonfinite`).
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float(med), float(q1), float(q3)


def n_nonfinite(values):
    """How many of ``values`` are NaN or inf."""
    return int(np.sum(~np.isfinite(np.asarray(values, dtype=float))))


def fold_summary(folds):
    """One row per fold plus an ``overall`` row over all test spectra of all folds.

    Parameters
    ----------
    folds : list of dict
        As returned by ``cross_validate_dmu``.

    Returns
    -------
    pandas.DataFrame
        Columns ``fold``, ``n_test``, ``median``, ``q1``, ``q3``, ``iqr``,
        ``baseline_median`` (delta mu in %) over the finite delta mu of each
        fold, and ``n_nonfinite``, the test spectra whose delta mu is NaN or
        inf (a prediction that diverged), counted rather than dropped.
    """
    rows = []
    for f in folds:
        rows.append(_fold_row(f"r{f['repeat']}/f{f['fold']}", f["dmu"], f["dmu_baseline"]))
    pooled = np.concatenate([f["dmu"] for f in folds])
    pooled_base = np.concatenate([f["dmu_baseline"] for f in folds])
    rows.append(_fold_row("overall", pooled, pooled_base))
    medians = [r["median"] for r in rows[:-1]]
    med, q1, q3 = _quartiles(medians)
    rows.append({"fold": "fold medians", "n_test": len(medians), "median": med, "q1": q1,
                 "q3": q3, "iqr": q3 - q1,
                 "baseline_median": _quartiles([r["baseline_median"] for r in rows[:-1]])[0],
                 "n_nonfinite": n_nonfinite(medians)})
    return pd.DataFrame(rows)


def _fold_row(label, dmu, dmu_baseline):
    med, q1, q3 = _quartiles(dmu)
    return {"fold": label, "n_test": int(np.size(dmu)), "median": med, "q1": q1, "q3": q3,
            "iqr": q3 - q1, "baseline_median": _quartiles(dmu_baseline)[0],
            "n_nonfinite": n_nonfinite(dmu)}


def peak_pairs(y_true, y_pred, energies):
    """Matched peaks from :func:`xanesnet_sk.metrics.delta_e`, overall and per spectrum.

    Returns
    -------
    pairs : pandas.DataFrame
        One row per matched peak: ``spectrum`` (index), ``e_target``,
        ``e_predict``, ``delta_e`` (eV, predicted minus target).
    per_spectrum : pandas.DataFrame
        ``n_target_peaks``, ``n_matched``, ``mean_abs_delta_e`` per spectrum.
    stats : dict
        ``delta_e``'s summary over all spectra (mean, max, std, r2, hit_rate...).
    """
    from ..metrics import delta_e

    stats = delta_e(y_true, y_pred, energies)
    pairs = pd.DataFrame({"spectrum": stats["sample"], "e_target": stats["e_target"],
                          "e_predict": stats["e_pred"]})
    pairs["delta_e"] = pairs["e_predict"] - pairs["e_target"]
    rows = []
    for t, p in zip(y_true, y_pred):
        one = delta_e(t, p, energies)
        rows.append({"n_target_peaks": one["n_target_peaks"], "n_matched": one["n_matched"],
                     "mean_abs_delta_e": one["mean"]})
    return pairs, pd.DataFrame(rows), stats


def spectrum_table(names, dmu, dmu_baseline, per_peaks):
    """Per-spectrum evaluation table (one row per spectrum)."""
    frame = pd.DataFrame({"name": list(names), "delta_mu": dmu, "delta_mu_baseline": dmu_baseline})
    return pd.concat([frame, per_peaks.reset_index(drop=True)], axis=1)


def summary_table(dmu, dmu_baseline, stats):
    """The headline numbers of an evaluation, as a two-column table (metric, value)."""
    med, q1, q3 = _quartiles(dmu)
    bmed, bq1, bq3 = _quartiles(dmu_baseline)
    rows = [
        ("spectra", len(dmu)),
        ("spectra with non-finite delta_mu", n_nonfinite(dmu)),
        ("delta_mu median (%)", med), ("delta_mu q1 (%)", q1), ("delta_mu q3 (%)", q3),
        ("baseline delta_mu median (%)", bmed),
        ("baseline delta_mu q1 (%)", bq1), ("baseline delta_mu q3 (%)", bq3),
        ("spectra without peak matching (NaN or inf)", stats.get("n_nonfinite", 0)),
        ("target peaks", stats["n_target_peaks"]), ("matched peaks", stats["n_matched"]),
        ("peak hit rate (%)", 100.0 * stats["hit_rate"]),
        ("delta_E mean |dE| (eV)", stats["mean"]), ("delta_E max |dE| (eV)", stats["max"]),
        ("delta_E std (eV)", stats["std"]), ("delta_E bias (eV)", stats["bias"]),
        ("peak parity R2", stats["r2"]),
    ]
    return pd.DataFrame(rows, columns=["metric", "value"])
