"""``learn`` on several data sets: one model for several absorbing elements (issue 21)."""

import json

import joblib
import numpy as np
import pytest
from _helpers import error_line

from wacsf import WACSFTransformer
from xanesnet_sk.cli import main
from xanesnet_sk.datasets import make_synthetic_xanes, save_dataset
from xanesnet_sk.io import read_spectrum
from xanesnet_sk.transfer import (
    ElementEncoder,
    add_element_column,
    element_input,
    make_universal_pipeline,
)

WACSF = {"n_g2": 4, "n_g4": 8}
N_POINTS = 24


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("universal")
    config = root / "tiny.yaml"
    config.write_text("wacsf:\n  n_g2: 4\n  n_g4: 8\nmodel:\n  hidden_sizes: [16, 16]\n"
                      "  batch_size: 16\n")
    files = {}
    for metal, seed, n in (("V", 0, 40), ("Fe", 1, 24)):
        ds = make_synthetic_xanes(n_samples=n, n_points=N_POINTS, metal=metal, random_state=seed)
        files[metal] = root / f"{metal}.npz"
        save_dataset(files[metal], ds)
        x = WACSFTransformer(**WACSF).fit_transform(list(ds.structures))
        np.savez(root / f"{metal}_features.npz", x=x, y=ds.spectra, energies=ds.energies,
                 wacsf_params=json.dumps(WACSF))
        files[metal + "_features"] = root / f"{metal}_features.npz"
        files[metal + "_structures"] = list(ds.structures)
    short = make_synthetic_xanes(n_samples=10, n_points=N_POINTS + 6, metal="Fe", random_state=2)
    files["short"] = root / "other_grid.npz"
    save_dataset(files["short"], short)
    files["config"], files["root"] = config, root
    return files


def _learn(sets, out, *extra):
    return main(["learn", *extra, "--output", str(out), "--epochs", "2", "--config",
                 str(sets["config"]), "-q"])


def test_make_universal_pipeline_routes_the_element():
    rng = np.random.default_rng(0)
    X = np.vstack([add_element_column(rng.normal(size=(30, 5)), 23),
                   add_element_column(rng.normal(size=(20, 5)), 26)])
    y = rng.normal(size=(50, 7))
    model = make_universal_pipeline([23, 26], hidden_sizes=(8,), max_epochs=3,
                                    random_state=0, n_threads=1).fit(X, y)
    assert isinstance(model.steps[0][1], ElementEncoder) and element_input(model) == [23, 26]
    row = X[:1, :-1]
    as_v, as_fe = (model.predict(add_element_column(row, z)) for z in (23, 26))
    assert not np.allclose(as_v, as_fe)  # the element is an input of the net
    assert element_input(make_universal_pipeline([23, 26])) is None  # not fitted yet
    with pytest.raises(ValueError, match="featurise=True is not supported"):
        make_universal_pipeline([23, 26], featurise=True)


def test_learn_two_structure_sets_and_predict_either_element(sets, tmp_path, capsys):
    out = tmp_path / "uni.joblib"
    assert _learn(sets, out, "--data", str(sets["V"]), "--data", str(sets["Fe"])) == 0
    model = joblib.load(out)
    assert element_input(model) == [23, 26]
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["absorber_elements"] == ["V", "Fe"] and meta["n_train"] == 64
    assert [s["elements"] for s in meta["data_sets"]] == [["V"], ["Fe"]]
    assert meta["n_features"] == 1 + 4 + 8 and meta["n_points"] == N_POINTS
    # predict routes the element: each structure's absorbing atom (Fe here)
    pred = tmp_path / "pred"
    assert main(["predict", "--model", str(out), "--data", str(sets["Fe"]), "--output",
                 str(pred), "-q"]) == 0
    files = sorted(pred.glob("*.txt"))
    assert len(files) == 24
    x = WACSFTransformer(**WACSF).fit_transform(sets["Fe_structures"])
    as_fe = model.predict(add_element_column(x, 26))
    as_v = model.predict(add_element_column(x, 23))
    first = read_spectrum(files[0]).mu
    name = files[0].stem
    k = [s.info["name"] for s in sets["Fe_structures"]].index(name)
    np.testing.assert_allclose(first, as_fe[k], rtol=1e-5, atol=1e-6)
    assert not np.allclose(first, as_v[k], rtol=1e-5, atol=1e-6)


def test_learn_features_set_needs_element(sets, tmp_path, capsys):
    out = tmp_path / "uni.joblib"
    assert _learn(sets, out, "--data", str(sets["V_features"]), "--data", str(sets["Fe"])) == 1
    line = error_line(capsys)
    assert "absorbing element of these precomputed features is unknown" in line
    assert f"--element SYMBOL after --data {sets['V_features']}" in line
    assert not list(tmp_path.iterdir())
    assert _learn(sets, out, "--data", str(sets["V_features"]), "--element", "V",
                  "--data", str(sets["Fe_features"]), "--element", "26") == 0
    model = joblib.load(out)
    assert element_input(model) == [23, 26]
    # features of either element: --absorber-element names theirs
    pred = tmp_path / "pred"
    assert main(["predict", "--model", str(out), "--data", str(sets["V_features"]),
                 "--output", str(pred), "-q"]) == 1
    assert "several absorbing elements (V, Fe)" in error_line(capsys)
    assert main(["predict", "--model", str(out), "--data", str(sets["V_features"]),
                 "--absorber-element", "Co", "--output", str(pred), "-q"]) == 1
    assert "trained on V, Fe absorbers only" in error_line(capsys)
    assert main(["predict", "--model", str(out), "--data", str(sets["V_features"]),
                 "--absorber-element", "V", "--output", str(pred), "-q"]) == 0
    x = np.load(sets["V_features"])["x"]
    got = read_spectrum(sorted(pred.glob("*.txt"))[0]).mu
    np.testing.assert_allclose(got, model.predict(add_element_column(x[:1], 23))[0],
                               rtol=1e-5, atol=1e-6)


