"""Tests of make_xanesnet_pipeline and CorrelationFilter."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.feature_selection import SelectPercentile, VarianceThreshold
from sklearn.model_selection import GridSearchCV, KFold, RepeatedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from xanesnet_sk.metrics import delta_mu, make_delta_mu_scorer
from xanesnet_sk.model import XANESNetRegressor
from xanesnet_sk.pipeline import make_xanesnet_pipeline
from xanesnet_sk.selection import CorrelationFilter, feature_variance

TINY = dict(hidden_sizes=(16,), max_epochs=3, batch_size=8, n_threads=1)


def make_features(n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 4))
    X = np.column_stack(
        [
            base,
            base[:, 0] * 2 + 1e-3 * rng.normal(size=n),  # near copy of column 0
            1e-3 * rng.normal(size=n),  # low variance
            np.full(n, 3.0),  # constant
        ]
    )
    y = 1.0 + np.tanh(base @ rng.normal(size=(4, 12)))
    return X, y


# ---------------------------------------------------------------- CorrelationFilter


@parametrize_with_checks([CorrelationFilter(), CorrelationFilter(threshold=0.9)])
def test_correlation_filter_sklearn_checks(estimator, check):
    check(estimator)


def test_correlation_filter_drops_later_copy():
    X, _ = make_features()
    filt = CorrelationFilter(threshold=0.95).fit(X)
    assert filt.get_support().tolist() == [True] * 4 + [False, True, True]
    assert CorrelationFilter(threshold=None).fit(X).get_support().all()
    assert CorrelationFilter(threshold=1.0).fit(X).get_support().all()
    assert filt.transform(X).shape == (len(X), 6)


def test_correlation_filter_feature_names():
    pd = pytest.importorskip("pandas")
    X, _ = make_features()
    frame = pd.DataFrame(X, columns=[f"g{i}" for i in range(X.shape[1])])
    filt = CorrelationFilter(threshold=0.95).fit(frame)
    assert list(filt.get_feature_names_out()) == ["g0", "g1", "g2", "g3", "g5", "g6"]


def test_correlation_filter_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        CorrelationFilter(threshold=1.5).fit(np.eye(3))


def test_feature_variance_percentile_drops_lowest_quarter():
    X, y = make_features()
    sel = SelectPercentile(feature_variance, percentile=75).fit(X, y)
    kept = sel.get_support()
    assert not kept[5] and not kept[6] and kept[:5].all()


# ---------------------------------------------------------------- pipeline


def test_structure_of_pipeline():
    default = make_xanesnet_pipeline(featurise=False)
    assert isinstance(default.named_steps["variance"], SelectPercentile)
    assert default.named_steps["variance"].percentile == pytest.approx(100.0)
    pipe = make_xanesnet_pipeline(featurise=False, random_state=3, variance_drop=0.25, **TINY)
    assert [name for name, _ in pipe.steps] == ["variance", "correlation", "scale", "model"]
    assert isinstance(pipe.named_steps["variance"], SelectPercentile)
    assert pipe.named_steps["variance"].percentile == pytest.approx(75.0)
    assert isinstance(pipe.named_steps["model"], TransformedTargetRegressor)
    assert isinstance(pipe.named_steps["model"].transformer, StandardScaler)
    params = pipe.get_params()
    assert params["model__regressor__random_state"] == 3
    assert params["model__regressor__max_epochs"] == 3
    plain = make_xanesnet_pipeline(
        featurise=False, variance_drop=None, standardize_targets=False, correlation_threshold=0.9
    )
    assert isinstance(plain.named_steps["variance"], VarianceThreshold)
    assert isinstance(plain.named_steps["model"], XANESNetRegressor)
    assert plain.get_params()["correlation__threshold"] == 0.9
    with pytest.raises(ValueError, match="variance_drop"):
        make_xanesnet_pipeline(featurise=False, variance_drop=1.0)


@pytest.fixture(scope="module")
def fitted_features():
    X, y = make_features()
    pipe = make_xanesnet_pipeline(
        featurise=False, random_state=0, variance_drop=0.25, correlation_threshold=0.95, **TINY
    )
    return pipe.fit(X, y), X, y


def test_fit_predict_on_features(fitted_features):
    pipe, X, y = fitted_features
    pred = pipe.predict(X)
    assert pred.shape == y.shape and pred.dtype == np.float64
    net = pipe.named_steps["model"].regressor_
    # 7 features -> drop 25 % by variance -> drop the correlated copy
    assert net.n_features_in_ == 4
    # standardised targets: predictions come back in the original units
    assert abs(pred.mean() - y.mean()) < 0.5
    again = clone(pipe).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), pred)


def test_grid_search_over_model_params_with_repeated_kfold():
    X, y = make_features()
    search = GridSearchCV(
        make_xanesnet_pipeline(featurise=False, random_state=0, **TINY),
        {
            "model__regressor__dropout": [0.0, 0.25],
            "variance__percentile": [75, 100],
        },
        cv=RepeatedKFold(n_splits=2, n_repeats=1, random_state=0),
        scoring=make_delta_mu_scorer(),
        n_jobs=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(search.cv_results_["mean_test_score"] < 0)
    assert search.predict(X).shape == y.shape


def test_cross_val_score_repeated_kfold_paper_scheme():
    X, y = make_features(n=30)
    cv = RepeatedKFold(n_splits=5, n_repeats=5, random_state=0)
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, **{**TINY, "max_epochs": 1})
    scores = cross_val_score(pipe, X, y, cv=cv, scoring=make_delta_mu_scorer())
    assert scores.shape == (25,)
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)  # minus a median delta mu
    # 5 x 5: every sample is tested once per repeat, and the repeats reshuffle the folds
    splits = list(cv.split(X))
    for r in range(5):
        tested = np.concatenate([test for _, test in splits[5 * r: 5 * r + 5]])
        np.testing.assert_array_equal(np.sort(tested), np.arange(len(X)))
    assert not np.array_equal(splits[0][1], splits[5][1])
    # each score is the fold's fitted pipeline's minus median delta mu on its test part
    for k in (0, 7, 24):
        train, test = splits[k]
        model = clone(pipe).fit(X[train], y[train])
        expected = -np.median(delta_mu(y[test], model.predict(X[test])))
        assert scores[k] == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- featurise=True (wACSF)

wacsf = pytest.importorskip("wacsf")
ase = pytest.importorskip("ase")

WACSF_SMALL = {"n_g2": 4, "n_g4": 8, "r_cut": 4.0}


def make_structures(n=16, seed=0):
    """Tiny absorber-centred clusters; spectra depend on the first-shell distance."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    structures, spectra = [], []
    energies = np.linspace(-15, 60, 30)
    for _ in range(n):
        r = rng.uniform(1.7, 2.3)
        k = int(rng.integers(3, 6))
        directions = rng.normal(size=(k, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        positions = np.vstack([[0.0, 0.0, 0.0], r * directions])
        numbers = [23] + list(rng.choice([6, 7, 8], size=k))
        structures.append(Atoms(numbers=numbers, positions=positions))
        spectra.append(1 + np.exp(-0.5 * ((energies - 10 * (2.5 - r) * k) / 3) ** 2))
    return structures, np.array(spectra)


def test_featurise_pipeline_fit_predict():
    structures, spectra = make_structures()
    pipe = make_xanesnet_pipeline(
        random_state=0, wacsf_params=WACSF_SMALL, variance_drop=0.25, **TINY
    )
    steps = ["wacsf", "variance", "correlation", "scale", "model"]
    assert [name for name, _ in pipe.steps] == steps
    assert pipe.get_params()["wacsf__n_g2"] == 4
    pred = pipe.fit(structures, spectra).predict(structures[:3])
    assert pred.shape == (3, spectra.shape[1])
    n_wacsf = 1 + WACSF_SMALL["n_g2"] + WACSF_SMALL["n_g4"]
    n_kept = int(pipe.named_steps["variance"].get_support().sum())
    assert n_kept < n_wacsf
    assert pipe.named_steps["model"].regressor_.n_features_in_ == n_kept


def test_grid_search_over_wacsf_and_model_together():
    structures, spectra = make_structures()
    search = GridSearchCV(
        make_xanesnet_pipeline(random_state=0, wacsf_params=WACSF_SMALL, **TINY),
        {"wacsf__n_g2": [2, 4], "model__regressor__hidden_sizes": [(8,), (16,)]},
        cv=KFold(n_splits=2, shuffle=True, random_state=0),
        scoring=make_delta_mu_scorer(np.linspace(-15, 60, 30), window=(-3, 3)),
        n_jobs=2,
    ).fit(structures, spectra)
    results = search.cv_results_
    assert len(results["params"]) == 4
    # the best candidate is the one with the highest mean score, and it is what was refitted
    best = int(np.argmax(results["mean_test_score"]))
    assert search.best_index_ == best and results["rank_test_score"][best] == 1
    assert search.best_params_ == results["params"][best]
    refit = search.best_estimator_
    n_g2 = search.best_params_["wacsf__n_g2"]
    assert refit.named_steps["wacsf"].n_g2 == n_g2
    assert refit.get_params()["model__regressor__hidden_sizes"] == \
        search.best_params_["model__regressor__hidden_sizes"]
    # the wACSF parameter reached the features: 1 + n_g2 + n_g4 columns into the net
    assert refit.named_steps["model"].regressor_.n_features_in_ == 1 + n_g2 + WACSF_SMALL["n_g4"]
    # and the candidates differ: the grid was searched, not one setting scored four times
    assert len(set(np.round(results["mean_test_score"], 10))) > 1
    np.testing.assert_allclose(search.predict(structures[:2]), refit.predict(structures[:2]))


# ----------------------------------------------------------------------------- sites and targets


def _mol(symbols, d):
    from ase import Atoms

    return Atoms(symbols, positions=[[0, 0, 0], [d, 0, 0], [0, d, 0]])


SITE_WACSF = dict(absorber_element="Fe", on_missing_absorber="skip", n_g2=4, n_g4=8)


def _site_pipeline(**wacsf):
    return make_xanesnet_pipeline(random_state=0, max_epochs=1, hidden_sizes=(4,),
                                  batch_norm=False, wacsf_params=dict(SITE_WACSF, **wacsf))


def test_skipped_structures_cannot_shift_spectra_onto_other_sites():
    """4 structures (one without Fe, one with two) make 4 Fe rows: one spectrum per
    structure would land on the wrong sites, so fit refuses before training."""
    X = [_mol("FeOO", 1.9), _mol("NiOO", 2.0), _mol("FeFeO", 2.2), _mol("FeOO", 2.1)]
    y = np.arange(20.0).reshape(4, 5)
    pipe = _site_pipeline()
    with pytest.warns(UserWarning, match="skipped 1 structures"), \
            pytest.raises(ValueError) as err:
        pipe.fit(X, y)
    message = str(err.value)
    assert "\n" not in message
    assert "structure 1" in message and "structure 2" in message
    assert "SiteAveragedRegressor" in message and "one spectrum per site" in message
    assert not hasattr(pipe[-1], "regressor_")  # nothing was trained


def test_one_spectrum_per_structure_with_skipped_structures_is_refused_by_name():
    X = [_mol("FeOO", 1.9), _mol("NiOO", 2.0), _mol("FeOO", 2.1)]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=(
            r"one spectrum per structure \(3\).*2 rows.*structure 1.*no Fe")):
        _site_pipeline().fit(X, np.ones((3, 5)))


def test_one_spectrum_per_site_row_with_skipped_structures_trains():
    X = [_mol("FeOO", 1.9), _mol("NiOO", 2.0), _mol("FeFeO", 2.2), _mol("FeOO", 2.1),
         _mol("NiOO", 2.2)]
    y = np.arange(20.0).reshape(4, 5)  # rows: structure 0, 2 (twice), 3
    with pytest.warns(UserWarning, match="skipped 2 structures"):
        pipe = _site_pipeline().fit(X, y)
    with pytest.warns(UserWarning, match="skipped 2 structures"):
        assert pipe.predict(X).shape == (4, 5)
    # and a plain one-site-per-structure set is unchanged
    X1 = [_mol("FeOO", 1.9), _mol("FeOO", 2.0), _mol("FeOO", 2.1)]
    assert _site_pipeline(on_missing_absorber="raise").fit(X1, np.ones((3, 5))).predict(
        X1).shape == (3, 5)
    # a wrong count of targets is named too
    with pytest.raises(ValueError, match=r"y has 2 rows.*3 site rows from 3 structures"):
        _site_pipeline().fit(X1, np.ones((2, 5)))


def test_the_site_check_survives_clone_and_grid_search():
    X = [_mol("FeOO", 1.9), _mol("NiOO", 2.0), _mol("FeFeO", 2.2), _mol("FeOO", 2.1)]
    pipe = clone(_site_pipeline())
    assert type(pipe) is type(_site_pipeline())
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="cannot be matched"):
        pipe.fit(X, np.ones((4, 5)))


