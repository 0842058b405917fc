"""Deep ensembles, the derivative loss and user torch modules."""

import io
import sys

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge, SGDRegressor
from sklearn.model_selection import GridSearchCV

from xanesnet_sk import XANESNetRegressor, make_xanesnet_pipeline
from xanesnet_sk.ensemble import (
    TWO_SIGMA,
    DeepEnsembleRegressor,
    calibration_curve,
    coverage,
)
from xanesnet_sk.model import DerivativeLoss

SMALL = dict(hidden_sizes=(16,), max_epochs=4, n_threads=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6))
    W = rng.normal(size=(6, 12))
    y = np.tanh(X @ W) + rng.normal(0, 0.05, size=(150, 12))
    return X, y


# ----------------------------------------------------------------------------- ensemble


def test_pipeline_ensemble_mean_std_shapes_and_units(data):
    X, y = data
    y = 100.0 + 50.0 * y  # far from standardised: the std must come back in these units
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=3, **SMALL)
    pipe.fit(X, y)
    ens = pipe[-1]
    assert isinstance(ens, DeepEnsembleRegressor) and len(ens.estimators_) == 3
    mean, std = pipe.predict(X[:10], return_std=True)
    assert mean.shape == std.shape == (10, 12)
    assert np.all(std > 0)
    np.testing.assert_allclose(pipe.predict(X[:10]), mean)
    members = ens.predict_members(pipe[:-1].transform(X[:10]))
    np.testing.assert_allclose(members.mean(0), mean)
    np.testing.assert_allclose(members.std(0, ddof=1) * ens.std_scale_, std)
    # in the spectra's units: of the order of the (scaled) data's spread, not of 1
    assert std.mean() > 1.0


def test_members_seeded_from_random_state_and_reproducible(data):
    X, y = data
    kw = dict(featurise=False, n_ensemble=3, **SMALL)
    a = make_xanesnet_pipeline(random_state=1, **kw).fit(X, y)
    b = make_xanesnet_pipeline(random_state=1, **kw).fit(X, y)
    c = make_xanesnet_pipeline(random_state=2, **kw).fit(X, y)
    np.testing.assert_array_equal(a[-1].seeds_, b[-1].seeds_)
    assert len(set(a[-1].seeds_)) == 3
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.allclose(a.predict(X), c.predict(X))
    nets = [m.regressor_ for m in a[-1].estimators_]
    assert [n.random_state for n in nets] == list(a[-1].seeds_)


def test_parallel_members_equal_sequential(data):
    X, y = data
    kw = dict(featurise=False, random_state=0, n_ensemble=2, **SMALL)
    seq = make_xanesnet_pipeline(**kw).fit(X, y)
    par = make_xanesnet_pipeline(n_jobs=2, **kw).fit(X, y)
    np.testing.assert_array_equal(seq.predict(X), par.predict(X))


def test_calibration_scale_reaches_two_sigma_on_holdout():
    # members that agree too much: the scale factor must widen the spread
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    y = X @ [1.0, -1.0, 0.5] + rng.normal(0, 1.0, 2000)
    ens = DeepEnsembleRegressor(
        SGDRegressor(max_iter=5, tol=None), n_ensemble=5, random_state=0
    ).fit(X, y)
    assert ens.raw_coverage_ < 0.5  # raw spread far too narrow for noise of std 1
    assert ens.std_scale_ > 2
    X_new = rng.normal(size=(4000, 3))
    y_new = X_new @ [1.0, -1.0, 0.5] + rng.normal(0, 1.0, 4000)
    mean, std = ens.predict(X_new, return_std=True)
    assert 0.85 < coverage(y_new, mean, std) < 0.99  # the band


def test_no_calibration_trains_on_everything(data):
    X, y = data
    ens = DeepEnsembleRegressor(Ridge(), n_ensemble=2, calibration=None, random_state=0)
    ens.fit(X, y)
    assert ens.std_scale_ == 1.0 and ens.raw_coverage_ is None
    # Ridge has no seed: both members are the same fit on all data, spread 0
    np.testing.assert_allclose(ens.predict(X), Ridge().fit(X, y).predict(X))