def test_learn_several_sets_ensemble(sets, tmp_path):
    out = tmp_path / "uni.joblib"
    assert _learn(sets, out, "--data", str(sets["V"]), "--data", str(sets["Fe"]),
                  "--ensemble", "3") == 0
    model = joblib.load(out)
    ensemble = model.steps[-1][1]
    assert type(ensemble).__name__ == "DeepEnsembleRegressor" and len(ensemble.estimators_) == 3
    assert np.isfinite(ensemble.std_scale_) and ensemble.std_scale_ > 0  # calibrated
    x = WACSFTransformer(**WACSF).fit_transform(sets["Fe_structures"])
    mean, std = model.predict(add_element_column(x, 26), return_std=True)
    assert mean.shape == std.shape == (24, N_POINTS) and np.all(std > 0)
    pred = tmp_path / "pred"
    assert main(["predict", "--model", str(out), "--data", str(sets["Fe"]), "--output",
                 str(pred), "-q"]) == 0
    assert len(list(pred.glob("*_std.txt"))) == 24  # the ensemble's error bars, beside
    assert len(list(pred.glob("*.txt"))) == 48  # each of the 24 spectra


@pytest.mark.parametrize("args, needle", [
    (["--data", "{V}", "--data", "{short}"],
     "has 30 energy points per spectrum but {V} has 24: one model for several data sets needs "
     "each set's spectra on an edge-relative grid of the same length"),
    (["--data", "{V}", "--element", "Fe", "--data", "{Fe}"],
     "is element 23, not --element Fe"),
    (["--data", "{V_features}", "--element", "Xx", "--data", "{Fe}"],
     "--element 'Xx': not an element"),
    (["--data", "{V}", "--element", "V"],
     "--element names the absorbing element of each of several data sets"),
    (["--data", "{V}", "--data", "{Fe}", "--init-from", "{V}"],
     "--init-from cannot be combined with several data sets"),
])
def test_learn_several_sets_errors(sets, tmp_path, capsys, args, needle):
    paths = {k: str(v) for k, v in sets.items() if not k.endswith("_structures")}
    out = tmp_path / "uni.joblib"
    assert _learn(sets, out, *[a.format(**paths) for a in args]) == 1
    assert needle.format(**paths) in error_line(capsys)
    assert not list(tmp_path.iterdir())  # nothing written


def test_element_before_any_set_is_a_usage_error(sets, tmp_path, capsys):
    assert main(["learn", "--element", "Fe", "--data", str(sets["V"]), "--output",
                 str(tmp_path / "m.joblib")]) == 2
    assert "--element names the absorbing element of the data set given just before it" in \
        capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_learn_v_features_and_fe_directories(data_root, tmp_path):
    """The documented command: the V features file and the real Fe structures + spectra."""
    config = tmp_path / "tiny.yaml"
    config.write_text("model:\n  hidden_sizes: [16, 16]\n  batch_size: 64\n")
    fe = data_root / "fe_k_edge"
    out = tmp_path / "model" / "universal.joblib"
    out.parent.mkdir()
    assert main(["learn", "--data", str(data_root / "tmqm_k_edge_v.npz"), "--element", "V",
                 "--xyz", str(fe / "xyz"), "--xanes", str(fe / "xanes"), "--output", str(out),
                 "--epochs", "1", "--config", str(config), "-q"]) == 0
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["absorber_elements"] == ["V", "Fe"] and meta["n_train"] == 1439 + 110
    assert [s["kind"] for s in meta["data_sets"]] == ["features", "structures"]
    pred = tmp_path / "pred"
    assert main(["predict", "--model", str(out), "--xyz", str(fe / "xyz"), "--output",
                 str(pred), "-q"]) == 0
    assert len(list(pred.glob("*.txt"))) == 110


def test_fine_tune_a_universal_model():
    """A universal model is a pretrained model like any other: fine-tuned on one element."""
    from xanesnet_sk import FineTunedRegressor

    rng = np.random.default_rng(1)
    X = np.vstack([add_element_column(rng.normal(size=(40, 5)), 23),
                   add_element_column(rng.normal(size=(20, 5)), 26)])
    y = rng.normal(size=(60, 7))
    for n_ensemble in (1, 2):
        uni = make_universal_pipeline([23, 26], hidden_sizes=(8,), max_epochs=2, random_state=0,
                                      n_threads=1, n_ensemble=n_ensemble).fit(X, y)
        before = uni.predict(X[40:])
        tuned = FineTunedRegressor(uni, max_epochs=2, random_state=0).fit(X[40:], y[40:])
        assert element_input(tuned.estimator_) == [23, 26]
        np.testing.assert_array_equal(uni.predict(X[40:]), before)  # pretrained unchanged
        assert not np.allclose(tuned.predict(X[40:]), before)


def test_learn_several_sets_one_site_per_structure(sets, tmp_path, capsys):
    config = tmp_path / "sites.yaml"
    config.write_text("wacsf:\n  n_g2: 4\n  n_g4: 8\n  absorber_element: O\n"
                      "  on_missing_absorber: skip\n")
    out = tmp_path / "out" / "uni.joblib"
    with pytest.warns(UserWarning, match="skipped 7 structures with no O atom"):
        code = main(["learn", "--data", str(sets["V"]), "--data", str(sets["Fe"]), "--output",
                     str(out), "--config", str(config), "-q"])
    assert code == 1
    line = error_line(capsys)
    assert "absorbing sites for 40 spectra" in line and "set wacsf.absorber instead" in line
    assert not out.parent.exists()