def test_a_featuriser_error_is_not_masked_by_the_site_check():
    X = [_mol("FeOO", 1.9), _mol("FeOO", 2.0), _mol("FeOO", 2.1)]
    pipe = _site_pipeline().fit(X, np.ones((3, 5)))
    bad = [_mol("FeOO", 1.9), _mol("FeOO", 2.0), _mol("FeOO", 0.0)]  # atoms on the Fe
    with pytest.raises(ValueError, match="structure 2: atom 1 sits exactly on the absorber"):
        pipe.fit(bad, np.ones((2, 5)))  # not "y has 2 rows" from the last fit's sites


@pytest.mark.parametrize("memory", [None, "cache"])
def test_any_pipeline_refuses_spectra_that_would_shift_onto_other_sites(tmp_path, memory):
    """The check lives in WACSFTransformer.fit_transform: a hand-built scikit-learn
    Pipeline (cached or not) gets it too, not only make_xanesnet_pipeline's."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    from wacsf import WACSFTransformer

    X = [_mol("FeOO", 1.9), _mol("NiOO", 2.0), _mol("FeFeO", 2.2), _mol("FeOO", 2.1)]
    y = np.arange(20.0).reshape(4, 5)  # 4 spectra, 4 Fe rows, but not the same 4
    pipe = Pipeline([("wacsf", WACSFTransformer(absorber_element="Fe",
                                                on_missing_absorber="skip")),
                     ("ridge", Ridge())],
                    memory=None if memory is None else str(tmp_path / memory))
    with pytest.warns(UserWarning, match="skipped 1 structures"), \
            pytest.raises(ValueError, match="structure 1.*structure 2"):
        pipe.fit(X, y)
    assert not hasattr(pipe[-1], "coef_")
    # one spectrum per site row trains, and so does fit_transform without targets
    X_ok = X + [_mol("NiOO", 2.2)]
    with pytest.warns(UserWarning, match="skipped 2 structures"):
        assert pipe.fit(X_ok, y).predict(X_ok).shape == (4, 5)
    with pytest.warns(UserWarning):
        assert WACSFTransformer(absorber_element="Fe", on_missing_absorber="skip")\
            .fit_transform(X).shape[0] == 4