def test_bootstrap_members_see_different_data(data):
    X, y = data
    ens = DeepEnsembleRegressor(Ridge(), n_ensemble=3, bootstrap=True, calibration=None,
                                random_state=0).fit(X, y)
    coefs = [m.coef_ for m in ens.estimators_]
    assert not np.allclose(coefs[0], coefs[1])
    _, std = ens.predict(X, return_std=True)
    assert np.all(std > 0)


def test_clone_and_params_in_grid_search(data):
    X, y = data
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=2, **SMALL)
    params = pipe.get_params()
    assert params["model__n_ensemble"] == 2
    assert "model__estimator__regressor__lr" in params
    search = GridSearchCV(pipe, {"model__estimator__regressor__lr": [1e-3, 1e-2]}, cv=2)
    search.fit(X, y)
    assert search.best_estimator_[-1].n_ensemble == 2
    clone(search.best_estimator_)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_n_ensemble(bad):
    with pytest.raises(ValueError, match="n_ensemble"):
        make_xanesnet_pipeline(featurise=False, n_ensemble=bad)


def test_bad_n_ensemble_on_the_estimator(data):
    X, y = data
    with pytest.raises(ValueError, match="n_ensemble"):
        DeepEnsembleRegressor(Ridge(), n_ensemble=0).fit(X, y)


def test_return_std_on_single_net_is_a_clear_error(data):
    X, y = data
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="return_std=True needs an ensemble"):
        pipe.predict(X, return_std=True)
    net = XANESNetRegressor(random_state=0, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="n_ensemble=5"):
        net.predict(X, return_std=True)
    one = DeepEnsembleRegressor(Ridge(), n_ensemble=1).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 members"):
        one.predict(X, return_std=True)
    np.testing.assert_allclose(one.predict(X), Ridge().fit(X, y).predict(X))


def test_too_little_data_for_calibration(data):
    X, y = data
    with pytest.raises(ValueError, match="calibration='holdout' needs"):
        DeepEnsembleRegressor(Ridge(), n_ensemble=2, random_state=0).fit(X[:8], y[:8])


def test_coverage_and_calibration_curve():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 2.0, size=(5000, 3))
    mean, std = np.zeros_like(y), np.full_like(y, 2.0)
    assert abs(coverage(y, mean, std) - TWO_SIGMA) < 0.01
    expected, observed = calibration_curve(y, mean, std)
    np.testing.assert_allclose(observed, expected, atol=0.02)
    _, narrow = calibration_curve(y, mean, std / 2)
    assert np.all(narrow[:-1] < expected[:-1])
    with pytest.raises(ValueError, match="levels"):
        calibration_curve(y, mean, std, levels=[0.5, 1.0])


# ----------------------------------------------------------------------------- derivative loss


def test_derivative_loss_values():
    y = torch.tensor([[0.0, 1.0, 4.0, 9.0]])
    p = torch.tensor([[0.0, 2.0, 4.0, 9.0]])
    mse = float(torch.mean((p - y) ** 2))
    d1 = float(torch.mean((torch.diff(p) - torch.diff(y)) ** 2))
    d2 = float(torch.mean((torch.diff(p, n=2) - torch.diff(y, n=2)) ** 2))
    loss = DerivativeLoss(derivative_weight=0.5, curvature_weight=0.25)(p, y)
    assert float(loss) == pytest.approx(mse + 0.5 * d1 + 0.25 * d2)
    assert float(DerivativeLoss(derivative_weight=0.0)(p, y)) == pytest.approx(mse)


