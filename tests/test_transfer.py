"""Fine-tuning a fitted model (FineTunedRegressor) and the element encoder."""

import copy
import json
import pickle

import numpy as np
import pytest
import torch
from _helpers import error_line
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from xanesnet_sk import (
    FineTunedRegressor,
    XANESNetRegressor,
    make_inverse_pipeline,
    make_xanesnet_pipeline,
)
from xanesnet_sk.transfer import ElementEncoder, add_element_column, hidden_layer_patterns

SMALL = dict(hidden_sizes=(16, 16), max_epochs=4, n_threads=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, 12))
    X = rng.normal(size=(120, 6))
    y = np.tanh(X @ W) + rng.normal(0, 0.05, size=(120, 12))
    X_new = rng.normal(size=(40, 6))
    y_new = 5.0 + 2.0 * np.tanh(X_new @ W)  # another scale: a new "element"
    return X, y, X_new, y_new


@pytest.fixture(scope="module")
def pretrained(data):
    X, y, _, _ = data
    return make_xanesnet_pipeline(featurise=False, random_state=0, **SMALL).fit(X, y)


def _state(model):
    net = model[-1].regressor_
    return ({k: v.clone() for k, v in net.module_.state_dict().items()},
            model.named_steps["scale"].mean_.copy(), model[-1].transformer_.mean_.copy())


def test_fit_leaves_pretrained_unchanged(data, pretrained):
    _, _, X_new, y_new = data
    before = _state(pretrained)
    pred_before = pretrained.predict(X_new)
    tuned = FineTunedRegressor(pretrained, max_epochs=3, random_state=0).fit(X_new, y_new)
    after = _state(pretrained)
    for k in before[0]:
        torch.testing.assert_close(before[0][k], after[0][k])
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[2], after[2])
    np.testing.assert_array_equal(pretrained.predict(X_new), pred_before)
    assert tuned.estimator_ is not pretrained
    assert not np.allclose(tuned.predict(X_new), pred_before)
    assert pretrained[-1].regressor_.history_[-1]["epoch"] == 4


def test_fine_tuning_trains_from_pretrained_weights(data, pretrained):
    _, _, X_new, y_new = data
    tuned = FineTunedRegressor(pretrained, freeze=0, max_epochs=2, lr=1e-12,
                               lr_schedule="constant", random_state=0).fit(X_new, y_new)
    net0, net1 = pretrained[-1].regressor_, tuned.estimator_[-1].regressor_
    w0, w1 = net0.module_.layers[0].weight, net1.module_.layers[0].weight
    # a vanishing learning rate keeps the pretrained weights: nothing was re-initialised
    torch.testing.assert_close(w0, w1, atol=1e-6, rtol=0)
    assert len(net1.history_) == 2  # its own epochs, not the pretraining's
    assert net1.warm_start is False


def test_defaults_are_the_measured_recipe(pretrained):
    params = FineTunedRegressor(pretrained).get_params(deep=False)
    assert {k: params[k] for k in ("freeze", "lr", "max_epochs", "lr_schedule", "refit_scaler",
                                   "refit_target")} == dict(
        freeze=1, lr=1e-3, max_epochs=1000, lr_schedule="cosine", refit_scaler=True,
        refit_target=True)


def test_refit_scaler_and_target(data, pretrained):
    _, _, X_new, y_new = data
    kept = FineTunedRegressor(pretrained, max_epochs=1, refit_scaler=False, refit_target=False,
                              random_state=0).fit(X_new, y_new)
    refit = FineTunedRegressor(pretrained, max_epochs=1, random_state=0).fit(X_new, y_new)
    np.testing.assert_array_equal(kept.estimator_.named_steps["scale"].mean_,
                                  pretrained.named_steps["scale"].mean_)
    np.testing.assert_array_equal(kept.estimator_[-1].transformer_.mean_,
                                  pretrained[-1].transformer_.mean_)
    np.testing.assert_allclose(refit.estimator_.named_steps["scale"].mean_, X_new.mean(0))
    np.testing.assert_allclose(refit.estimator_[-1].transformer_.mean_, y_new.mean(0))


