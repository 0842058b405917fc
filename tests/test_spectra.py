"""Tests for xanesnet_sk.spectra: broadening, resampling, edge-step normalisation."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LinearRegression
from sklearn.utils import estimator_checks

from xanesnet_sk.spectra import (
    ArctanBroadening,
    EdgeStepNormaliser,
    LorentzianBroadening,
    Resampler,
    arctan_width,
    detect_edge,
    lorentzian,
    xanesnet_grid,
)

E_REL = xanesnet_grid()
E0 = 7112.0


def _all_transformers():
    return [
        LorentzianBroadening(E_REL),
        ArctanBroadening(E_REL),
        Resampler(E_REL + E0, e0=E0),
        EdgeStepNormaliser(E_REL, e0=0.0, fit_range=(30, 60)),
    ]


# --- broadening -------------------------------------------------------------


def test_lorentzian_is_area_normalised():
    x = np.linspace(-2000, 2000, 400001)
    assert np.trapezoid(lorentzian(x, 1.5), x) == pytest.approx(1.0, abs=1e-3)
    assert lorentzian(0.0, 2.0) == pytest.approx(1 / np.pi)


def test_arctan_width_limits():
    assert arctan_width(-1.0) == 1.0  # at E_F: the core-hole width (x = 0)
    assert arctan_width(-1.5) == pytest.approx(1.0, abs=5e-3)  # 1/x**2 dominates near E_F
    assert arctan_width(-1e6) == pytest.approx(1.0, abs=1e-3)
    assert arctan_width(1e6) == pytest.approx(16.0, abs=1e-3)
    w = arctan_width(np.linspace(0, 200, 50))
    assert np.all(np.diff(w) > 0)


@pytest.mark.parametrize(
    "energy, params, expected",
    [
        # SPEC.md: G(E) = G_hole + G_max [1/2 + (1/pi) arctan((pi/3)(G_max/E_l)(x - 1/x^2))],
        # x = (E - E_F)/E_c; XANESNET defaults G_hole 1, G_max 15, E_F -1, E_c 30, E_l 30 eV.
        # E = 29: x = 1, x - 1/x^2 = 0, arctan 0 = 0 -> 1 + 15/2
        (29.0, {}, 8.5),
        # E = 59: x = 2, 2 - 1/4 = 1.75, arg = (pi/3)(1/2)(1.75) = 0.916298,
        # arctan = 0.741652, /pi = 0.236075 -> 1 + 15 (0.736075)
        (59.0, {}, 12.041580195243593),
        # E = 14: x = 1/2, 1/2 - 4 = -3.5, arg = -1.832596, arctan = -1.071405,
        # /pi = -0.341040 -> 1 + 15 (0.158960)
        (14.0, {}, 3.385012785204363),
        # E = 119: x = 4, 4 - 1/16 = 3.9375, arg = 2.061670, arctan = 1.118859
        (119.0, {}, 13.843715896087046),
        # E = -31: x = -1, -1 - 1 = -2, arg = -1.047198 (= -pi/3), arctan = -0.808449
        (-31.0, {}, 4.639941352487721),
        # other parameters: G_hole 0.5, G_max 10, E_F 0, E_c 20, E_l 40
        # E = 20: x = 1 -> 0.5 + 10/2
        (20.0, dict(gamma_hole=0.5, gamma_max=10.0, e_fermi=0.0, e_c=20.0, e_l=40.0), 5.5),
        # E = 40: x = 2, arg = (pi/3)(1/4)(1.75) = 0.458149, arctan = 0.429749
        (40.0, dict(gamma_hole=0.5, gamma_max=10.0, e_fermi=0.0, e_c=20.0, e_l=40.0),
         6.867490709345609),
    ],
)
def test_arctan_width_hand_values(energy, params, expected):
    assert arctan_width(energy, **params) == pytest.approx(expected, rel=1e-12)
    assert arctan_width(np.array([energy, energy]), **params) == pytest.approx(
        [expected, expected], rel=1e-12)


@pytest.mark.parametrize("width", [2.0, 1.0])
def test_lorentzian_delta_gives_kernel(width):
    e = np.linspace(-30, 30, 601)  # step 0.1 eV
    X = np.zeros((1, e.size))
    X[0, 300] = 1.0  # one nonzero sample at 0 eV
    Y = LorentzianBroadening(e, width=width).fit_transform(X)
    np.testing.assert_allclose(Y[0], 0.1 * lorentzian(e, width), rtol=1e-10)
    # normalised: the kernel's mass inside +-30 eV
    assert Y.sum() == pytest.approx(2 / np.pi * np.arctan(30 / (width / 2)), rel=1e-3)


def test_arctan_delta_gives_kernel_of_source_width():
    e = np.linspace(-15, 60, 751)  # step 0.1 eV
    k = np.searchsorted(e, 20.0)
    X = np.zeros((2, e.size))
    X[:, k] = [1.0, 3.0]
    Y = ArctanBroadening(e).fit_transform(X)
    expected = 0.1 * lorentzian(e - e[k], arctan_width(e[k]))
    np.testing.assert_allclose(Y[0], expected, rtol=1e-10)
    np.testing.assert_allclose(Y[1], 3 * expected, rtol=1e-10)


def test_broadening_preserves_area_far_from_edges():
    e = np.linspace(-200, 200, 4001)
    X = np.exp(-0.5 * (e / 1.5) ** 2)[None, :]
    Y = LorentzianBroadening(e, width=1.0).fit_transform(X)
    area_in, area_out = np.trapezoid(X[0], e), np.trapezoid(Y[0], e)
    assert abs(area_out / area_in - 1) < 3e-3
    assert Y[0].max() < X[0].max()  # it did broaden


def test_broadening_nonuniform_grid_matches_uniform():
    rng = np.random.default_rng(2)
    e_uni = np.linspace(-50, 50, 1001)
    e_non = np.unique(np.concatenate([[-50, 50], rng.uniform(-50, 50, 300)]))

    def f(e):
        return np.exp(-0.5 * (e / 8.0) ** 2) + 0.3 * np.exp(-0.5 * ((e - 20) / 4.0) ** 2)

    y_uni = LorentzianBroadening(e_uni, width=0.7).fit_transform(f(e_uni)[None, :])[0]
    y_non = LorentzianBroadening(e_non, width=0.7).fit_transform(f(e_non)[None, :])[0]
    np.testing.assert_allclose(y_non, np.interp(e_non, e_uni, y_uni), atol=3e-3)
    assert np.max(np.abs(y_non - f(e_non))) > 1e-2  # and it did broaden


def test_flat_spectrum_and_fermi_cut():
    e = np.linspace(-30, 30, 241)
    X = np.ones((1, e.size))
    flat = LorentzianBroadening(e, width=1.0).fit_transform(X)[0]
    assert np.all(flat <= 1.0) and np.all(flat > 0.99)  # 50-Gamma truncation only
    cut = LorentzianBroadening(e, width=1.0, e_fermi=0.0).fit_transform(X)[0]
    assert cut[0] < 0.02 and cut[-1] > 0.98
    assert cut[np.searchsorted(e, 0.0)] == pytest.approx(0.5, abs=0.04)  # the kernel's half


def test_broadening_has_no_inverse():
    for est in (LorentzianBroadening(E_REL), ArctanBroadening(E_REL)):
        assert not hasattr(est, "inverse_transform")


# --- resampling ---------------------------------------------------------------


def test_resample_linear_function_exact():
    e = E0 + np.sort(np.random.default_rng(0).uniform(-30, 100, 400))
    e[0], e[-1] = E0 - 30, E0 + 100
    X = np.vstack([2.0 + 0.01 * e, -3.0 * e])
    r = Resampler(e, e0=E0).fit(X)
    Y = r.transform(X)
    target = E0 + xanesnet_grid()
    np.testing.assert_allclose(Y, np.vstack([2.0 + 0.01 * target, -3.0 * target]), rtol=1e-12)
    assert r.get_feature_names_out()[0] == "mu_-15"


def test_resample_round_trip_smooth():
    e = E0 + np.linspace(-15, 60, 1501)
    X = np.vstack([np.sin((e - E0) / 5.0), np.exp(-(((e - E0) / 20) ** 2))])
    r = Resampler(e, e0=E0).fit(X)
    back = r.inverse_transform(r.transform(X))
    np.testing.assert_allclose(back, X, atol=1e-3)


def test_resample_inverse_is_nan_outside_window():
    e = E0 + np.linspace(-30, 100, 651)
    X = np.cos(e / 3.0)[None, :]
    r = Resampler(e, e0=E0).fit(X)
    back = r.inverse_transform(r.transform(X))[0]
    inside = (e >= E0 - 15) & (e <= E0 + 60)
    assert np.all(np.isnan(back[~inside])) and np.all(np.isfinite(back[inside]))


def test_resample_detected_and_per_sample_edges():
    e = np.linspace(7080, 7200, 1201)
    edges = np.array([7110.0, 7114.5])
    X = 0.5 + np.arctan((e[None, :] - edges[:, None]) / 0.8) / np.pi
    detected = Resampler(e).fit(X)
    assert not hasattr(detected, "inverse_transform")  # edges not recoverable
    np.testing.assert_allclose(detect_edge(e, X), edges, atol=0.1)
    np.testing.assert_allclose(detected.transform(X)[:, 45], 0.5, atol=0.05)  # at E0
    given = Resampler(e, e0=edges).fit(X)
    np.testing.assert_allclose(given.transform(X), detected.transform(X), atol=0.05)
    with pytest.raises(ValueError, match="e0 has 2 edges .* X has 1 samples"):
        given.transform(X[:1])


def test_resample_refuses_to_extrapolate():
    e = E0 + np.linspace(-10, 60, 200)
    with pytest.raises(ValueError, match=r"sample 0: E0 \+ grid spans .* outside energies"):
        Resampler(e, e0=E0).fit(np.ones((1, 200)))
    with pytest.raises(ValueError, match="outside energies"):  # relative grid, absolute e0
        Resampler(E_REL, e0=E0).fit(np.ones((1, 226)))


def test_resampler_in_transformed_target_regressor():
    e = E0 + np.linspace(-20, 70, 361)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(30, 2))
    y = x[:, :1] * np.sin((e - E0) / 7.0) + x[:, 1:] * (e - E0) / 50.0
    ttr = TransformedTargetRegressor(
        LinearRegression(), transformer=Resampler(e, e0=E0), check_inverse=False
    )  # NaN outside the window: not a strict inverse there
    pred = ttr.fit(x, y).predict(x)
    assert pred.shape == y.shape
    inside = (e >= E0 - 15) & (e <= E0 + 60)
    np.testing.assert_allclose(pred[:, inside], y[:, inside], atol=2e-3)


# --- edge step ----------------------------------------------------------------


def _quadratic_background(e, e0, c=(2.5, -1e-3, 2e-6)):
    t = e - e0
    q = c[0] + c[1] * t + c[2] * t**2
    return np.where(t >= 0, q, 0.1 * c[0])


def test_edge_step_of_quadratic_background_is_one_at_e0():
    e = E0 + np.linspace(-20, 450, 1411)
    X = np.vstack([_quadratic_background(e, E0), 3 * _quadratic_background(e, E0)])
    est = EdgeStepNormaliser(e, e0=E0).fit(X)
    Y = est.transform(X)
    at_e0 = np.searchsorted(e, E0)
    np.testing.assert_allclose(Y[:, at_e0], 1.0, rtol=1e-10)
    np.testing.assert_allclose(est.edge_steps(X), [2.5, 7.5], rtol=1e-10)
    flat = EdgeStepNormaliser(e, e0=E0, flatten=True).fit_transform(X)
    np.testing.assert_allclose(flat[:, at_e0:], 1.0, rtol=1e-10)
    np.testing.assert_allclose(flat[:, :at_e0], Y[:, :at_e0])
    assert not hasattr(est, "inverse_transform")


def test_edge_step_per_sample_edges_match_shared():
    e = np.linspace(7000, 7600, 1801)
    edges = np.array([7110.0, 7116.0])
    X = np.vstack([_quadratic_background(e, edge) for edge in edges])
    Y = EdgeStepNormaliser(e, e0=edges).fit_transform(X)
    for i, edge in enumerate(edges):
        Yi = EdgeStepNormaliser(e, e0=edge).fit_transform(X[i : i + 1])
        np.testing.assert_allclose(Y[i], Yi[0], rtol=1e-10)


def test_edge_step_short_spectra():
    X = _quadratic_background(E_REL, 0.0)[None, :]
    with pytest.raises(ValueError, match=r"fit_range=\(100, 400\) needs spectra up to E0 \+ 400"):
        EdgeStepNormaliser(E_REL, e0=0.0).fit(X)
    Y = EdgeStepNormaliser(E_REL, e0=0.0, fit_range=(30, 60)).fit_transform(X)
    assert Y[0, np.searchsorted(E_REL, 0.0)] == pytest.approx(1.0, rel=1e-8)
    with pytest.raises(ValueError, match="fit_range must be two finite energies"):
        EdgeStepNormaliser(E_REL, e0=0.0, fit_range=(60, 30)).fit(X)


def test_edge_step_nonpositive_step():
    X = -_quadratic_background(E_REL, 0.0)[None, :]
    with pytest.raises(ValueError, match=r"sample 0: edge step q\(E0\)=.* is not positive"):
        EdgeStepNormaliser(E_REL, e0=0.0, fit_range=(30, 60)).fit_transform(X)


# --- shared contract ----------------------------------------------------------


@pytest.mark.parametrize("est", _all_transformers(), ids=lambda est: type(est).__name__)
def test_input_errors(est):
    X = np.ones((2, 226))
    with pytest.raises(ValueError, match="X has 225 energy points .* energies= has 226"):
        clone(est).fit(X[:, :-1])
    bad = X.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(est).fit(bad)
    shuffled = clone(est).set_params(energies=est.energies[::-1])
    with pytest.raises(ValueError, match=r"energies must increase strictly"):
        shuffled.fit(X)
    with pytest.raises(ValueError, match=r"at least 2 points"):
        clone(est).set_params(energies=[1.0]).fit(X[:, :1])
    fitted = clone(est).fit(X + 1.0)
    with pytest.raises(ValueError, match="features"):
        fitted.transform(X[:, :-1])
    with pytest.raises(ValueError, match="NaN"):
        fitted.transform(bad)


@pytest.mark.parametrize("est", _all_transformers(), ids=lambda est: type(est).__name__)
def test_not_fitted_and_feature_names(est):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        est.transform(np.ones((1, 226)))
    fitted = clone(est).set_output(transform="pandas").fit(np.ones((1, 226)))
    out = fitted.transform(np.ones((1, 226)))
    assert list(out.columns) == list(fitted.get_feature_names_out())
    assert len(set(out.columns)) == out.shape[1]


CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_parameters_default_constructible",
    "check_param_validation",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_valid_tag_types",
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("est", _all_transformers(), ids=lambda est: type(est).__name__)
def test_sklearn_checks(est, check):
    getattr(estimator_checks, check)(type(est).__name__, est)


def test_invalid_parameters():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="width"):
        LorentzianBroadening(E_REL, width=0.0).fit(np.ones((1, 226)))
    with pytest.raises(InvalidParameterError, match="gamma_hole"):
        ArctanBroadening(E_REL, gamma_hole=-1.0).fit(np.ones((1, 226)))
    with pytest.raises(InvalidParameterError, match="flatten"):
        EdgeStepNormaliser(E_REL, flatten="yes").fit(np.ones((1, 226)))
