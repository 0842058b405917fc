"""Tests of xanesnet_sk.metrics on hand-made spectra."""

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from xanesnet_sk.metrics import (
    delta_e,
    delta_mu,
    delta_mu_summary,
    make_delta_mu_scorer,
    make_spectral_error_scorer,
    relative_spectral_error,
)

ENERGIES = np.linspace(-15, 60, 226)
STEP = ENERGIES[1] - ENERGIES[0]


def gaussian(centre, width=2.0, height=1.0):
    return height * np.exp(-0.5 * ((ENERGIES - centre) / width) ** 2)


def test_delta_mu_identical_is_zero():
    y = np.abs(np.random.default_rng(0).normal(size=(5, 226)))
    np.testing.assert_array_equal(delta_mu(y, y), np.zeros(5))


def test_delta_mu_hand_value():
    # mean |diff| = 0.6 / 3 = 0.2, mean |y| = 2 -> 10 %
    np.testing.assert_allclose(delta_mu([[1.0, 2.0, 3.0]], [[1.0, 2.0, 2.4]]), [10.0])
    # one spectrum as 1-D, and scaling both by a constant leaves it unchanged
    np.testing.assert_allclose(delta_mu([1.0, 2.0, 3.0], [1.6, 2.0, 3.0]), [10.0])
    np.testing.assert_allclose(
        delta_mu(7 * np.array([1.0, 2.0, 3.0]), 7 * np.array([1.6, 2.0, 3.0])), [10.0]
    )


def test_delta_mu_zero_target_is_nan_and_shape_error():
    out = delta_mu([[0.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.5]])
    assert np.isnan(out[0]) and out[1] == pytest.approx(25.0)
    with pytest.raises(ValueError, match="same shape"):
        delta_mu(np.ones((2, 3)), np.ones((2, 4)))


def test_summary_quartiles():
    y = np.ones((5, 4))
    pred = y * (1 + np.array([0.01, 0.02, 0.03, 0.04, 0.05]))[:, None]
    s = delta_mu_summary(y, pred)
    assert s["median"] == pytest.approx(3.0)
    assert s["lower_quartile"] == pytest.approx(2.0)
    assert s["upper_quartile"] == pytest.approx(4.0)
    assert s["n_spectra"] == 5
    assert s["skewness"] == pytest.approx(0.0, abs=1e-12)