@pytest.mark.parametrize("freeze", [1, "layers.0.*"])
def test_freeze_keeps_first_layer(data, pretrained, freeze):
    _, _, X_new, y_new = data
    tuned = FineTunedRegressor(pretrained, freeze=freeze, max_epochs=3,
                               random_state=0).fit(X_new, y_new)
    m0, m1 = pretrained[-1].regressor_.module_, tuned.estimator_[-1].regressor_.module_
    torch.testing.assert_close(m0.layers[0].weight, m1.layers[0].weight, atol=0, rtol=0)
    assert not torch.equal(m0.layers[-1].weight, m1.layers[-1].weight)
    # the Freezer is skorch's, and every parameter can train again afterwards
    callbacks = dict(tuned.estimator_[-1].regressor_.callbacks)
    assert type(callbacks["freeze"]).__name__ == "Freezer"
    assert all(p.requires_grad for p in m1.parameters())


def test_freeze_all_hidden_trains_output_only(data, pretrained):
    _, _, X_new, y_new = data
    tuned = FineTunedRegressor(pretrained, freeze=2, max_epochs=3,
                               random_state=0).fit(X_new, y_new)
    m0, m1 = pretrained[-1].regressor_.module_, tuned.estimator_[-1].regressor_.module_
    n_out = len(m0.layers) - 1
    for i, (a, b) in enumerate(zip(m0.layers, m1.layers)):
        for pa, pb in zip(a.parameters(), b.parameters()):
            assert torch.equal(pa, pb) == (i != n_out)


def test_hidden_layer_patterns():
    from xanesnet_sk.model import XANESNetModule

    m = XANESNetModule(4, 2, hidden_sizes=(8, 8))
    assert hidden_layer_patterns(m, 0) == []
    assert hidden_layer_patterns(m, 2) == ["layers.0.*", "layers.1.*", "layers.4.*",
                                           "layers.5.*"]
    with pytest.raises(ValueError, match="only 2 hidden layers"):
        hidden_layer_patterns(m, 3)


def test_reproducible_with_random_state(data, pretrained):
    _, _, X_new, y_new = data
    a = FineTunedRegressor(pretrained, max_epochs=3, random_state=1).fit(X_new, y_new)
    b = FineTunedRegressor(pretrained, max_epochs=3, random_state=1).fit(X_new, y_new)
    np.testing.assert_array_equal(a.predict(X_new), b.predict(X_new))


def test_clone_cross_validate_and_grid_search(data, pretrained):
    _, _, X_new, y_new = data
    est = FineTunedRegressor(pretrained, max_epochs=2, random_state=0)
    c = clone(est)
    assert c.get_params()["max_epochs"] == 2 and not hasattr(c, "estimator_")
    cv = cross_validate(est, X_new, y_new, cv=KFold(3), scoring="neg_mean_absolute_error")
    assert len(cv["test_score"]) == 3 and np.all(np.isfinite(cv["test_score"]))
    search = GridSearchCV(est, {"freeze": [0, 1], "lr": [1e-3, 1e-4]}, cv=KFold(2),
                          scoring="neg_mean_absolute_error").fit(X_new, y_new)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.predict(X_new).shape == y_new.shape
    assert pretrained[-1].regressor_.history_[-1]["epoch"] == 4


def test_ensemble_fine_tuned_and_recalibrated(data):
    X, y, X_new, y_new = data
    ens = make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=2, n_jobs=1,
                                 **SMALL).fit(X, y)
    tuned = FineTunedRegressor(ens, max_epochs=2, random_state=0).fit(X_new, y_new)
    mean, std = tuned.predict(X_new, return_std=True)
    assert mean.shape == std.shape == y_new.shape and np.all(std > 0)
    assert tuned.estimator_[-1].std_scale_ != ens[-1].std_scale_
    for m0, m1 in zip(ens[-1].estimators_, tuned.estimator_[-1].estimators_):
        assert not torch.equal(m0.regressor_.module_.layers[-1].weight,
                               m1.regressor_.module_.layers[-1].weight)


def test_bare_net_and_pickled_model(data):
    X, y, X_new, y_new = data
    net = XANESNetRegressor(random_state=0, **SMALL).fit(X, y)
    tuned = FineTunedRegressor(net, max_epochs=2, random_state=0).fit(X_new, y_new)
    assert tuned.predict(X_new).shape == y_new.shape
    loaded = pickle.loads(pickle.dumps(tuned))
    np.testing.assert_allclose(loaded.predict(X_new), tuned.predict(X_new))


@pytest.mark.slow
def test_safe_format_model(data, pretrained, tmp_path):
    pytest.importorskip("skops")
    from xanesnet_sk.serialization import load_safe, save_safe

    _, _, X_new, y_new = data
    path = tmp_path / "v.skops"
    save_safe(pretrained, path)
    tuned = FineTunedRegressor(load_safe(path), max_epochs=2, random_state=0).fit(X_new, y_new)
    assert tuned.predict(X_new).shape == y_new.shape


