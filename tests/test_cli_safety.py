"""The command line's safety rules (issue 10), on small synthetic files (no real data).

A run that did not do what was asked exits non-zero and leaves nothing that
looks finished: no model after Ctrl-C (unless asked, and then marked), no
half-written or overwritten outputs, no file outside ``--output``; errors are
one line and come before any long work.
"""

import json

import numpy as np
import pytest
from _helpers import InterruptAfter, error_line

from xanesnet_sk.cli import main

N, F, P = 40, 10, 20
ENERGIES = np.linspace(-15.0, 60.0, P)
TINY = "model:\n  hidden_sizes: [8]\n  batch_size: 16\n  max_epochs: 3\n"


_error_line = error_line


def _leftovers(folder):
    """Temporary (partial) files a verb left behind."""
    return sorted(p.name for p in folder.rglob("*") if ".partial-" in p.name)


def _features(path, names=None, energies=ENERGIES, y=None, params=None, n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, F))
    if y is None:
        y = 1.0 + 0.1 * rng.normal(size=(n, P)) + 0.05 * x[:, :1]
    arrays = {"x": x, "y": y, "names": np.array(names or [f"s{i}" for i in range(n)])}
    if energies is not None:
        arrays["energies"] = np.asarray(energies, dtype=float)
    if params is not None:
        arrays["wacsf_params"] = np.array(json.dumps(params))
        arrays["feature_names"] = np.array([f"f{i}" for i in range(F)])
    np.savez(path, **arrays)
    return path


@pytest.fixture
def data(tmp_path):
    return _features(tmp_path / "train.npz")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def model(tmp_path, data, config):
    out = tmp_path / "m" / "model.joblib"
    assert main(["learn", "--data", str(data), "--config", str(config), "--output", str(out),
                 "-q"]) == 0
    return out


_InterruptAfter = InterruptAfter


# ------------------------------------------------------------------ Ctrl-C


def test_learn_interrupted_exits_130_and_saves_nothing(tmp_path, data, config, monkeypatch,
                                                       capsys):
    _InterruptAfter(monkeypatch, 5)  # 3 batches per epoch: in the second epoch
    out = tmp_path / "m" / "model.joblib"
    assert main(["learn", "--data", str(data), "--config", str(config), "--output", str(out),
                 "-q"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() and not out.with_name(out.name + ".json").exists()
    assert _leftovers(tmp_path) == []


def test_learn_save_on_interrupt_marks_the_model(tmp_path, data, config, monkeypatch, capsys):
    _InterruptAfter(monkeypatch, 5)
    out = tmp_path / "m" / "model.joblib"
    assert main(["learn", "--data", str(data), "--config", str(config), "--output", str(out),
                 "--save-on-interrupt"]) == 130
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["interrupted"] is True
    assert meta["epochs_completed"] == 1 and meta["epochs_requested"] == 3
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--data", str(data), "--output",
                 str(tmp_path / "p")]) == 0
    assert "training was interrupted after 1 of 3 epochs" in capsys.readouterr().out


def test_save_on_interrupt_before_any_epoch_saves_nothing(tmp_path, data, config, monkeypatch):
    _InterruptAfter(monkeypatch, 1)
    out = tmp_path / "model.joblib"
    assert main(["learn", "--data", str(data), "--config", str(config), "--output", str(out),
                 "--save-on-interrupt", "-q"]) == 130
    assert not out.exists() and not out.with_name(out.name + ".json").exists()


def test_validate_interrupted_exits_130_without_table(tmp_path, data, config, monkeypatch):
    _InterruptAfter(monkeypatch, 8)  # in the second fold
    out = tmp_path / "cv.csv"
    assert main(["validate", "--data", str(data), "--config", str(config), "--splits", "2",
                 "--repeats", "1", "--output", str(out), "-q"]) == 130
    assert not out.exists() and _leftovers(tmp_path) == []


# ------------------------------------------------------------------ learn refuses