def test_derivative_weight_is_a_net_parameter(data):
    X, y = data
    plain = XANESNetRegressor(random_state=0, **SMALL).fit(X, y)
    assert isinstance(plain.criterion_, torch.nn.MSELoss)
    net = XANESNetRegressor(random_state=0, derivative_weight=2.0, curvature_weight=1.0,
                            **SMALL).fit(X, y)
    assert isinstance(net.criterion_, DerivativeLoss)
    assert net.criterion_.derivative_weight == 2.0 and net.criterion_.curvature_weight == 1.0
    assert not np.allclose(net.predict(X), plain.predict(X))
    search = GridSearchCV(XANESNetRegressor(random_state=0, **SMALL),
                          {"derivative_weight": [0.0, 1.0]}, cv=2).fit(X, y)
    assert search.best_params_["derivative_weight"] in (0.0, 1.0)
    with pytest.raises(ValueError, match="derivative_weight"):
        XANESNetRegressor(derivative_weight=-1.0, **SMALL).fit(X, y)


# ----------------------------------------------------------------------------- any module


class ConvNet(torch.nn.Module):
    """A 1-D convolution over the feature vector, then a linear read-out."""

    def __init__(self, n_features, n_outputs, channels=4, kernel_size=3):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, channels, kernel_size, padding="same")
        self.out = torch.nn.Linear(channels * n_features, n_outputs)

    def forward(self, X):
        return self.out(torch.relu(self.conv(X.unsqueeze(1))).flatten(1))


def test_user_module_gets_sizes_and_own_params(data):
    X, y = data
    net = XANESNetRegressor(ConvNet, module__channels=5, max_epochs=3, random_state=0)
    net.fit(X, y)
    assert isinstance(net.module_, ConvNet)
    assert net.module_.conv.out_channels == 5
    assert net.module_.out.out_features == y.shape[1]
    assert net.module_.out.in_features == 5 * X.shape[1]
    assert net.predict(X).shape == y.shape
    # a single training sample is fine: no batch norm in this module
    XANESNetRegressor(ConvNet, max_epochs=1).fit(X[:1], y[:1])


