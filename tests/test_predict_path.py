"""Per-call cost of ``predict``: the direct paths give the usual numbers bit for bit.

``XANESNetRegressor.predict`` runs the module on skorch's batches without
skorch's per-batch machinery, and ``XANESNetPipeline.predict`` computes the
filter and scaling steps directly from plain arrays
(``xanesnet_sk._predict_path``).  These tests pin that both equal the usual
path (skorch's ``predict``, scikit-learn's ``Pipeline.predict``) exactly, on
many inputs and batch sizes, and that every error the usual path raises is
still raised.
"""

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from skorch import NeuralNetRegressor

import xanesnet_sk._predict_path as pp
from xanesnet_sk.model import XANESNetRegressor
from xanesnet_sk.pipeline import XANESNetPipeline, make_xanesnet_pipeline

NET = dict(hidden_sizes=(16, 16), max_epochs=3, batch_size=8, n_threads=1, random_state=0)


def _data(n=40, n_features=6, n_outputs=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    return X, np.tanh(X @ rng.normal(size=(n_features, n_outputs)))


def _skorch_predict(net, X):
    """The usual path: validate_data, then skorch's own prediction loop."""
    from sklearn.utils.validation import validate_data

    X = np.ascontiguousarray(validate_data(net, X, reset=False, dtype=np.float32))
    with net._threads():
        y = np.asarray(NeuralNetRegressor.predict(net, X), dtype=np.float64)
    return y.ravel() if net.y_ndim_ == 1 else y


class _OwnModule(torch.nn.Module):
    """A user module (predicted under no_grad, as skorch does)."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(n_features, 7), torch.nn.Tanh(),
                                          torch.nn.Linear(7, n_outputs))

    def forward(self, X):
        return self.layers(X)


@pytest.fixture(scope="module")
def nets():
    X, y = _data()
    return {
        "default": XANESNetRegressor(**NET).fit(X, y),
        "no-batch-norm-dropout": XANESNetRegressor(**dict(NET, batch_norm=False, dropout=0.3))
        .fit(X, y),
        "own-module": XANESNetRegressor(_OwnModule, **{k: v for k, v in NET.items()
                                                       if k != "hidden_sizes"}).fit(X, y),
        "1-d-target": XANESNetRegressor(**NET).fit(X, y[:, 0]),
        "valid-batch-3": XANESNetRegressor(**NET, iterator_valid__batch_size=3).fit(X, y),
    }


@pytest.mark.parametrize("name", ["default", "no-batch-norm-dropout", "own-module",
                                  "1-d-target", "valid-batch-3"])
@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 16, 17, 25, 40])
def test_net_direct_predict_equals_skorch_bit_for_bit(nets, name, n):
    net = nets[name]
    assert net._direct_batch_size(n) is not None
    X64, _ = _data(n=n, seed=n)
    for X in (X64, X64.astype(np.float32), np.asfortranarray(X64)):
        direct = net.predict(X)
        usual = _skorch_predict(net, X)
        assert direct.dtype == usual.dtype == np.float64
        assert direct.shape == usual.shape
        assert np.array_equal(direct, usual)


def test_net_direct_predict_leaves_the_module_in_eval_mode_and_grad_on(nets):
    net = nets["default"]
    net.module_.train()
    first = net.predict(_data(n=3)[0])
    assert not any(m.training for m in net.module_.modules())
    assert torch.is_grad_enabled()
    assert np.array_equal(first, net.predict(_data(n=3)[0]))


def test_net_takes_skorchs_loop_when_it_cannot_reproduce_it(nets):
    X, y = _data()
    custom = XANESNetRegressor(**NET, iterator_valid__batch_size=5).fit(X, y)
    assert custom._direct_batch_size(3) == 5
    other = XANESNetRegressor(**NET, iterator_valid__drop_last=True).fit(X, y)
    assert other._direct_batch_size(3) is None

    class Infer(XANESNetRegressor):
        def infer(self, x, **fit_params):
            return super().infer(x, **fit_params) + 1.0

    sub = Infer(**NET).fit(X, y)
    assert sub._direct_batch_size(3) is None
    assert np.array_equal(sub.predict(X[:3]), _skorch_predict(sub, X[:3]))


def test_net_errors_are_unchanged(nets):
    net = nets["default"]
    X, _ = _data(n=3)
    with pytest.raises(NotFittedError):
        XANESNetRegressor(**NET).predict(X)
    with pytest.raises(ValueError, match="features"):
        net.predict(X[:, :4])
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.predict(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        net.predict(bad)
    with pytest.raises(ValueError, match="0 sample"):
        net.predict(X[:0])
    assert np.array_equal(net.predict(X.tolist()), net.predict(X))  # a list takes validate_data


# ------------------------------------------------------------------ the pipeline


def _structures(n=30, seed=0):
    rng = np.random.default_rng(seed)
    structures = []
    for _ in range(n):
        k = int(rng.integers(4, 12))
        pos = np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=1.8, size=(k, 3))])
        structures.append(Atoms(numbers=[26] + list(rng.choice([1, 6, 7, 8], size=k)),
                                positions=pos))
    return structures


def _usual(pipe, X):
    """scikit-learn's Pipeline.predict with skorch's own prediction loop in the net."""
    nets = [s for s in _all_steps(pipe) if isinstance(s, XANESNetRegressor)]
    for net in nets:
        net._direct_batch_size = lambda n: None  # instance attribute: skorch's loop
    try:
        return Pipeline.predict(pipe, X)
    finally:
        for net in nets:
            del net._direct_batch_size


def _all_steps(pipe):
    for _, step in pipe.steps:
        yield step
        yield from (getattr(step, name, None) for name in ("regressor_",))


PIPELINES = {
    "default": dict(),
    "paper-filters": dict(variance_drop=0.25, correlation_threshold=0.9),
    "variance-threshold": dict(variance_drop=None),
    "raw-targets": dict(standardize_targets=False),
    "float32-features": dict(wacsf_params=dict(n_g2=6, n_g4=8, r_cut=5.0, dtype="float32")),
}


@pytest.fixture(scope="module")
def pipes():
    structures = _structures()
    y = np.random.default_rng(1).normal(size=(len(structures), 9))
    out = {}
    for name, kw in PIPELINES.items():
        kw = dict(kw)
        kw.setdefault("wacsf_params", dict(n_g2=6, n_g4=8, r_cut=5.0))
        out[name] = make_xanesnet_pipeline(**NET, **kw).fit(structures, y)
    return out


@pytest.mark.parametrize("name", list(PIPELINES))
@pytest.mark.parametrize("n", [1, 2, 9, 30])
def test_pipeline_predict_equals_sklearns_bit_for_bit(pipes, name, n):
    pipe = pipes[name]
    structures = _structures(n=n, seed=100 + n)
    direct = pipe.predict(structures)
    usual = _usual(pipe, structures)
    assert direct.dtype == usual.dtype and direct.shape == usual.shape
    assert np.array_equal(direct, usual)


def test_pipeline_on_features_equals_sklearns_and_keeps_its_errors():
    X, y = _data(n=40, n_features=8)
    X[:, 3] = 1.0  # a constant feature for the variance filter
    pipe = make_xanesnet_pipeline(featurise=False, variance_drop=0.25, **NET)
    with pytest.raises(NotFittedError):
        pipe.predict(X)
    pipe.fit(X, y)
    for rows in (X[:1], X[:2], X, X.astype(np.float32), X.tolist()):
        assert np.array_equal(pipe.predict(rows), _usual(pipe, rows))
    with pytest.raises(ValueError, match="features"):
        pipe.predict(X[:, :5])
    bad = X[:2].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pipe.predict(bad)


def test_pipeline_with_feature_names_warns_as_sklearn():
    pd = pytest.importorskip("pandas")
    X, y = _data(n=30)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    pipe = make_xanesnet_pipeline(featurise=False, **NET).fit(frame, y)
    assert np.array_equal(pipe.predict(frame[:2]), _usual(pipe, frame[:2]))
    with pytest.warns(UserWarning, match="feature names"):
        pipe.predict(X[:2])


@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")  # as in scikit-learn
def test_pipeline_set_output_and_a_changed_step(pipes):
    structures = _structures(n=3, seed=7)
    pipe = pipes["paper-filters"]
    expected = pipe.predict(structures)
    try:
        pipe.set_output(transform="pandas")
        assert np.array_equal(pipe.predict(structures), expected)
    finally:
        pipe.set_output(transform="default")
    import sklearn

    with sklearn.config_context(transform_output="pandas"):
        assert np.array_equal(pipe.predict(structures), expected)
    # a parameter changed after fit acts as it does in scikit-learn
    selector = pipe.named_steps["variance"]
    old = selector.percentile
    try:
        selector.set_params(percentile=50)
        with pytest.raises(ValueError, match="features"):
            pipe.predict(structures)
        with pytest.raises(ValueError, match="features"):
            Pipeline.predict(pipe, structures)
    finally:
        selector.set_params(percentile=old)
    assert np.array_equal(pipe.predict(structures), expected)


def test_an_unfitted_step_still_raises(pipes):
    from sklearn.base import clone

    pipe = pipes["default"]
    copy = XANESNetPipeline([(name, step) for name, step in pipe.steps])
    copy.steps[2] = ("correlation", clone(pipe.named_steps["correlation"]))
    with pytest.raises(NotFittedError):
        copy.predict(_structures(n=1))
    with pytest.raises(NotFittedError):
        make_xanesnet_pipeline(**NET).predict(_structures(n=1))


def test_the_direct_path_is_taken(pipes, monkeypatch):
    """The usual per-step checks never run on a plain input (else no time is saved)."""
    pipe = pipes["paper-filters"]
    calls = []
    for name in ("variance", "correlation", "scale"):
        step = pipe.named_steps[name]
        monkeypatch.setattr(step, "transform", lambda X, name=name: calls.append(name))
    pipe.predict(_structures(n=1))
    assert calls == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pp.direct_path_allowed({}) and not pp.direct_path_allowed({"a": 1})