def test_relative_spectral_error_formula():
    y = np.array([[1.0, 2.0, 3.0, 4.0]])
    pred = np.array([[1.0, 2.5, 3.0, 4.0]])
    # delta = 1: sqrt(0.25) / 10.5
    np.testing.assert_allclose(relative_spectral_error(y, pred), [0.5 / 10.5])
    e = np.array([0.0, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(relative_spectral_error(y, pred, e), [np.sqrt(0.125) / 5.25])
    np.testing.assert_array_equal(relative_spectral_error(y, y), [0.0])


@pytest.mark.parametrize("shift_steps", [0, 1, 3, -6])
def test_delta_e_known_shift(shift_steps):
    shift = shift_steps * STEP
    target = np.stack([gaussian(5.0) + 0.6 * gaussian(25.0, 4.0), gaussian(30.0)])
    pred = np.stack(
        [gaussian(5.0 + shift) + 0.6 * gaussian(25.0 + shift, 4.0), gaussian(30 + shift)]
    )
    res = delta_e(target, pred, ENERGIES)
    assert res["n_target_peaks"] == 3
    assert res["hit_rate"] == 1.0
    assert res["mean"] == pytest.approx(abs(shift), abs=1e-9)
    assert res["max"] == pytest.approx(abs(shift), abs=1e-9)
    assert res["bias"] == pytest.approx(shift, abs=1e-9)
    assert res["std"] == pytest.approx(0.0, abs=1e-9)
    # refined positions sit on the true centres
    np.testing.assert_allclose(np.sort(res["e_target"]), [5.0, 25.0, 30.0], atol=0.05)
    expected_r2 = 1 - 3 * shift**2 / np.sum((res["e_target"] - res["e_target"].mean()) ** 2)
    assert res["r2"] == pytest.approx(expected_r2, abs=1e-6)


def test_delta_e_sub_grid_shift_is_refined():
    res = delta_e(gaussian(10.0), gaussian(10.5), ENERGIES)
    assert res["mean"] == pytest.approx(0.5, abs=0.02)


def test_delta_e_missing_peak_lowers_hit_rate():
    target = gaussian(5.0) + gaussian(30.0)
    pred = gaussian(5.2)  # the peak at 30 eV is missing
    res = delta_e(target, pred, ENERGIES)
    assert res["n_target_peaks"] == 2
    assert res["n_matched"] == 1
    assert res["hit_rate"] == 0.5
    # a peak beyond the tolerance does not count either
    far = delta_e(gaussian(5.0), gaussian(20.0), ENERGIES, tolerance=5.0)
    assert far["hit_rate"] == 0.0 and np.isnan(far["mean"])
    # a small wiggle below the prominence threshold is no peak
    wiggle = gaussian(5.0) + 0.01 * gaussian(40.0, 0.5)
    assert delta_e(wiggle, wiggle, ENERGIES)["n_target_peaks"] == 1


def test_delta_e_errors():
    with pytest.raises(ValueError, match="energies"):
        delta_e(np.ones((2, 5)), np.ones((2, 5)), np.arange(4.0))
    with pytest.raises(ValueError, match="tolerance"):
        delta_e(np.ones(5), np.ones(5), np.arange(5.0), tolerance=0)


class _Shifted(DummyRegressor):
    """Predicts the training mean plus a fixed offset on the first energy points."""

    def __init__(self, offset=0.0):
        self.offset = offset

    def fit(self, X, y):
        self.mean_ = np.mean(y, axis=0)
        return self

    def predict(self, X):
        pred = np.tile(self.mean_, (len(X), 1))
        pred[:, :30] += self.offset
        return pred


def test_scorer_sign_and_window():
    y = np.tile(1.0 + gaussian(0.0), (6, 1))
    X = np.zeros((6, 1))
    est = _Shifted(offset=0.5).fit(X, y)
    whole = make_delta_mu_scorer()(est, X, y)
    assert whole == pytest.approx(-delta_mu(y, est.predict(X))[0])
    assert whole < 0
    # the offset sits below -5 eV: a window at the edge sees no error
    assert make_delta_mu_scorer(ENERGIES, window=(-3, 3))(est, X, y) == pytest.approx(0.0)
    assert make_delta_mu_scorer(ENERGIES, window=(-15, -12))(est, X, y) < whole
    assert make_spectral_error_scorer(ENERGIES)(est, X, y) < 0


def test_scorer_argument_errors():
    with pytest.raises(ValueError, match="energy grid"):
        make_delta_mu_scorer(window=(-3, 3))
    with pytest.raises(ValueError, match="statistic"):
        make_delta_mu_scorer(statistic="max")
    with pytest.raises(ValueError, match="low < high"):
        make_delta_mu_scorer(ENERGIES, window=(3, -3))
    scorer = make_delta_mu_scorer(ENERGIES, window=(100, 200))
    est = _Shifted().fit(np.zeros((3, 1)), np.ones((3, 226)))
    with pytest.raises(ValueError, match="No energy point"):
        scorer(est, np.zeros((3, 1)), np.ones((3, 226)))


def test_scorers_in_grid_search_and_permutation_importance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = 2.0 + np.outer(X[:, 0], gaussian(0.0)) + 0.01 * rng.normal(size=(60, 226))
    scorer = make_delta_mu_scorer(ENERGIES, window=(-3, 3))
    search = GridSearchCV(_Shifted(), {"offset": [0.0, 1.0]}, scoring=scorer, cv=2).fit(X, y)
    assert search.best_params_ == {"offset": 0.0}  # smaller error wins
    model = Ridge(alpha=1e-3).fit(X, y)
    imp = permutation_importance(model, X, y, scoring=scorer, n_repeats=3, random_state=0)
    assert imp.importances_mean[0] > 1.0  # permuting the informative feature hurts
    assert abs(imp.importances_mean[1]) < 0.5


# ---------------------------------------------------------------- NaN is never dropped quietly


@pytest.mark.parametrize("where", ["zero target", "nan prediction", "inf prediction",
                                   "nan target"])
def test_summary_refuses_nan_by_default_and_counts_it_when_omitted(where):
    y = np.ones((5, 4))
    pred = y * (1 + np.array([0.01, 0.02, 0.03, 0.04, 0.05]))[:, None]
    if where == "zero target":
        y[3] = 0.0
    elif where == "nan target":
        y[3, 1] = np.nan
    else:
        pred[3, 2] = np.nan if where == "nan prediction" else np.inf
    with pytest.raises(ValueError, match=r"not finite for 1 of 5 spectra \(first: spectrum 3\)"):
        delta_mu_summary(y, pred)
    s = delta_mu_summary(y, pred, nan_policy="omit")
    assert s["n_nan"] == 1 and s["n_spectra"] == 4
    assert s["median"] == pytest.approx(np.median([1.0, 2.0, 3.0, 5.0]))
    with pytest.raises(ValueError, match="nan_policy"):
        delta_mu_summary(y, pred, nan_policy="ignore")


def test_summary_counts_no_nan_on_clean_data():
    y = np.ones((3, 4))
    assert delta_mu_summary(y, y * np.array([[1.1], [1.2], [1.4]]))["n_nan"] == 0


@pytest.mark.parametrize("statistic", ["median", "mean"])
def test_scorers_propagate_nan(statistic):
    y = np.tile(1.0 + gaussian(0.0), (6, 1))
    X = np.zeros((6, 1))
    est = _Shifted(offset=0.5).fit(X, y)
    y_bad = y.copy()
    y_bad[2] = 0.0  # one all-zero target: its delta mu is undefined
    assert np.isnan(make_delta_mu_scorer(statistic=statistic)(est, X, y_bad))
    assert np.isfinite(make_delta_mu_scorer(statistic=statistic)(est, X, y))
    y_nan = y.copy()
    y_nan[4, 7] = np.nan
    scorer = make_spectral_error_scorer(ENERGIES, statistic=statistic)
    assert np.isnan(scorer(est, X, y_nan))


def test_delta_e_counts_spectra_with_nan_instead_of_dropping_them():
    target = np.vstack([gaussian(10.0), gaussian(20.0), gaussian(30.0)])
    pred = target.copy()
    pred[1, 50] = np.nan
    target[2, 3] = np.inf
    out = delta_e(target, pred, ENERGIES)
    assert out["n_nonfinite"] == 2
    assert out["n_target_peaks"] == 1 and out["n_matched"] == 1  # only the clean pair
    assert delta_e(target[:1], pred[:1], ENERGIES)["n_nonfinite"] == 0