# ----------------------------------------------------------------------------- bad input


def test_unfitted_pretrained(data):
    _, _, X_new, y_new = data
    with pytest.raises(NotFittedError, match="pretrained XANESNetPipeline is not fitted"):
        FineTunedRegressor(make_xanesnet_pipeline(featurise=False)).fit(X_new, y_new)


def test_inverse_pretrained(data):
    _, _, X_new, y_new = data
    inverse = make_inverse_pipeline(random_state=0, **SMALL).fit(y_new, X_new)
    with pytest.raises(ValueError, match="inverse model"):
        FineTunedRegressor(inverse).fit(X_new, y_new)


def test_feature_count_mismatch(data, pretrained):
    _, _, X_new, y_new = data
    with pytest.raises(ValueError, match="X has 5 features but the pretrained model was "
                                         "fitted on 6"):
        FineTunedRegressor(pretrained).fit(X_new[:, :5], y_new)


def test_grid_mismatch(data, pretrained):
    _, _, X_new, y_new = data
    with pytest.raises(ValueError, match="y has 11 energy points but the pretrained model "
                                         "predicts 12"):
        FineTunedRegressor(pretrained).fit(X_new, y_new[:, :11])


@pytest.mark.parametrize("params, match", [
    (dict(lr=0), "The 'lr' parameter of FineTunedRegressor must be a float in the range "
                 r"\(0.0, inf\)"),
    (dict(max_epochs=0), "'max_epochs' parameter of FineTunedRegressor must be"),
    (dict(lr_schedule="step"), "'lr_schedule' parameter of FineTunedRegressor must be a str "
                               "among"),
    (dict(freeze=-1), "'freeze' parameter of FineTunedRegressor must be"),
    (dict(freeze=["layers.0.*", 3]), "freeze must be a number of hidden layers"),
    (dict(refit_scaler="yes"), "'refit_scaler' parameter of FineTunedRegressor must be"),
    (dict(freeze=3), "only 2 hidden layers"), (dict(freeze="nothing.*"), "match no parameter"),
])
def test_bad_parameters(data, pretrained, params, match):
    _, _, X_new, y_new = data
    with pytest.raises(ValueError, match=match):
        FineTunedRegressor(pretrained, **params).fit(X_new, y_new)


def test_predict_before_fit(data, pretrained):
    with pytest.raises(NotFittedError):
        FineTunedRegressor(pretrained).predict(data[2])


def test_pretrained_deepcopy_not_shared(data, pretrained):
    # two fits of one estimator start from the same pretrained weights
    _, _, X_new, y_new = data
    est = FineTunedRegressor(copy.deepcopy(pretrained), max_epochs=2, random_state=0)
    first = est.fit(X_new, y_new).predict(X_new)
    second = est.fit(X_new, y_new).predict(X_new)
    np.testing.assert_array_equal(first, second)


# ----------------------------------------------------------------------------- elements


def test_element_encoder():
    X = add_element_column(np.arange(6.0).reshape(3, 2), [26, 23, 26])
    enc = ElementEncoder().fit(X)
    np.testing.assert_array_equal(enc.elements_, [23, 26])
    np.testing.assert_array_equal(enc.transform(X), [[0, 1, 0, 1], [2, 3, 1, 0], [4, 5, 0, 1]])
    assert list(enc.get_feature_names_out(["a", "b", "z"])) == ["a", "b", "absorber_Z=23",
                                                               "absorber_Z=26"]
    fixed = ElementEncoder(elements=[26, 23, 16]).fit(X[:1])
    np.testing.assert_array_equal(fixed.transform(X[:2]), [[0, 1, 1, 0, 0], [2, 3, 0, 1, 0]])
    with pytest.raises(ValueError, match=r"element\(s\) \[16\] were not seen"):
        enc.transform(add_element_column(np.zeros((1, 2)), 16))
    with pytest.raises(ValueError, match="X has 2 columns, expected 3"):
        enc.transform(np.zeros((1, 2)))


# ----------------------------------------------------------------------------- command line


