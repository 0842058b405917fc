"""CLI: learn --ensemble, predict/evaluate with error bars, --log-dir."""

import numpy as np
import pytest
from _helpers import error_line

from xanesnet_sk.cli import main

TINY = "model:\n  hidden_sizes: [16]\n  batch_size: 32\n"


@pytest.fixture(scope="module")
def ensemble_model(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    config = root / "tiny.yaml"
    config.write_text(TINY)
    out = root / "ens.joblib"
    fe = data_root / "fe_k_edge"
    assert main(["learn", "--xyz", str(fe / "xyz"), "--xanes", str(fe / "xanes"), "--output",
                 str(out), "--epochs", "3", "--config", str(config), "--ensemble", "3",
                 "-q"]) == 0
    return out


def test_learn_ensemble_and_predict_with_std(ensemble_model, data_root, tmp_path):
    import joblib

    from xanesnet_sk.ensemble import DeepEnsembleRegressor
    from xanesnet_sk.io import read_spectrum

    model = joblib.load(ensemble_model)
    assert isinstance(model[-1], DeepEnsembleRegressor) and len(model[-1].estimators_) == 3
    # the progress callbacks were detached from every member before saving
    assert all(m.regressor_.callbacks is None for m in model[-1].estimators_)
    out = tmp_path / "pred"
    xyz = data_root / "fe_k_edge" / "xyz"
    assert main(["predict", "--model", str(ensemble_model), "--xyz", str(xyz), "--output",
                 str(out), "--plot", "-q"]) == 0
    stds = sorted(out.glob("*_std.txt"))
    assert len(stds) == 110 and len(list(out.glob("*.png"))) == 110
    std = read_spectrum(stds[0]).mu
    assert std.shape == (226,) and np.all(std > 0)


def test_evaluate_ensemble_writes_calibration(ensemble_model, data_root, tmp_path, capsys):
    import pandas as pd

    fe = data_root / "fe_k_edge"
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(ensemble_model), "--xyz", str(fe / "xyz"),
                 "--xanes", str(fe / "xanes"), "--output", str(out)]) == 0
    assert "points within 2 std" in capsys.readouterr().out
    for name in ("calibration.png", "std_vs_error.png", "std.csv"):
        assert (out / name).stat().st_size > 0
    assert "mean_std" in pd.read_csv(out / "spectra.csv").columns
    assert pd.read_csv(out / "std.csv", index_col=0).shape == (110, 226)


def test_bad_ensemble_options(data_root, tmp_path, capsys):
    fe = data_root / "fe_k_edge"
    base = ["learn", "--xyz", str(fe / "xyz"), "--xanes", str(fe / "xanes")]
    assert main(base + ["--output", str(tmp_path / "m.joblib"), "--ensemble", "0"]) == 1
    assert "--ensemble must be at least 1" in error_line(capsys)
    assert not list(tmp_path.iterdir())


def test_learn_log_dir_writes_tensorboard_events(data_root, tmp_path):
    pytest.importorskip("tensorboard")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    v = data_root / "tmqm_k_edge_v.npz"
    logs = tmp_path / "logs"
    assert main(["learn", "--data", str(v), "--output", str(tmp_path / "m.joblib"), "--epochs",
                 "2", "--config", str(config), "--log-dir", str(logs), "-q"]) == 0
    assert list(logs.glob("events.out.tfevents.*"))


def test_learn_log_dir_with_an_ensemble_logs_every_member(data_root, tmp_path):
    import joblib

    pytest.importorskip("tensorboard")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    v = data_root / "tmqm_k_edge_v.npz"
    logs, out = tmp_path / "logs", tmp_path / "e.joblib"
    assert main(["learn", "--data", str(v), "--output", str(out), "--epochs", "2", "--config",
                 str(config), "--ensemble", "3", "--log-dir", str(logs), "-q"]) == 0
    seeds = joblib.load(out)[-1].seeds_
    assert sorted(p.name for p in logs.iterdir()) == sorted(f"member-{s}" for s in seeds)
    for member in logs.iterdir():
        assert list(member.glob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def inverse_model(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("inv")
    config = root / "tiny.yaml"
    config.write_text(TINY + "wacsf:\n  n_g2: 8\n  n_g4: 8\n")
    out = root / "inv.joblib"
    fe = data_root / "fe_k_edge"
    assert main(["learn", "--inverse", "--xyz", str(fe / "xyz"), "--xanes", str(fe / "xanes"),
                 "--output", str(out), "--epochs", "3", "--config", str(config), "-q"]) == 0
    return out


def test_inverse_learn_and_predict_descriptors(inverse_model, data_root, tmp_path):
    import json

    import pandas as pd

    from xanesnet_sk.inverse import InversePipeline

    meta = json.loads(inverse_model.with_name(inverse_model.name + ".json").read_text())
    assert meta["direction"] == "inverse" and len(meta["target_names"]) == 17
    out = tmp_path / "desc"
    xanes = data_root / "fe_k_edge" / "xanes"
    assert main(["predict", "--inverse", "--model", str(inverse_model), "--xanes", str(xanes),
                 "--output", str(out), "-q"]) == 0
    table = pd.read_csv(out / "descriptors.csv")
    assert table.shape == (110, 18) and table.columns[0] == "name"
    assert np.isfinite(table.iloc[:, 1:].to_numpy()).all()
    import joblib

    assert isinstance(joblib.load(inverse_model), InversePipeline)


def test_directions_are_not_mixed(inverse_model, ensemble_model, data_root, tmp_path, capsys):
    fe = data_root / "fe_k_edge"
    assert main(["predict", "--model", str(inverse_model), "--xyz", str(fe / "xyz"),
                 "--output", str(tmp_path / "a")]) == 1
    assert "inverse model" in error_line(capsys)
    assert main(["evaluate", "--model", str(inverse_model), "--xyz", str(fe / "xyz"),
                 "--xanes", str(fe / "xanes"), "--output", str(tmp_path / "b")]) == 1
    assert "inverse model" in error_line(capsys)
    assert main(["predict", "--inverse", "--model", str(ensemble_model), "--xanes",
                 str(fe / "xanes"), "--output", str(tmp_path / "c")]) == 1
    assert "forward model" in error_line(capsys)
    assert not any(tmp_path.iterdir())


def test_inverse_wrong_spectrum_length(inverse_model, tmp_path, capsys):
    from xanesnet_sk.io import write_spectrum

    xanes = tmp_path / "xanes"
    xanes.mkdir()
    write_spectrum(xanes / "short.txt", np.linspace(7100, 7150, 50), np.ones(50))
    out = tmp_path / "out"
    assert main(["predict", "--inverse", "--model", str(inverse_model), "--xanes", str(xanes),
                 "--output", str(out)]) == 1
    assert "trained on 226 points" in error_line(capsys)
    assert not (out / "descriptors.csv").exists()