@pytest.mark.parametrize(
    "extra, yaml, needle",
    [
        (["--epochs", "0"], "", "--epochs must be at least 1"),
        (["--epochs", "-2"], "", "--epochs must be at least 1"),
        ([], "model:\n  max_epochs: 0\n", "max_epochs"),
        ([], "model:\n  lr: 1e-3\n", "write it with a dot, 1.0e-3"),
        ([], "wacsf:\n  r_cut: 6e0\n", "wacsf.r_cut is the string '6e0'"),
        ([], "preprocessing:\n  variance_drop: '0.25'\n", "variance_drop is the string"),
        ([], "model:\n  dropout: 2.0\n", "dropout"),
        ([], "wacsf:\n  n_g4: 10\n", "divisible"),
    ],
)
def test_learn_config_errors_come_before_the_data(tmp_path, extra, yaml, needle, capsys):
    """A bad option or config fails first: the data path given does not even exist."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml)
    for verb, out in (("learn", "m.joblib"), ("validate", "cv.csv")):
        assert main([verb, "--data", str(tmp_path / "missing.npz"), "--config", str(cfg),
                     "--output", str(tmp_path / out), *extra]) == 1
        line = _error_line(capsys)
        assert needle in line and "missing.npz" not in line, line
    assert list(tmp_path.iterdir()) == [cfg]


def test_learn_json_output_rejected_before_anything(tmp_path, capsys):
    assert main(["learn", "--data", str(tmp_path / "missing.npz"), "--output",
                 str(tmp_path / "m.json")]) == 1
    assert ".json is the sidecar's suffix" in _error_line(capsys)


def test_learn_cuda_without_gpu_is_one_line(tmp_path, data, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  device: cuda\n")
    assert main(["learn", "--data", str(data), "--config", str(cfg), "--output",
                 str(tmp_path / "m.joblib")]) == 1
    assert "no CUDA GPU" in _error_line(capsys)
    assert not (tmp_path / "m.joblib").exists()


def test_learn_diverged_net_is_not_saved(tmp_path, data, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY + "  lr: 1.0e+30\n")
    out = tmp_path / "m.joblib"
    assert main(["learn", "--data", str(data), "--config", str(cfg), "--output", str(out)]) == 1
    assert "non-finite" in _error_line(capsys)
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "energies, needle",
    [
        (ENERGIES[:-1], "the energy grid has 19 points but the spectra have 20"),
        (ENERGIES[::-1], "energies must increase strictly, but point 1 (56.0526 eV) follows 60"),
        (np.r_[ENERGIES[:-1], np.nan], "NaN or inf"),
    ],
)
@pytest.mark.parametrize("verb", ["learn", "validate"])
def test_learn_refuses_a_bad_energy_grid(tmp_path, config, verb, energies, needle, capsys):
    path = _features(tmp_path / "bad.npz", energies=energies)
    out = tmp_path / ("m.joblib" if verb == "learn" else "cv.csv")
    assert main([verb, "--data", str(path), "--config", str(config), "--output", str(out)]) == 1
    line = _error_line(capsys)
    assert needle in line and "bad.npz" in line and "np.float64" not in line
    assert not out.exists()


@pytest.mark.parametrize("bad, needle", [("zero", "is zero at every energy"),
                                         ("nan", "contains NaN or inf")])
@pytest.mark.parametrize("verb", ["learn", "validate"])
def test_unusable_spectra_are_refused_naming_the_sample(tmp_path, config, verb, bad, needle,
                                                         capsys):
    y = 1.0 + np.random.default_rng(1).random((N, P))
    y[7] = 0.0 if bad == "zero" else np.r_[np.ones(P - 1), np.nan]
    path = _features(tmp_path / "bad.npz", y=y)
    out = tmp_path / ("m.joblib" if verb == "learn" else "cv.csv")
    assert main([verb, "--data", str(path), "--config", str(config), "--output", str(out)]) == 1
    line = _error_line(capsys)
    assert needle in line and "sample 7 ('s7')" in line
    assert not out.exists()


# ------------------------------------------------------------------ outputs are not clobbered


def test_learn_keeps_an_existing_model(tmp_path, data, config, capsys):
    out = tmp_path / "model.joblib"
    for existing in (out, out.with_name(out.name + ".json")):
        existing.write_text("precious")
        assert main(["learn", "--data", str(data), "--config", str(config), "--output",
                     str(out)]) == 1
        assert "already exists; give --overwrite" in _error_line(capsys)
        assert existing.read_text() == "precious"
        existing.unlink()
    out.write_text("precious")
    assert main(["learn", "--data", str(data), "--config", str(config), "--output", str(out),
                 "--overwrite", "-q"]) == 0
    assert out.read_bytes() != b"precious" and _leftovers(tmp_path) == []


def test_predict_into_the_spectra_directory_is_refused(tmp_path, model, capsys):
    spectra = tmp_path / "spectra"
    spectra.mkdir()
    (spectra / "s3.txt").write_text("my measured spectrum")
    assert main(["predict", "--model", str(model), "--data", str(tmp_path / "train.npz"),
                 "--output", str(spectra)]) == 1
    assert "s3.txt' already exists; give --overwrite" in _error_line(capsys)
    assert (spectra / "s3.txt").read_text() == "my measured spectrum"
    assert sorted(p.name for p in spectra.iterdir()) == ["s3.txt"]
    assert main(["predict", "--model", str(model), "--data", str(tmp_path / "train.npz"),
                 "--output", str(spectra), "--overwrite", "-q"]) == 0
    assert len(list(spectra.glob("*.txt"))) == N and _leftovers(spectra) == []
    assert (spectra / "s3.txt").read_text() != "my measured spectrum"


@pytest.mark.parametrize(
    "name, needle",
    [
        ("../../escaped", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..", "directory name"),
        ("", "empty"),
        (".hidden", "hidden"),
        ("tab\there", "control character"),
        (" padded", "white space"),
        ("x" * 300, "longer than"),
    ],
)
def test_predict_refuses_unsafe_sample_names(tmp_path, model, name, needle, capsys):
    names = [f"s{i}" for i in range(N)]
    names[5] = name
    path = _features(tmp_path / "named.npz", names=names)
    out = tmp_path / "deep" / "er" / "pred"
    assert main(["predict", "--model", str(model), "--data", str(path), "--output",
                 str(out)]) == 1
    line = _error_line(capsys)
    assert needle in line and "sample 5" in line
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt")\
        .exists()
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("twin", ["s2", "S2"])
def test_predict_refuses_duplicate_names(tmp_path, model, twin, capsys):
    names = [f"s{i}" for i in range(N)]
    names[9] = twin
    path = _features(tmp_path / "dup.npz", names=names)
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(model), "--data", str(path), "--output",
                 str(out)]) == 1
    assert "samples 2 and 9 have the same name" in _error_line(capsys)
    assert not out.exists() or list(out.iterdir()) == []


def test_evaluate_keeps_existing_files_and_writes_all_or_nothing(tmp_path, model, data,
                                                                  monkeypatch, capsys):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "summary.csv").write_text("mine")
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--output",
                 str(out)]) == 1
    assert "summary.csv' already exists" in _error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv"]
    # a failure after some files are written leaves none of them
    import xanesnet_sk.plots as plots

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(plots, "plot_peak_parity", broken)
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--output",
                 str(out), "--overwrite"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv"]
    assert (out / "summary.csv").read_text() == "mine"
    monkeypatch.undo()
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--output",
                 str(out), "--overwrite", "-q"]) == 0
    assert len(list(out.iterdir())) == 6 and (out / "summary.csv").read_text() != "mine"


def test_featurise_and_validate_keep_existing_outputs(tmp_path, data, config, capsys):
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    (xyz / "a.xyz").write_text("2\na\nFe 0 0 0\nO 0 0 1.9\n")
    for argv in (["featurise", "--xyz", str(xyz), "--backend", "numpy"],
                 ["validate", "--data", str(data), "--config", str(config), "--splits", "2",
                  "--repeats", "1"]):
        out = tmp_path / ("f.npz" if argv[0] == "featurise" else "cv.csv")
        out.write_text("mine")
        assert main([*argv, "--output", str(out)]) == 1
        assert "already exists" in _error_line(capsys)
        assert out.read_text() == "mine"
        assert main([*argv, "--output", str(out), "--overwrite", "-q"]) == 0
        assert out.read_bytes() != b"mine"
        assert _leftovers(tmp_path) == []


def test_demo_refuses_a_non_empty_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--output", str(tmp_path), "--n-samples", "20"]) == 1
    assert "is not empty; give --overwrite" in _error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# ------------------------------------------------------------------ model / data mismatches


def test_evaluate_refuses_another_energy_grid(tmp_path, model, capsys):
    absolute = _features(tmp_path / "abs.npz", energies=7112.0 + ENERGIES)
    assert main(["evaluate", "--model", str(model), "--data", str(absolute), "--output",
                 str(tmp_path / "e")]) == 1
    line = _error_line(capsys)
    assert "energy grid (7097 to 7172 eV) is not the model's (-15 to 60 eV" in line
    assert "relative to the edge" in line
    shifted = _features(tmp_path / "shift.npz", energies=ENERGIES + 1.0)
    assert main(["evaluate", "--model", str(model), "--data", str(shifted), "--output",
                 str(tmp_path / "e")]) == 1
    assert "is not the model's" in _error_line(capsys)
    short = _features(tmp_path / "short.npz", energies=ENERGIES[:-2], y=np.ones((N, P - 2)))
    assert main(["evaluate", "--model", str(model), "--data", str(short), "--output",
                 str(tmp_path / "e")]) == 1
    assert "18 energy points but the model predicts 20" in _error_line(capsys)
    assert not (tmp_path / "e").exists() or list((tmp_path / "e").iterdir()) == []


@pytest.mark.parametrize(
    "change",
    [{"g4_pairs": "ordered"}, {"weights": {"26": 1.0}}, {"absorber": 1}, {"r_cut": 5.0},
     {"zetas": [1.0, 2.0]}],
)
def test_predict_refuses_features_made_with_other_wacsf_parameters(tmp_path, config, change,
                                                                    capsys):
    params = {"n_g2": 8, "n_g4": 16}
    train = _features(tmp_path / "t.npz", params=params)
    out = tmp_path / "m.joblib"
    assert main(["learn", "--data", str(train), "--config", str(config), "--output", str(out),
                 "-q"]) == 0
    same = _features(tmp_path / "same.npz", params={**params, "chunk_size": 7}, seed=3)
    assert main(["predict", "--model", str(out), "--data", str(same), "--output",
                 str(tmp_path / "ok"), "-q"]) == 0
    other = _features(tmp_path / "other.npz", params={**params, **change}, seed=3)
    assert main(["predict", "--model", str(out), "--data", str(other), "--output",
                 str(tmp_path / "p")]) == 1
    (key,) = change
    line = _error_line(capsys)
    assert f"made with the wACSF parameter {key}=" in line and "other.npz" in line
    assert not (tmp_path / "p").exists() or list((tmp_path / "p").iterdir()) == []


@pytest.mark.parametrize("payload, kind", [("[1, 2]", "array"), ('"x"', "string"),
                                           ("null", "null"), ("{bad", None)])
def test_a_bad_sidecar_is_one_line(tmp_path, model, data, payload, kind, capsys):
    model.with_name(model.name + ".json").write_text(payload)
    assert main(["predict", "--model", str(model), "--data", str(data), "--output",
                 str(tmp_path / "p")]) == 1
    line = _error_line(capsys)
    assert "model.joblib.json" in line
    assert (f"got a JSON {kind}" if kind else "not valid JSON") in line


def test_truncated_npz_names_the_file(tmp_path, data, capsys):
    from xanesnet_sk.datasets import load_npz

    raw = data.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 30, 100):
        broken = tmp_path / f"cut{cut}.npz"
        broken.write_bytes(raw[:cut])
        assert main(["learn", "--data", str(broken), "--output",
                     str(tmp_path / "m.joblib")]) == 1
        line = _error_line(capsys)
        assert f"cut{cut}.npz" in line and "not a readable .npz" in line
        with pytest.raises(ValueError, match=f"cut{cut}.npz: not a readable .npz"):
            load_npz(broken)
    assert not (tmp_path / "m.joblib").exists()


def test_bad_wacsf_params_in_npz_are_one_line(tmp_path, capsys):
    path = _features(tmp_path / "p.npz", params={"n_g2": 8})
    with np.load(path) as npz:
        arrays = dict(npz)
    for text, needle in (("[1]", "must be a JSON object"), ("{nope", "not valid JSON")):
        arrays["wacsf_params"] = np.array(text)
        np.savez(path, **arrays)
        assert main(["learn", "--data", str(path), "--output", str(tmp_path / "m.joblib")]) == 1
        assert needle in _error_line(capsys)


def test_features_with_nan_are_refused(tmp_path, capsys):
    path = _features(tmp_path / "f.npz")
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["x"][3, 2] = np.inf
    np.savez(path, **arrays)
    assert main(["learn", "--data", str(path), "--output", str(tmp_path / "m.joblib")]) == 1
    assert "'x' contains NaN or inf (first in sample 3)" in _error_line(capsys)


# ------------------------------------------------------------------ help text


@pytest.mark.parametrize("verb", ["predict", "evaluate", "importance", "variance-sweep",
                                  "select-from-model", "sfs", "wacsf-search", "learn"])
def test_help_says_models_are_pickles(verb, capsys):
    assert main([verb, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "pickle" in text and "runs code" in text


@pytest.mark.parametrize("verb", ["learn", "validate", "predict", "evaluate", "importance",
                                  "sfs", "variance-sweep", "select-from-model"])
def test_help_names_only_options_that_exist(verb, capsys):
    import re

    from xanesnet_sk.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[verb]
    options = {s for action in sub._actions for s in action.option_strings}
    assert main([verb, "--help"]) == 0
    text = capsys.readouterr().out
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    assert named <= options, sorted(named - options)


# ------------------------------------------------------------------ analysis verbs


def test_analysis_verbs_keep_existing_outputs_and_leave_no_partials(tmp_path, data, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "variance_sweep.png").write_text("mine")
    argv = ["variance-sweep", "--data", str(data), "--model", "ridge", "--folds", "2",
            "--repeats", "1", "--fractions", "0,0.5", "--output", str(out)]
    assert main(argv) == 1
    assert "variance_sweep.png' already exists" in _error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["variance_sweep.png"]
    assert main([*argv, "--overwrite", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["variance_sweep.csv", "variance_sweep.png"]
    assert (out / "variance_sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_analysis_verb_interrupted_keeps_only_the_partial_log(tmp_path, data, monkeypatch):
    import xanesnet_sk.analysis.plots as plots

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_variance_sweep", interrupted)
    out = tmp_path / "sweep"
    assert main(["variance-sweep", "--data", str(data), "--model", "ridge", "--folds", "2",
                 "--repeats", "1", "--fractions", "0,0.5", "--output", str(out), "-q"]) == 130
    assert sorted(p.name for p in out.iterdir()) == ["variance_sweep.partial.csv"]


@pytest.mark.parametrize("verb", ["importance", "variance-sweep", "select-from-model", "sfs",
                                  "wacsf-search"])
def test_analysis_config_errors_come_before_the_data(tmp_path, verb, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  lr: 1e-3\n")
    assert main([verb, "--data", str(tmp_path / "missing.npz"), "--config", str(cfg),
                 "--output", str(tmp_path / "o")]) == 1
    assert "write it with a dot" in _error_line(capsys)
    assert main([verb, "--data", str(tmp_path / "missing.npz"), "--epochs", "0",
                 "--output", str(tmp_path / "o")]) == 1
    assert "--epochs must be at least 1" in _error_line(capsys)


def test_spectra_on_different_grids_hint_names_a_real_option(tmp_path, capsys):
    from xanesnet_sk.io import write_spectrum

    xyz, xanes = tmp_path / "xyz", tmp_path / "xanes"
    xyz.mkdir()
    xanes.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        pos = rng.normal(scale=1.5, size=(4, 3))
        pos[0] = 0
        lines = ["4", f"m{i}"] + [f"{z} {a:.5f} {b:.5f} {c:.5f}"
                                  for z, (a, b, c) in zip([26, 8, 8, 7], pos)]
        (xyz / f"m{i}.xyz").write_text("\n".join(lines) + "\n")
        grid = np.linspace(-16.0, 61.0, 31) if i == 2 else ENERGIES
        write_spectrum(xanes / f"m{i}.txt", grid, 1.0 + rng.random(grid.size))
    argv = ["learn", "--xyz", str(xyz), "--xanes", str(xanes), "--output",
            str(tmp_path / "m.joblib"), "--epochs", "1", "-q"]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert "m2.txt: energy grid" in line and "--resample-to-first" in line
    assert "grid='first'" not in line
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY + "wacsf:\n  n_g2: 4\n  n_g4: 8\n")
    assert main([*argv, "--resample-to-first", "--config", str(cfg)]) == 0


# ------------------------------------------------------------------ tables and histogram


@pytest.mark.parametrize("dmu", [
    np.array([1.0, 2.0, np.nan, 3.0, np.inf]),
    np.array([1.0, 2.0, 1e5, 3.0, 7e4]),      # diverged: used to ask for 1e5 bins
    np.array([1.0, 2.0, 1e300, 3.0, 4.0]),    # used to ask for a 59 TiB array
    np.array([np.nan, np.nan]),
    np.array([-5.0, 2.0, 3.0]),
])
def test_dmu_histogram_is_bounded_and_counts_non_finite(dmu, tmp_path):
    import time

    from xanesnet_sk.plots import MAX_BINS, plot_dmu_histogram

    start = time.perf_counter()
    fig = plot_dmu_histogram(dmu, path=tmp_path / "h.png")
    assert time.perf_counter() - start < 20
    ax = fig.axes[0]
    assert len(ax.patches) <= MAX_BINS
    n_bad = int(np.sum(~np.isfinite(dmu)))
    title = ax.get_title()
    assert (f"({n_bad} non-finite, not shown)" in title) == (n_bad > 0), title
    assert f"over {dmu.size - n_bad} spectra" in title
    drawn = sum(p.get_height() for p in ax.patches)
    assert drawn == dmu.size - n_bad
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_tables_count_non_finite_delta_mu():
    from xanesnet_sk.cli._report import fold_summary, summary_table

    folds = [
        {"repeat": 1, "fold": 1, "dmu": np.array([1.0, 2.0, np.nan]),
         "dmu_baseline": np.array([5.0, 5.0, 5.0])},
        {"repeat": 1, "fold": 2, "dmu": np.array([3.0, 4.0, 5.0]),
         "dmu_baseline": np.array([6.0, 6.0, 6.0])},
    ]
    table = fold_summary(folds).set_index("fold")
    assert table.loc["r1/f1", "n_nonfinite"] == 1 and table.loc["r1/f2", "n_nonfinite"] == 0
    assert table.loc["r1/f1", "median"] == pytest.approx(1.5)
    assert table.loc["overall", "n_nonfinite"] == 1
    assert table.loc["overall", "median"] == pytest.approx(3.0)
    assert np.isfinite(table.loc["fold medians", "median"])
    stats = {"n_target_peaks": 0, "n_matched": 0, "hit_rate": np.nan, "mean": np.nan,
             "max": np.nan, "std": np.nan, "bias": np.nan, "r2": np.nan, "n_nonfinite": 2}
    summary = summary_table(np.array([1.0, np.nan, np.inf, 3.0]), np.ones(4), stats)
    values = summary.set_index("metric")["value"]
    assert values["spectra with non-finite delta_mu"] == 2
    assert values["spectra without peak matching (NaN or inf)"] == 2
    assert values["delta_mu median (%)"] == pytest.approx(2.0)


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_evaluate_a_model_that_predicts_nan_counts_it(tmp_path, data, capsys):
    import joblib
    import pandas as pd
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LinearRegression

    with np.load(data) as npz:
        x, y = npz["x"], npz["y"]
    # predictions below zero become NaN through the inverse (sqrt) of the target transform
    model = TransformedTargetRegressor(LinearRegression(), func=np.square, inverse_func=np.sqrt,
                                       check_inverse=False).fit(x, y - 1.0)
    path = tmp_path / "odd.joblib"
    joblib.dump(model, path)
    path.with_name(path.name + ".json").write_text(json.dumps({"energies": ENERGIES.tolist()}))
    out = tmp_path / "e"
    assert main(["evaluate", "--model", str(path), "--data", str(data), "--output",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    per = pd.read_csv(out / "spectra.csv")
    n_bad = int(per["delta_mu"].isna().sum())
    assert n_bad > 0
    assert f"note: {n_bad} of {N} predicted spectra contain NaN" in printed
    summary = pd.read_csv(out / "summary.csv").set_index("metric")["value"]
    assert summary["spectra with non-finite delta_mu"] == n_bad
    assert summary["spectra without peak matching (NaN or inf)"] == n_bad
    assert np.isfinite(summary["delta_mu median (%)"])
    assert (out / "dmu_histogram.png").stat().st_size > 0


def test_safe_format_without_skops_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "skops", None)  # import skops now fails
    monkeypatch.setitem(sys.modules, "skops.io", None)
    assert main(["learn", "--data", str(tmp_path / "missing.npz"), "--output",
                 str(tmp_path / "m.skops")]) == 1
    assert "needs skops: pip install 'xanesnet-sk[safe]'" in _error_line(capsys)
    (tmp_path / "m.skops").write_bytes(b"PK")
    assert main(["predict", "--model", str(tmp_path / "m.skops"), "--data",
                 str(tmp_path / "missing.npz"), "--output", str(tmp_path / "p")]) == 1
    assert "needs skops" in _error_line(capsys)


def test_predict_does_not_judge_spectra_it_does_not_use(tmp_path, model):
    y = 1.0 + np.random.default_rng(1).random((N, P))
    y[4] = 0.0  # a zero spectrum would be refused by learn/evaluate, not by predict
    path = _features(tmp_path / "z.npz", y=y)
    assert main(["predict", "--model", str(model), "--data", str(path), "--output",
                 str(tmp_path / "p"), "-q"]) == 0
    assert main(["evaluate", "--model", str(model), "--data", str(path), "--output",
                 str(tmp_path / "e"), "-q"]) == 1


@pytest.mark.parametrize("key, value, needle", [
    ("energies", "abc", "'energies' must be a list of finite numbers"),
    ("energies", [1.0, None], "'energies' must be a list of finite numbers"),
    ("mean_spectrum", [1.0, 2.0], "'energies' and 'mean_spectrum' differ in length"),
    ("feature_names", "f0", "'feature_names' must be a list of strings"),
    ("n_features", "10", "'n_features' must be a positive integer"),
    ("wacsf_params", [1], "'wacsf_params' must be a JSON object or null"),
])
def test_sidecar_values_of_the_wrong_type_are_one_line(tmp_path, model, data, key, value,
                                                       needle, capsys):
    side = model.with_name(model.name + ".json")
    meta = json.loads(side.read_text())
    meta[key] = value
    side.write_text(json.dumps(meta))
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--output",
                 str(tmp_path / "e")]) == 1
    line = _error_line(capsys)
    assert needle in line and "model.joblib.json" in line


def test_config_file_encoding(tmp_path, capsys):
    from xanesnet_sk._config import ConfigError, load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"\xef\xbb\xbfmodel:\n  lr: 0.01\n")
    assert load_config(cfg)["model"] == {"lr": 0.01}
    cfg.write_bytes(b"model:\n  lr: \xff\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: not a UTF-8 text file"):
        load_config(cfg)
    assert main(["learn", "--data", str(tmp_path / "x.npz"), "--config", str(cfg),
                 "--output", str(tmp_path / "m.joblib")]) == 1
    assert "c.yaml: not a UTF-8 text file" in _error_line(capsys)


@pytest.mark.parametrize("key, value, needle", [
    ("names", np.array(["a", "b"]), "'names' has 2 entries but 'x' has 40 samples"),
    ("feature_names", np.array(["f0"]), "'feature_names' has 1 entries but 'x' has 10"),
])
def test_npz_arrays_that_do_not_fit_together_are_refused(tmp_path, model, key, value, needle,
                                                         capsys):
    path = _features(tmp_path / "f.npz")
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays[key] = value
    np.savez(path, **arrays)
    assert main(["predict", "--model", str(model), "--data", str(path), "--output",
                 str(tmp_path / "p")]) == 1
    assert needle in _error_line(capsys)
    assert not (tmp_path / "p").exists() or list((tmp_path / "p").iterdir()) == []
