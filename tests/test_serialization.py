"""The safe model format (xanesnet_sk.serialization): skops, no pickle."""

import json

import numpy as np
import pytest

skops_io = pytest.importorskip("skops.io")

from xanesnet_sk.cli import main  # noqa: E402
from xanesnet_sk.pipeline import make_xanesnet_pipeline  # noqa: E402
from xanesnet_sk.serialization import load_safe, save_safe  # noqa: E402

TINY = dict(max_epochs=2, hidden_sizes=(8, 8), batch_size=8, n_threads=1)


def _features(n=32, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    return X, 1.0 + np.tanh(X @ rng.normal(size=(6, 9)))


#: The energy grid of the CLI tests' data file.
CLI_ENERGIES = np.linspace(-15, 60, 9)


def _cli_inputs(tmp_path):
    """(X, y, a --data file of them, a --config of a tiny net) for the CLI tests."""
    X, y = _features(n=40)
    data = tmp_path / "d.npz"
    np.savez(data, x=X, y=y, energies=CLI_ENERGIES)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  hidden_sizes: [8]\n  batch_size: 8\n  max_epochs: 2\n")
    return X, y, data, cfg


@pytest.mark.parametrize("kwargs", [
    {},
    {"standardize_targets": False, "variance_drop": 0.25, "correlation_threshold": 0.95},
    {"dropout": 0.0, "batch_norm": False, "module__init": "torch"},
])
def test_round_trip_predicts_the_same(tmp_path, kwargs):
    X, y = _features()
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, **{**TINY, **kwargs})
    pipe.fit(X, y)
    path = tmp_path / "m.skops"
    save_safe(pipe, path)
    loaded = load_safe(path)
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]


def test_round_trip_with_the_featuriser(tmp_path):
    from xanesnet_sk.datasets import make_synthetic_xanes

    data = make_synthetic_xanes(n_samples=24, random_state=0)
    pipe = make_xanesnet_pipeline(random_state=0, wacsf_params={"n_g2": 4, "n_g4": 8}, **TINY)
    pipe.fit(data.structures, data.spectra)
    save_safe(pipe, tmp_path / "m.skops")
    loaded = load_safe(tmp_path / "m.skops")
    np.testing.assert_array_equal(loaded.predict(data.structures[:5]),
                                  pipe.predict(data.structures[:5]))


@pytest.mark.parametrize("standardize_targets", [True, False])
def test_ensemble_round_trip_gives_the_same_mean_and_error_bars(tmp_path, standardize_targets):
    from xanesnet_sk.ensemble import DeepEnsembleRegressor

    X, y = _features(n=40)
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=3, n_jobs=1,
                                  standardize_targets=standardize_targets, **TINY).fit(X, y)
    save_safe(pipe, tmp_path / "e.skops")
    loaded = load_safe(tmp_path / "e.skops")
    ens, again = pipe[-1], loaded[-1]
    assert isinstance(again, DeepEnsembleRegressor) and len(again.estimators_) == 3
    assert again.std_scale_ == ens.std_scale_ and again.raw_coverage_ == ens.raw_coverage_
    np.testing.assert_array_equal(again.seeds_, ens.seeds_)
    mean, std = pipe.predict(X, return_std=True)
    mean2, std2 = loaded.predict(X, return_std=True)
    np.testing.assert_array_equal(mean2, mean)
    np.testing.assert_array_equal(std2, std)
    assert again.get_params()["n_ensemble"] == 3  # a usable estimator, refittable
    assert loaded.fit(X, y).predict(X).shape == y.shape


def test_cli_ensemble_in_the_safe_format_predicts_error_bars(tmp_path):
    X, y, data, cfg = _cli_inputs(tmp_path)
    model = tmp_path / "e.skops"
    assert main(["learn", "--data", str(data), "--config", str(cfg), "--output", str(model),
                 "--ensemble", "3", "-q"]) == 0
    assert main(["predict", "--model", str(model), "--data", str(data), "--output",
                 str(tmp_path / "p"), "-q"]) == 0
    assert len(list((tmp_path / "p").glob("*_std.txt"))) == 40
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--output",
                 str(tmp_path / "ev"), "-q"]) == 0
    assert (tmp_path / "ev" / "calibration.png").stat().st_size > 0


def test_inverse_round_trip_keeps_its_direction_and_preprocessing(tmp_path):
    from xanesnet_sk.inverse import InversePipeline, direction_of, make_inverse_pipeline
    from xanesnet_sk.spectra import Resampler

    X, y = _features(n=40)  # spectra y (9 points) -> descriptors X
    energies = np.linspace(-15.0, 60.0, 9)
    for n_ensemble in (1, 2):
        resample = Resampler(energies, np.linspace(-10.0, 55.0, 14), e0=0.0)
        inv = make_inverse_pipeline(preprocess=resample, random_state=0,
                                    n_ensemble=n_ensemble, **TINY).fit(y, X)
        path = tmp_path / f"inv{n_ensemble}.skops"
        save_safe(inv, path)
        loaded = load_safe(path)
        assert isinstance(loaded, InversePipeline) and direction_of(loaded) == "inverse"
        assert isinstance(loaded.named_steps["preprocess"], Resampler)
        np.testing.assert_array_equal(loaded.predict(y), inv.predict(y))


