"""The ``xanesnet-sk`` command line, run in-process through ``main([...])``."""

import json

import numpy as np
import pytest

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


def _error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err, "no error message on stderr"
    assert "\n" not in err, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    return err


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
        (["--xyz", "OUT", "--output", "OUT/f.npz"], "no .xyz files"),
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
    assert "featurise" in capsys.readouterr().out
