"""The ``xanesnet-sk`` command line, run in-process through ``main([...])``."""

import json

import numpy as np
import pytest
from _helpers import error_line

from xanesnet_sk.cli import main

SMALL_WACSF = ["--n-g2", "8", "--n-g4", "16"]


def _write_xyz(path, numbers, positions):
    lines = [str(len(numbers)), path.stem]
    lines += [f"{z} {x:.6f} {y:.6f} {w:.6f}" for z, (x, y, w) in zip(numbers, positions)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def small_xyz(tmp_path):
    """Three tiny Fe complexes in a directory (no real data needed)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "xyz"
    folder.mkdir()
    for i in range(3):
        positions = np.vstack([[0, 0, 0], rng.normal(scale=1.2, size=(5, 3)) + [1.5, 0, 0]])
        _write_xyz(folder / f"mol{i}.xyz", [26, 6, 7, 8, 1, 1], positions)
    return folder


_error_line = error_line


# --------------------------------------------------------------- featurise


def test_featurise_npz(small_xyz, tmp_path):
    out = tmp_path / "f.npz"
    assert main(["featurise", "--xyz", str(small_xyz), "--output", str(out), "-q",
                 *SMALL_WACSF, "--backend", "numpy"]) == 0
    with np.load(out) as data:
        assert data["x"].shape == (3, 25)
        assert data["feature_names"][1].startswith("g2_eta=")
        assert data["names"].tolist() == ["mol0", "mol1", "mol2"]
        params = json.loads(str(data["wacsf_params"]))
    assert params["n_g2"] == 8 and params["n_g4"] == 16


def test_featurise_real_npz_and_csv(data_root, tmp_path, capsys):
    import pandas as pd

    xyz = str(data_root / "fe_k_edge" / "xyz")
    assert main(["featurise", "--xyz", xyz, "--output", str(tmp_path / "f.npz")]) == 0
    assert "wrote features" in capsys.readouterr().out
    assert main(["featurise", "--xyz", xyz, "--output", str(tmp_path / "f.csv"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    with np.load(tmp_path / "f.npz") as data:
        x = data["x"]
        assert x.shape == (110, 97)
    frame = pd.read_csv(tmp_path / "f.csv", index_col=0)
    assert frame.shape == (110, 97)
    assert frame.columns[-1].startswith("g4_eta=") and "zeta=8" in frame.columns[-1]
    np.testing.assert_allclose(frame.to_numpy(), x, rtol=1e-9)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--xyz", "MISSING", "--output", "OUT/f.npz"], "does not exist"),
        (["--xyz", "XYZ", "--output", "OUT/f.txt"], ".npz or .csv"),
        (["--xyz", "XYZ", "--output", "OUT/f.npz", "--n-g4", "10"], "divisible"),
        (["--xyz", "OUT", "--output", "OUT/f.npz"], "no structure files"),
    ],
)
def test_featurise_errors(argv, needle, small_xyz, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    subs = {"MISSING": str(tmp_path / "nope"), "XYZ": str(small_xyz), "OUT": str(tmp_path / "out")}
    argv = [subs.get(a, a).replace("OUT/", str(tmp_path / "out") + "/") for a in argv]
    assert main(["featurise", *argv, "--backend", "numpy"]) == 1
    assert needle in _error_line(capsys)


def test_usage_errors_are_one_line(capsys):
    assert main(["featurise", "--xyz", "x"]) == 2
    assert "--output" in _error_line(capsys)
    assert main(["no-such-verb"]) == 2
    _error_line(capsys)
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    for verb in ("demo", "featurise", "learn", "validate", "predict", "evaluate", "importance"):
        assert verb in printed
    assert main(["learn", "--epochs", "many"]) == 2
    assert "invalid int value" in _error_line(capsys)


# --------------------------------------------------------------- learn / predict / evaluate

TINY_MODEL = "model:\n  hidden_sizes: [32, 32]\n  batch_size: 16\n"


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(TINY_MODEL + "preprocessing:\n  variance_drop: 0.25\n")
    return path


@pytest.fixture(scope="module")
def fe_model(data_root, tiny_config, tmp_path_factory):
    """A model learnt from the Fe xyz/xanes directories (3 epochs)."""
    out = tmp_path_factory.mktemp("fe") / "model.joblib"
    fe = data_root / "fe_k_edge"
    assert main(["learn", "--xyz", str(fe / "xyz"), "--xanes", str(fe / "xanes"), "--output",
                 str(out), "--epochs", "3", "--config", str(tiny_config), "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def v_model(data_root, tiny_config, tmp_path_factory):
    """A model learnt from the precomputed V features of tmqm_k_edge_v.npz (2 epochs)."""
    out = tmp_path_factory.mktemp("v") / "v.joblib"
    assert main(["learn", "--data", str(data_root / "tmqm_k_edge_v.npz"), "--output", str(out),
                 "--epochs", "2", "--config", str(tiny_config), "-q"]) == 0
    return out


def test_learn_writes_model_and_sidecar(fe_model):
    meta = json.loads(fe_model.with_name(fe_model.name + ".json").read_text())
    assert meta["n_train"] == 110 and meta["input"] == "structures"
    assert meta["n_features"] == 97 and len(meta["feature_names"]) == 97
    assert len(meta["energies"]) == 226 and meta["versions"]["xanesnet_sk"]
    assert meta["config"]["model"]["hidden_sizes"] == [32, 32]


def test_predict_one_spectrum_per_structure(fe_model, data_root, tmp_path, capsys):
    from xanesnet_sk.io import read_spectrum

    xyz = data_root / "fe_k_edge" / "xyz"
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(fe_model), "--xyz", str(xyz), "--output", str(out)]) == 0
    assert "wrote 110 spectra" in capsys.readouterr().out
    files = sorted(out.glob("*.txt"))
    assert [f.stem for f in files] == sorted(p.stem for p in xyz.glob("*.xyz"))
    spectrum = read_spectrum(files[0])
    assert spectrum.mu.shape == (226,) and np.all(np.isfinite(spectrum.mu))
    reference = read_spectrum(data_root / "fe_k_edge" / "xanes" / files[0].name)
    np.testing.assert_allclose(spectrum.energies, reference.energies)


def test_predict_plot(fe_model, small_xyz, tmp_path):
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(fe_model), "--xyz", str(small_xyz), "--output",
                 str(out), "--plot", "-q"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["mol0.png", "mol1.png", "mol2.png"]
    assert len(list(out.glob("*.txt"))) == 3


def test_v_model_predicts_from_features_and_structures(v_model, data_root, tmp_path):
    meta = json.loads(v_model.with_name(v_model.name + ".json").read_text())
    assert meta["input"] == "features" and meta["wacsf_params_from"] == "config (assumed)"
    out = tmp_path / "pred"
    xyz = data_root / "fe_k_edge" / "xyz"  # featurised with the paper's 97 wACSF
    assert main(["predict", "--model", str(v_model), "--xyz", str(xyz), "--output", str(out),
                 "-q"]) == 0
    assert len(list(out.glob("*.txt"))) == 110


def test_evaluate_writes_tables_and_plots(fe_model, data_root, tmp_path, capsys):
    import pandas as pd

    fe = data_root / "fe_k_edge"
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(fe_model), "--xyz", str(fe / "xyz"), "--xanes",
                 str(fe / "xanes"), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "delta_mu median" in printed and "peak hit rate" in printed
    for name in ("spectra.csv", "summary.csv", "peaks.csv", "dmu_histogram.png",
                 "peak_parity.png", "examples.png"):
        assert (out / name).stat().st_size > 0, name
    per = pd.read_csv(out / "spectra.csv")
    assert len(per) == 110 and {"name", "delta_mu", "n_matched"} <= set(per.columns)


def test_validate_tiny(data_root, tiny_config, tmp_path, capsys):
    import pandas as pd

    fe = data_root / "fe_k_edge"
    out = tmp_path / "cv.csv"
    assert main(["validate", "--xyz", str(fe / "xyz"), "--xanes", str(fe / "xanes"),
                 "--splits", "2", "--repeats", "2", "--epochs", "2", "--config",
                 str(tiny_config), "--output", str(out)]) == 0
    assert "overall" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert table["fold"].tolist()[:4] == ["r1/f1", "r1/f2", "r2/f1", "r2/f2"]
    assert table.loc[table["fold"] == "overall", "n_test"].item() == 220
    assert {"median", "q1", "q3", "iqr", "baseline_median"} <= set(table.columns)


# --------------------------------------------------------------- error paths


def test_error_wrong_feature_length(v_model, small_xyz, tmp_path, capsys):
    feats = tmp_path / "small.npz"
    assert main(["featurise", "--xyz", str(small_xyz), "--output", str(feats), "-q",
                 *SMALL_WACSF, "--backend", "numpy"]) == 0
    assert main(["predict", "--model", str(v_model), "--data", str(feats), "--output",
                 str(tmp_path / "p")]) == 1
    assert "25 features per sample, but the model expects 97" in _error_line(capsys)


def test_error_unmatched_data(data_root, tiny_config, tmp_path, capsys):
    s = data_root / "s_k_edge"
    assert main(["learn", "--xyz", str(s / "xyz"), "--xanes", str(s / "xanes"), "--output",
                 str(tmp_path / "m.joblib")]) == 1
    assert "without a spectrum" in _error_line(capsys)
    assert main(["learn", "--xyz", str(s / "xyz"), "--xanes", str(s / "xanes"), "--unmatched",
                 "drop", "--epochs", "1", "--config", str(tiny_config), "--output",
                 str(tmp_path / "m.joblib")]) == 0
    assert "note: dropped unmatched files" in capsys.readouterr().out


def test_error_unknown_config_key(small_xyz, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  epochz: 3\n")
    assert main(["learn", "--xyz", str(small_xyz), "--xanes", str(small_xyz), "--output",
                 str(tmp_path / "m.joblib"), "--config", str(config)]) == 1
    line = _error_line(capsys)
    assert "unknown key model.epochz" in line and "max_epochs" in line
    config.write_text("modle:\n  max_epochs: 3\n")
    assert main(["featurise", "--xyz", str(small_xyz), "--output", str(tmp_path / "f.npz"),
                 "--config", str(config)]) == 1
    assert "unknown section 'modle'" in _error_line(capsys)


@pytest.mark.parametrize("verb", ["predict", "evaluate"])
def test_error_bad_model_path(verb, small_xyz, tmp_path, capsys):
    argv = [verb, "--model", str(tmp_path / "none.joblib"), "--xyz", str(small_xyz),
            "--output", str(tmp_path / "o")]
    if verb == "evaluate":
        argv += ["--xanes", str(small_xyz)]
    assert main(argv) == 1
    assert "--model" in _error_line(capsys)


def test_error_not_a_model(tmp_path, small_xyz, capsys):
    import joblib

    joblib.dump({"a": 1}, tmp_path / "m.joblib")
    assert main(["predict", "--model", str(tmp_path / "m.joblib"), "--xyz", str(small_xyz),
                 "--output", str(tmp_path / "o")]) == 1
    assert "not a model" in _error_line(capsys)


def test_error_data_options(tmp_path, capsys):
    assert main(["learn", "--output", str(tmp_path / "m.joblib")]) == 1
    assert "no data" in _error_line(capsys)
    assert main(["learn", "--data", str(tmp_path / "none.npz"), "--output",
                 str(tmp_path / "m.joblib")]) == 1
    assert "does not exist" in _error_line(capsys)


# --------------------------------------------------------------- demo


def test_demo_tiny(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--n-samples", "30", "--epochs", "2",
                 "--splits", "2", "--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    assert "median delta mu" in printed and "baseline" in printed
    assert (out / "model.joblib").is_file() and (out / "validation.csv").is_file()
    assert len(list((out / "predictions").glob("*.txt"))) == 6
    assert (out / "evaluation" / "dmu_histogram.png").is_file()