def test_cli_inverse_in_the_safe_format(tmp_path):
    import pandas as pd

    X, y, data, cfg = _cli_inputs(tmp_path)
    energies = CLI_ENERGIES
    model = tmp_path / "inv.skops"
    assert main(["learn", "--inverse", "--data", str(data), "--config", str(cfg), "--output",
                 str(model), "-q"]) == 0
    xanes = tmp_path / "xanes"
    xanes.mkdir()
    from xanesnet_sk.io import write_spectrum

    for k in range(3):
        write_spectrum(xanes / f"s{k}.txt", energies, y[k])
    out = tmp_path / "p"
    assert main(["predict", "--inverse", "--model", str(model), "--xanes", str(xanes),
                 "--output", str(out), "-q"]) == 0
    assert len(pd.read_csv(out / "descriptors.csv")) == 3


class Sneaky:
    """Stands for any type the loader does not know (a pickle payload would be one)."""


def test_a_file_with_an_unknown_type_is_not_loaded(tmp_path):
    path = tmp_path / "evil.skops"
    skops_io.dump({"format": "xanesnet-sk safe model 1", "payload": Sneaky()}, path)
    with pytest.raises(ValueError, match=r"does not trust .*Sneaky.*not loaded"):
        load_safe(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a skops model file"):
        load_safe(path)
    skops_io.dump({"format": "something else"}, path)
    with pytest.raises(ValueError, match="not a model written by"):
        load_safe(path)


def test_models_the_format_cannot_hold_are_refused(tmp_path):
    import torch
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    X, y = _features()
    with pytest.raises(ValueError, match="end in a fitted XANESNetRegressor"):
        save_safe(make_pipeline(Ridge()).fit(X, y), tmp_path / "r.skops")
    odd = make_xanesnet_pipeline(featurise=False, **TINY)
    odd.set_params(model__regressor__optimizer=torch.optim.SGD).fit(X, y)
    with pytest.raises(ValueError, match="optimizer=.*cannot be stored"):
        save_safe(odd, tmp_path / "o.skops")
    assert not (tmp_path / "r.skops").exists() and not (tmp_path / "o.skops").exists()


def test_cli_learns_and_loads_the_safe_format(tmp_path, capsys):
    X, y, data, cfg = _cli_inputs(tmp_path)
    model = tmp_path / "m.skops"
    assert main(["learn", "--data", str(data), "--config", str(cfg), "--output", str(model),
                 "-q"]) == 0
    meta = json.loads(model.with_name(model.name + ".json").read_text())
    assert meta["model_format"] == "skops (safe)"
    assert model.read_bytes()[:2] == b"PK"  # a zip of JSON and .npy, no pickle
    assert main(["predict", "--model", str(model), "--data", str(data), "--output",
                 str(tmp_path / "p"), "-q"]) == 0
    assert len(list((tmp_path / "p").glob("*.txt"))) == 40
    evil = tmp_path / "evil.skops"
    skops_io.dump({"x": Sneaky()}, evil)
    assert main(["predict", "--model", str(evil), "--data", str(data), "--output",
                 str(tmp_path / "q")]) == 1
    assert "does not trust" in capsys.readouterr().err


def _double(X):
    return 2 * X


def test_untrusted_types_are_refused_at_saving_and_nothing_is_written(tmp_path):
    """A step holding a type outside scikit-learn, NumPy and xanesnet-sk (here a function of
    the user's) is refused by name; an existing file is left as it was."""
    from sklearn.preprocessing import FunctionTransformer

    from wacsf import WACSFTransformer

    X, y = _features()
    pipe = make_xanesnet_pipeline(featurise=False, random_state=0, **TINY)
    pipe.steps.insert(0, ("double", FunctionTransformer(_double)))
    pipe.fit(X, y)
    target = tmp_path / "m.skops"
    target.write_bytes(b"the user's file")
    with pytest.raises(ValueError, match=r"cannot hold .*_double.*save as \.joblib"):
        save_safe(pipe, target)
    assert target.read_bytes() == b"the user's file"
    # a callable wACSF parameter likewise
    with pytest.raises(ValueError, match="cannot hold"):
        featurising = make_xanesnet_pipeline(random_state=0, **TINY)
        featurising.steps[0] = ("wacsf", WACSFTransformer(n_g2=4, n_g4=8, weights=_double))
        from xanesnet_sk.datasets import make_synthetic_xanes

        data = make_synthetic_xanes(n_samples=16, random_state=0)
        save_safe(featurising.fit(data.structures, data.spectra), tmp_path / "w.skops")
    assert not (tmp_path / "w.skops").exists()
    # the project's own types are trusted: the same pipeline without the function saves
    del pipe.steps[0]
    save_safe(pipe, target)
    assert load_safe(target).predict(X).shape == y.shape