def _npz(path, x, y, energies, params=None):
    arrays = dict(x=x, y=y, energies=energies)
    if params is not None:
        arrays["wacsf_params"] = json.dumps(params)
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture(scope="module")
def cli_files(data, tmp_path_factory):
    from xanesnet_sk.cli import main

    X, y, X_new, y_new = data
    root = tmp_path_factory.mktemp("transfer_cli")
    grid = np.linspace(-15, 60, 12)
    params = {"n_g2": 2, "n_g4": 8}
    config = root / "tiny.yaml"
    config.write_text("model:\n  hidden_sizes: [16, 16]\n  batch_size: 16\n")
    base = _npz(root / "base.npz", X, y, grid, params)
    model = root / "base.joblib"
    assert main(["learn", "--data", base, "--output", str(model), "--epochs", "2",
                 "--config", str(config), "-q"]) == 0
    return dict(root=root, model=str(model), config=str(config), grid=grid, params=params,
                new=_npz(root / "new.npz", X_new, y_new, grid, params))


def test_cli_learn_init_from(cli_files, capsys):
    import joblib

    from xanesnet_sk.cli import main

    out = cli_files["root"] / "tuned.joblib"
    assert main(["learn", "--data", cli_files["new"], "--init-from", cli_files["model"],
                 "--output", str(out), "--epochs", "2", "-q"]) == 0
    tuned, base = joblib.load(out), joblib.load(cli_files["model"])
    # the fine-tuned pipeline itself, not a wrapper
    assert type(tuned).__name__ == type(base).__name__ == "XANESNetPipeline"
    assert not torch.equal(tuned[-1].regressor_.module_.layers[-1].weight,
                           base[-1].regressor_.module_.layers[-1].weight)
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["init_from"] == cli_files["model"] and meta["n_train"] == 40


def test_cli_validate_init_from_same_folds(cli_files, capsys):
    import pandas as pd

    from xanesnet_sk.cli import main

    tables = []
    for extra in ([], ["--init-from", cli_files["model"]]):
        out = cli_files["root"] / f"v{len(extra)}.csv"
        assert main(["validate", "--data", cli_files["new"], "--splits", "2", "--repeats", "1",
                     "--epochs", "2", "--config", cli_files["config"], "--output", str(out),
                     "-q", *extra]) == 0
        tables.append(pd.read_csv(out))
    a, b = tables
    # same folds: same sizes and the same mean-spectrum baseline, different model
    np.testing.assert_array_equal(a["n_test"], b["n_test"])
    np.testing.assert_allclose(a["baseline_median"], b["baseline_median"])
    assert not np.allclose(a["median"], b["median"])


def test_cli_init_from_errors(cli_files, data, tmp_path, capsys):
    from xanesnet_sk.cli import main

    X, y, X_new, y_new = data
    other = dict(cli_files["params"], n_g2=4)
    cases = {
        "descriptor parameters differ": _npz(tmp_path / "d.npz", X_new, y_new,
                                             cli_files["grid"], other),
        "energy grids differ: model 12 points -15..60 eV": _npz(
            tmp_path / "g.npz", X_new, y_new, cli_files["grid"] + 1.0, cli_files["params"]),
        "the model takes 6 features": _npz(tmp_path / "f.npz", X_new[:, :5], y_new,
                                           cli_files["grid"]),
    }
    not_model = tmp_path / "notes.joblib"
    not_model.write_text("hello")
    for needle, new in cases.items():
        out = tmp_path / "out.joblib"
        assert main(["learn", "--data", new, "--init-from", cli_files["model"], "--output",
                     str(out), "-q"]) == 1
        assert needle in error_line(capsys) and not out.exists()
    out = tmp_path / "out.joblib"
    assert main(["learn", "--data", cli_files["new"], "--init-from", str(not_model),
                 "--output", str(out), "-q"]) == 1
    assert "--init-from" in error_line(capsys) and not out.exists()
    # nothing written: only the inputs are there
    assert {p.name for p in tmp_path.iterdir()} == {"d.npz", "g.npz", "f.npz", "notes.joblib"}


def test_cli_init_from_resample(cli_files, data, tmp_path, capsys):
    from xanesnet_sk.cli import main

    _, _, X_new, y_new = data
    fine = np.linspace(-20, 70, 31)
    y_fine = np.stack([np.interp(fine, cli_files["grid"], row) for row in y_new])
    new = _npz(tmp_path / "fine.npz", X_new, y_fine, fine, cli_files["params"])
    out = tmp_path / "out.joblib"
    assert main(["learn", "--data", new, "--init-from", cli_files["model"], "--resample",
                 "--output", str(out), "--epochs", "1", "-q"]) == 0
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    np.testing.assert_allclose(meta["energies"], cli_files["grid"])