def test_user_module_in_pipeline_ensemble_and_grid_search(data):
    X, y = data
    pipe = make_xanesnet_pipeline(featurise=False, module=ConvNet, max_epochs=3, random_state=0)
    search = GridSearchCV(pipe, {"model__regressor__module__channels": [2, 6]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["model__regressor__module__channels"] in (2, 6)
    assert isinstance(search.best_estimator_[-1].regressor_.module_, ConvNet)
    ens = make_xanesnet_pipeline(featurise=False, module=ConvNet, max_epochs=2,
                                 random_state=0, n_ensemble=2).fit(X, y)
    mean, std = ens.predict(X[:3], return_std=True)
    assert mean.shape == std.shape == (3, y.shape[1])


def test_user_module_sizes_cannot_be_routed(data):
    X, y = data
    with pytest.raises(ValueError, match="come from the data"):
        XANESNetRegressor(ConvNet, module__n_outputs=3, max_epochs=1).fit(X, y)


def test_example_panels_draw_the_std_band():
    from matplotlib.collections import PolyCollection

    from xanesnet_sk.plots import plot_spectra_examples

    rng = np.random.default_rng(0)
    e = np.linspace(0.0, 50.0, 40)
    y = rng.random((5, 40))
    pred, std = y + 0.01, np.full((5, 40), 0.05)
    dmu = np.arange(5.0)
    with_band = plot_spectra_examples(e, y, pred, dmu, std=std)
    bands = [c for ax in with_band.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 3  # best, median and worst each get their band
    # the band of the worst panel (index 4) spans prediction +- 2 std
    verts = bands[2].get_paths()[0].vertices
    assert verts[:, 1].max() == pytest.approx((pred[4] + 2 * std[4]).max())
    plain = plot_spectra_examples(e, y, pred, dmu)
    assert not any(ax.collections for ax in plain.axes)


# ----------------------------------------------------------------------------- calibration, pinned


class _Recorder(RegressorMixin, BaseEstimator):
    """Predicts column 1 plus a shift drawn from its seed; records the sample ids (column 0)
    it was fitted on and asked to predict."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.seen_ = np.asarray(X)[:, 0].astype(int)
        self.shift_ = float(np.random.default_rng(self.random_state).normal())
        self.predicted_ = []
        return self

    def predict(self, X):
        X = np.asarray(X)
        self.predicted_.append(X[:, 0].astype(int))
        return X[:, 1] + self.shift_


def _recorder_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n), rng.normal(size=n)])
    y = X[:, 1] + rng.standard_t(3, size=n)  # heavy tails: distinct standardised errors
    return X, y


@pytest.mark.parametrize("bootstrap", [False, True])
def test_the_holdout_is_held_out_of_every_member(bootstrap):
    X, y = _recorder_data(300)
    ens = DeepEnsembleRegressor(_Recorder(), n_ensemble=4, bootstrap=bootstrap,
                                validation_fraction=0.2, random_state=3).fit(X, y)
    held_out = ens.estimators_[0].predicted_[0]
    assert len(held_out) == 60 and len(np.unique(held_out)) == 60
    for member in ens.estimators_:
        np.testing.assert_array_equal(member.predicted_[0], held_out)  # same points for all
        assert not set(member.seen_) & set(held_out)
        if not bootstrap:  # the rest, all of it, each once
            np.testing.assert_array_equal(np.sort(member.seen_),
                                          np.setdiff1d(np.arange(300), held_out))
    if bootstrap:
        assert len({tuple(m.seen_) for m in ens.estimators_}) == 4
        assert all(len(np.unique(m.seen_)) < 240 for m in ens.estimators_)


def test_calibration_is_the_split_conformal_quantile():
    X, y = _recorder_data()
    ens = DeepEnsembleRegressor(_Recorder(), n_ensemble=3, random_state=0).fit(X, y)
    cal = ens.estimators_[0].predicted_[0]
    shifts = np.array([m.shift_ for m in ens.estimators_])
    z = np.abs(y[cal] - X[cal, 1] - shifts.mean()) / shifts.std(ddof=1)
    # the held-out point of rank ceil(TWO_SIGMA * (n - 1)) sets the factor: no interpolation
    # (300 held-out points: rank 286, where 95 % would give 285)
    rank = int(np.ceil(TWO_SIGMA * (len(z) - 1)))
    assert len(z) == 300 and rank != int(np.ceil(0.95 * (len(z) - 1)))
    assert ens.std_scale_ == pytest.approx(np.sort(z)[rank] / 2.0, rel=1e-12)
    assert ens.raw_coverage_ == pytest.approx(np.mean(z <= 2.0), rel=1e-12)
    # the smallest such factor: TWO_SIGMA of the held-out points within 2 scaled std, and
    # not with a factor a hair smaller
    assert np.mean(z <= 2.0 * ens.std_scale_ * (1 + 1e-12)) >= TWO_SIGMA
    assert np.mean(z <= 2.0 * ens.std_scale_ * (1 - 1e-9)) < TWO_SIGMA
    mean, std = ens.predict(X[:5], return_std=True)
    np.testing.assert_allclose(std, shifts.std(ddof=1) * ens.std_scale_, rtol=1e-12)


def test_members_that_agree_exactly_are_refused_not_nan(data):
    X, y = data
    with pytest.raises(ValueError) as err:
        DeepEnsembleRegressor(Ridge(), n_ensemble=3, random_state=0).fit(X, y)
    message = str(err.value)
    assert "\n" not in message
    assert "agree exactly" in message and "Ridge()" in message
    assert "bootstrap=True" in message and "calibration=None" in message
    # without calibration the raw spread is 0, and stays finite
    ens = DeepEnsembleRegressor(Ridge(), n_ensemble=3, calibration=None).fit(X, y)
    mean, std = ens.predict(X[:4], return_std=True)
    assert np.isfinite(std).all() and (std == 0).all()
    # bootstrap resamples make the members differ: calibrated, finite, positive
    ens = DeepEnsembleRegressor(Ridge(), n_ensemble=3, bootstrap=True, random_state=0).fit(X, y)
    assert np.isfinite(ens.std_scale_)
    _, std = ens.predict(X[:4], return_std=True)
    assert np.isfinite(std).all() and (std > 0).all()


# ----------------------------------------------------------------------------- worker processes


class _ScriptModule(torch.nn.Module):
    """Stands for a module class defined in the user's script (``__main__``)."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.out = torch.nn.Linear(n_features, n_outputs)

    def forward(self, X):
        return self.out(X)


def test_a_module_from_the_script_trains_in_process_with_a_warning(data, monkeypatch):
    """Worker processes cannot send back a member whose module lives in __main__: such
    members are trained in this process (same results), with a warning saying why."""
    X, y = data
    monkeypatch.setattr(_ScriptModule, "__module__", "__main__")
    kw = dict(featurise=False, module=_ScriptModule, max_epochs=2, random_state=0,
              n_ensemble=2, n_threads=1)
    with pytest.warns(UserWarning, match=r"_ScriptModule is defined in __main__.*one at a time"):
        par = make_xanesnet_pipeline(n_jobs=2, **kw).fit(X, y)
    seq = make_xanesnet_pipeline(n_jobs=1, **kw).fit(X, y)
    np.testing.assert_array_equal(par.predict(X), seq.predict(X))


def test_unsendable_finds_classes_functions_and_instances_in_main(monkeypatch):
    from xanesnet_sk.ensemble import _unsendable

    assert _unsendable(XANESNetRegressor(_ScriptModule)) is None
    monkeypatch.setattr(_ScriptModule, "__module__", "__main__")
    assert _unsendable(XANESNetRegressor(_ScriptModule)) == "_ScriptModule"
    assert _unsendable(XANESNetRegressor(callbacks=[_ScriptModule(2, 2)])) == "_ScriptModule"

    def local_loss(a, b):
        return a

    assert _unsendable(Ridge(alpha=1.0)) is None
    assert "local_loss" in _unsendable(XANESNetRegressor(criterion=local_loss))
    assert _unsendable(XANESNetRegressor(criterion=lambda a, b: a)) == "<lambda>"


@pytest.mark.slow
def test_script_module_ensemble_end_to_end(tmp_path):
    """A script defining its own module and n_ensemble=2, n_jobs=2 fits (in process)."""
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import numpy as np, torch\n"
        "from xanesnet_sk import make_xanesnet_pipeline\n"
        "class MyMod(torch.nn.Module):\n"
        "    def __init__(self, n_features, n_outputs):\n"
        "        super().__init__(); self.l = torch.nn.Linear(n_features, n_outputs)\n"
        "    def forward(self, X): return self.l(X)\n"
        "if __name__ == '__main__':\n"
        "    rng = np.random.default_rng(0)\n"
        "    X, y = rng.normal(size=(60, 5)), rng.normal(size=(60, 4))\n"
        "    p = make_xanesnet_pipeline(featurise=False, module=MyMod, max_epochs=2,\n"
        "                               n_ensemble=2, n_jobs=2, random_state=0).fit(X, y)\n"
        "    print(p.predict(X[:2], return_std=True)[1].shape)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(2, 4)" in done.stdout and "defined in __main__" in done.stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_members_in_workers_show_one_bar_over_the_members_in_order(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    params = dict(n_ensemble=3, bootstrap=True, calibration=None, random_state=0)
    here = DeepEnsembleRegressor(Ridge(), n_jobs=1, **params).fit(X, y)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    workers = DeepEnsembleRegressor(Ridge(), n_jobs=2, **params).fit(X, y)
    shown = terminal.getvalue()
    assert "DeepEnsembleRegressor" in shown and "/3 [" in shown and "member" in shown
    for a, b in zip(here.estimators_, workers.estimators_):  # same members, same order
        np.testing.assert_array_equal(a.coef_, b.coef_)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: no bar
    DeepEnsembleRegressor(Ridge(), n_jobs=2, **params).fit(X, y)
    assert sys.stderr.getvalue() == ""
