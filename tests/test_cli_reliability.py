"""CLI reliability (issue 18, part C): names, ensembles' error bars with sites, the inverse
grid check, signals and leftovers, sidecars, partitions, the scheduler's time limit."""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import ase.io
import joblib
import numpy as np
import pytest
from _helpers import error_line
from ase.build import bulk, molecule

from xanesnet_sk.cli import main

SMALL = dict(n_g2=8, n_g4=16)
ROOT = Path(__file__).resolve().parents[1]


def _ridge_model(ensemble=True):
    """A fast, deterministic forward model: wACSF -> (an ensemble of 3) Ridge."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from wacsf import WACSFTransformer
    from xanesnet_sk import DeepEnsembleRegressor, make_synthetic_xanes

    data = make_synthetic_xanes(n_samples=30, random_state=0)
    last = (DeepEnsembleRegressor(Ridge(), n_ensemble=3, bootstrap=True, random_state=0,
                                  n_jobs=1) if ensemble else Ridge())
    return make_pipeline(WACSFTransformer(**SMALL), last).fit(data.structures, data.spectra)


@pytest.fixture(scope="module")
def ensemble_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ens") / "ens.joblib"
    joblib.dump(_ridge_model(), path)
    return path


@pytest.fixture(scope="module")
def ridge_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ridge") / "ridge.joblib"
    joblib.dump(_ridge_model(ensemble=False), path)
    return path


def _write_molecules(folder, names=("m0", "m1", "m2")):
    folder.mkdir(exist_ok=True)
    for k, name in enumerate(names):
        atoms = molecule(["H2O", "CH4", "NH3", "C2H6"][k % 4])
        atoms.numbers[0] = 26  # an Fe absorber at atom 0
        ase.io.write(folder / f"{name}.xyz", atoms, format="xyz")
    return folder


def _crystals(folder):
    """Two FeO crystals (2 and 4 Fe sites) and one molecule without Fe."""
    folder.mkdir(exist_ok=True)
    ase.io.write(folder / "a.extxyz", bulk("FeO", "rocksalt", a=4.3).repeat((2, 1, 1)),
                 format="extxyz")
    ase.io.write(folder / "b.extxyz", bulk("FeO", "rocksalt", a=4.35).repeat((2, 2, 1)),
                 format="extxyz")
    ase.io.write(folder / "c.xyz", molecule("H2O"), format="xyz")
    return folder


def _tree(folder):
    """{relative path: bytes} of every file under ``folder`` (hidden ones included)."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- 5: names


def test_predict_names_outputs_by_the_file_stem_not_a_name_in_the_file(tmp_path, ridge_path):
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    atoms = molecule("H2O")
    atoms.info["name"] = "../../escaped"
    ase.io.write(xyz / "water.extxyz", atoms, format="extxyz")
    atoms.info["name"] = "other"
    ase.io.write(xyz / "second.xyz", atoms, format="extxyz")  # extxyz under .xyz
    assert "name=" in (xyz / "water.extxyz").read_text()
    out = tmp_path / "deep" / "out"
    assert main(["predict", "--model", str(ridge_path), "--xyz", str(xyz), "--output", str(out),
                 "-q"]) == 0
    assert sorted(_tree(out)) == ["second.txt", "water.txt"]
    assert not (tmp_path / "escaped.txt").exists()


def test_featurise_writes_the_file_stems(tmp_path):
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    atoms = molecule("H2O")
    atoms.info["name"] = "../evil"
    ase.io.write(xyz / "w.extxyz", atoms, format="extxyz")
    _write_molecules(xyz, ["a"])
    out = tmp_path / "f.npz"
    assert main(["featurise", "--xyz", str(xyz), "--output", str(out), "--n-g2", "8", "--n-g4",
                 "16", "-q"]) == 0
    assert np.load(out)["names"].tolist() == ["a", "w"]


@pytest.mark.parametrize(("files", "needle"), [
    (["a.xyz", "a.extxyz"], "samples 0 and 1 have the same name 'a'"),
    (["Fe1.xyz", "fe1.xyz"], "have the same name 'fe1' (ignoring case)"),
    (["ok.xyz", "bad\x01.xyz"], "contains a control character"),
])
def test_featurise_refuses_names_that_collide_or_are_unsafe(tmp_path, files, needle, capsys):
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    for name in files:
        ase.io.write(xyz / name, molecule("H2O"), format="extxyz" if name.endswith("extxyz")
                     else "xyz")
    out = tmp_path / "f.npz"
    assert main(["featurise", "--xyz", str(xyz), "--output", str(out), "--n-g2", "8",
                 "--n-g4", "16"]) == 1
    assert needle in error_line(capsys)
    assert not out.exists()


def test_a_file_with_several_structures_gets_a_cli_hint(tmp_path, ridge_path, capsys):
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    ase.io.write(xyz / "traj.xyz", [molecule("H2O"), molecule("H2O")], format="xyz")
    assert main(["predict", "--model", str(ridge_path), "--xyz", str(xyz), "--output",
                 str(tmp_path / "o")]) == 1
    line = error_line(capsys)
    assert "traj.xyz: holds 2 structures (frames)" in line and "one structure per file" in line
    assert "index=" not in line and "read_structures" not in line
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- 7: std with sites


def test_predict_sites_with_an_ensemble_writes_std(tmp_path, ensemble_path):
    from wacsf import WACSFTransformer
    from xanesnet_sk import site_average
    from xanesnet_sk.io import read_spectrum

    xyz = _crystals(tmp_path / "xyz")
    (xyz / "c.xyz").unlink()
    out = tmp_path / "out"
    assert main(["predict", "--model", str(ensemble_path), "--xyz", str(xyz), "--output",
                 str(out), "--absorber-element", "Fe", "-q"]) == 0
    assert sorted(_tree(out)) == sorted(
        ["a.txt", "a_std.txt", "b.txt", "b_std.txt"]
        + [f"sites/a_{i}{s}.txt" for i in (0, 2) for s in ("", "_std")]
        + [f"sites/b_{i}{s}.txt" for i in (0, 2, 4, 6) for s in ("", "_std")])
    # the std is the members' spread of their site means, times the calibration factor
    model = joblib.load(ensemble_path)
    structures = [ase.io.read(xyz / "a.extxyz"), ase.io.read(xyz / "b.extxyz")]
    t = WACSFTransformer(**SMALL, absorber_element="Fe")
    members = model[-1].predict_members(t.fit_transform(structures))
    means = np.stack([site_average(m, t.sites_)[0] for m in members])
    std = means.std(axis=0, ddof=1) * model[-1].std_scale_
    np.testing.assert_allclose(read_spectrum(out / "b_std.txt").mu, std[1], rtol=1e-9)
    np.testing.assert_allclose(read_spectrum(out / "b.txt").mu, means.mean(axis=0)[1],
                               rtol=1e-9)
    assert np.all(std > 0)


def test_predict_on_missing_absorber_skip_is_a_cli_flag(tmp_path, ridge_path, capsys):
    xyz = _crystals(tmp_path / "xyz")
    out = tmp_path / "out"
    argv = ["predict", "--model", str(ridge_path), "--xyz", str(xyz), "--output", str(out),
            "--absorber-element", "Fe", "-q"]
    assert main(argv) == 1
    line = error_line(capsys)
    assert "c.xyz" in line and "--on-missing-absorber skip" in line
    assert "on_missing_absorber=" not in line and "absorber_element=" not in line
    assert not out.exists()
    assert main([*argv[:-1], "--on-missing-absorber", "skip"]) == 0
    assert "1 structures without Fe skipped" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.txt")) == ["a.txt", "b.txt"]
    assert main(["predict", "--model", str(ridge_path), "--xyz", str(xyz), "--output",
                 str(tmp_path / "o2"), "--on-missing-absorber", "skip"]) == 1
    assert "--on-missing-absorber applies to --absorber-element" in error_line(capsys)


def test_featurise_on_missing_absorber_skip(tmp_path, capsys):
    xyz = _crystals(tmp_path / "xyz")
    out = tmp_path / "f.npz"
    argv = ["featurise", "--xyz", str(xyz), "--output", str(out), "--n-g2", "8", "--n-g4", "16",
            "--absorber-element", "Fe", "-q"]
    assert main(argv) == 1
    assert "--on-missing-absorber skip" in error_line(capsys)
    assert main([*argv, "--on-missing-absorber", "skip"]) == 0
    assert np.load(out)["names"].tolist() == ["a_0", "a_2", "b_0", "b_2", "b_4", "b_6"]


# ---------------------------------------------------------------- 7: predict --inverse


@pytest.fixture(scope="module")
def inverse_path(tmp_path_factory):
    from xanesnet_sk.inverse import make_inverse_pipeline

    rng = np.random.default_rng(0)
    spectra, targets = rng.normal(size=(24, 30)), rng.normal(size=(24, 3))
    model = make_inverse_pipeline(random_state=0, max_epochs=1, hidden_sizes=(4,),
                                  n_threads=1).fit(spectra, targets)
    path = tmp_path_factory.mktemp("inv") / "inv.joblib"
    joblib.dump(model, path)
    energies = 7100.0 + np.arange(30) / 3.0  # absolute energies, 1/3 eV apart
    path.with_name(path.name + ".json").write_text(json.dumps(
        {"direction": "inverse", "energies": energies.tolist(), "target_names": ["a", "b", "c"]}))
    return path, energies


@pytest.mark.parametrize(("shift", "ok"), [(0.0, True), (0.03, True), (-0.03, True),
                                           (0.036, False), (0.05, False), (-0.05, False)])
def test_predict_inverse_energy_tolerance_is_absolute(tmp_path, inverse_path, shift, ok, capsys):
    """0.1 x the 1/3 eV step = 0.0333 eV, at 7.1 keV as anywhere (a relative tolerance of
    1e-5 would let 0.07 eV through)."""
    from xanesnet_sk.io import write_spectrum

    path, energies = inverse_path
    xanes = tmp_path / "xanes"
    xanes.mkdir()
    shifted = energies.copy()
    shifted[7] += shift  # one point off
    write_spectrum(xanes / "s.txt", shifted, np.ones(30))
    out = tmp_path / "out"
    status = main(["predict", "--inverse", "--model", str(path), "--xanes", str(xanes),
                   "--output", str(out), "-q"])
    if ok:
        assert status == 0 and (out / "descriptors.csv").is_file()
    else:
        assert status == 1
        line = error_line(capsys)
        assert "s.txt" in line and "point 7" in line and "more than 0.0333 eV" in line
        assert not out.exists()


@pytest.mark.parametrize("extra", [["--xyz", "XYZ"], ["--data", "D.npz"], ["--plot"],
                                   ["--absorber-element", "Fe"]])
def test_predict_inverse_refuses_options_it_does_not_use(tmp_path, inverse_path, extra, capsys):
    path, energies = inverse_path
    from xanesnet_sk.io import write_spectrum

    xanes = tmp_path / "xanes"
    xanes.mkdir()
    write_spectrum(xanes / "s.txt", energies, np.ones(30))
    extra = [str(tmp_path / e) if e in ("XYZ", "D.npz") else e for e in extra]
    assert main(["predict", "--inverse", "--model", str(path), "--xanes", str(xanes),
                 "--output", str(tmp_path / "out"), *extra]) == 1
    line = error_line(capsys)
    assert f"{extra[0]} is not used by 'predict --inverse'" in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- 13: signals, leftovers


def _run_script(script, *args, timeout=240):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def test_sigterm_during_predict_plot_cleans_up_like_ctrl_c(tmp_path, ridge_path):
    xyz = _write_molecules(tmp_path / "xyz", [f"m{k}" for k in range(4)])
    out = tmp_path / "new" / "out"
    done = _run_script("""
        import os, signal, sys
        import xanesnet_sk.plots as plots
        real, calls = plots.plot_spectrum, []
        def plot(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:  # two plots written, the third being written
                os.kill(os.getpid(), signal.SIGTERM)
            return real(*args, **kwargs)
        plots.plot_spectrum = plot
        from xanesnet_sk.cli import main
        sys.exit(main(["predict", "--model", sys.argv[1], "--xyz", sys.argv[2], "--output",
                       sys.argv[3], "--plot", "-q"]))
    """, str(ridge_path), str(xyz), str(out))
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip() == "xanesnet-sk predict: terminated (SIGTERM)"
    assert not (tmp_path / "new").exists()  # no partial file, no directory it made


def test_ctrl_c_while_the_command_line_loads_is_one_line(tmp_path):
    """A Ctrl-C during the heavy imports (simulated: importing sklearn raises it)."""
    boom = """
        import sys
        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == "sklearn":
                    raise KeyboardInterrupt
        sys.meta_path.insert(0, CtrlC())
    """
    for start in ("from xanesnet_sk.cli import main\nsys.exit(main(sys.argv[1:]))",  # the script
                  "import runpy\nrunpy.run_module('xanesnet_sk.cli', run_name='__main__')"):
        done = _run_script(textwrap.dedent(boom) + start, "featurise", "--xyz",
                           str(tmp_path), "--output", str(tmp_path / "f.npz"))
        assert done.returncode == 130, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.strip() in ("xanesnet-sk featurise: interrupted",
                                       "xanesnet-sk: interrupted")


def test_the_command_line_loads_without_torch_numpy_or_sklearn():
    done = _run_script("""
        import sys
        import xanesnet_sk.cli
        print(sorted(m for m in ("torch", "numpy", "sklearn", "numba") if m in sys.modules))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_stale_partial_files_of_the_outputs_are_removed(tmp_path, ridge_path):
    xyz = _write_molecules(tmp_path / "xyz", ["m0"])
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [out / f".m0.partial-{dead.pid}.txt", out / f".m0.partial-{dead.pid}.png"]
        kept = [out / f".m0.partial-{alive.pid}.txt",  # a run still going
                out / f".other.partial-{dead.pid}.txt",  # not a name this run writes
                out / f".m0.partial-{dead.pid}.csv"]  # nor this
        for path in stale + kept:
            path.write_text("left over")
        assert main(["predict", "--model", str(ridge_path), "--xyz", str(xyz), "--output",
                     str(out), "--plot", "-q"]) == 0
    finally:
        alive.kill()
        alive.wait()
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert (out / "m0.txt").is_file() and (out / "m0.png").is_file()


def test_a_failed_run_removes_the_directories_it_created(tmp_path, capsys):
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    (xyz / "bad.xyz").write_text("2\n\nFe 0 0 0\n")  # one atom line short
    out = tmp_path / "new" / "deeper" / "f.npz"
    assert main(["featurise", "--xyz", str(xyz), "--output", str(out)]) == 1
    assert "bad.xyz" in error_line(capsys)
    assert not (tmp_path / "new").exists()
    # a directory that was there before is kept, even empty
    (tmp_path / "mine").mkdir()
    assert main(["featurise", "--xyz", str(xyz), "--output", str(tmp_path / "mine" / "f.npz")]) == 1
    assert (tmp_path / "mine").is_dir()


def test_an_existing_sidecar_is_refused_before_any_work(tmp_path, capsys):
    """learn checks MODEL and MODEL.json up front: the sidecar's refusal comes before the
    data are even looked at (here: they do not exist)."""
    out = tmp_path / "m.joblib"
    side = tmp_path / "m.joblib.json"
    side.write_text("{}")
    assert main(["learn", "--data", str(tmp_path / "missing.npz"), "--output", str(out)]) == 1
    line = error_line(capsys)
    assert "m.joblib.json' already exists" in line and "missing.npz" not in line
    assert side.read_text() == "{}" and not out.exists()
    side.unlink()
    assert main(["learn", "--data", str(tmp_path / "missing.npz"), "--output", str(out)]) == 1
    assert "missing.npz" in error_line(capsys)


def test_joblib_and_skops_models_keep_their_own_sidecars(tmp_path):
    pytest.importorskip("skops")
    from xanesnet_sk import make_xanesnet_pipeline
    from xanesnet_sk.cli._common import Reporter
    from xanesnet_sk.cli._data import load_model, save_model

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 5)), rng.normal(size=(20, 6)) + 2
    model = make_xanesnet_pipeline(featurise=False, random_state=0, max_epochs=1,
                                   hidden_sizes=(4,), n_threads=1).fit(X, y)
    quiet = Reporter(quiet=True)
    save_model(tmp_path / "model.joblib", model, {"n_train": 1}, quiet)
    save_model(tmp_path / "model.skops", model, {"n_train": 2}, quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.joblib", "model.joblib.json", "model.skops", "model.skops.json"]
    assert load_model(tmp_path / "model.joblib")[1]["n_train"] == 1
    assert load_model(tmp_path / "model.skops")[1]["n_train"] == 2
    # a model saved before: STEM.json is still read, unless it names the other format
    for name in ("model.joblib.json", "model.skops.json"):
        (tmp_path / name).unlink()
    legacy = tmp_path / "model.json"
    legacy.write_text(json.dumps({"n_train": 3, "model_format": "joblib (pickle)"}))
    assert load_model(tmp_path / "model.joblib")[1]["n_train"] == 3
    assert load_model(tmp_path / "model.skops")[1] == {}


# ---------------------------------------------------------------- 14: partitions


@pytest.mark.parametrize("verb", ["featurise", "predict"])
@pytest.mark.parametrize("size", ["0", "-3", "x"])
def test_partition_size_below_one_is_a_usage_error(tmp_path, verb, size, capsys):
    argv = [verb, "--xyz", str(tmp_path), "--output", str(tmp_path / "o"), "--scheduler",
            "tcp://127.0.0.1:1", "--partition-size", size]
    if verb == "predict":
        argv += ["--model", str(tmp_path / "m.joblib")]
    assert main(argv) == 2
    assert "argument --partition-size:" in error_line(capsys)


# ---------------------------------------------------------------- 8: the scheduler's time


def _bounded(argv, limit):
    """main(argv) in a thread; (status, seconds), failing the test if it runs past ``limit``."""
    result = {}

    def run():
        result["status"] = main(argv)

    start = time.perf_counter()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still waiting after {limit} s"
    return result["status"], time.perf_counter() - start


def test_a_missing_scheduler_file_fails_within_the_timeout(tmp_path, capsys):
    pytest.importorskip("distributed")
    xyz = _write_molecules(tmp_path / "xyz", ["a"])
    missing = tmp_path / "nowhere" / "scheduler.json"
    status, seconds = _bounded(["featurise", "--xyz", str(xyz), "--output",
                                str(tmp_path / "o"), "--scheduler", str(missing)], 60)
    assert status == 1 and 4 < seconds < 40
    line = error_line(capsys)
    assert "scheduler.json" in line and "does not exist (waited 5 s)" in line
    assert not (tmp_path / "o").exists()


def test_another_service_at_the_address_fails_within_the_timeout(tmp_path, capsys):
    """A web server on loopback: it accepts the connection but never speaks Dask."""
    pytest.importorskip("distributed")
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        xyz = _write_molecules(tmp_path / "xyz", ["a"])
        address = f"tcp://127.0.0.1:{server.server_address[1]}"
        status, seconds = _bounded(["featurise", "--xyz", str(xyz), "--output",
                                    str(tmp_path / "o"), "--scheduler", address], 90)
    finally:
        server.shutdown()
        server.server_close()
    assert status == 1 and seconds < 60
    line = error_line(capsys)
    assert f"--scheduler {address}: no Dask scheduler answered within 5 s" in line
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- messages


@pytest.mark.parametrize(("option", "value", "flag"), [("--n-g4", "5", "--n-g4"),
                                                       ("--r-cut", "-1", "--r-cut")])
def test_a_bad_wacsf_value_names_the_option_that_sets_it(tmp_path, option, value, flag, capsys):
    xyz = _write_molecules(tmp_path / "xyz", ["a"])
    assert main(["featurise", "--xyz", str(xyz), "--output", str(tmp_path / "f.npz"), option,
                 value]) == 1
    line = error_line(capsys)
    assert f"(set by {flag}, or the config's wacsf.{flag[2:].replace('-', '_')})" in line
    assert not (tmp_path / "f.npz").exists()


def test_evaluate_sites_with_an_ensemble_writes_the_error_bars(tmp_path, ensemble_path):
    import pandas as pd

    from xanesnet_sk.io import write_spectrum
    from xanesnet_sk.spectra import xanesnet_grid

    xyz = _crystals(tmp_path / "xyz")
    (xyz / "c.xyz").unlink()
    xanes = tmp_path / "xanes"
    xanes.mkdir()
    grid = xanesnet_grid(226)
    for k, name in enumerate(("a", "b")):
        write_spectrum(xanes / f"{name}.txt", grid, 1.0 + 0.1 * k + np.tanh(grid / 10))
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(ensemble_path), "--xyz", str(xyz), "--xanes",
                 str(xanes), "--output", str(out), "--absorber-element", "Fe", "-q"]) == 0
    std = pd.read_csv(out / "std.csv", index_col=0)
    assert std.shape == (2, 226) and list(std.index) == ["a", "b"]
    assert (std.to_numpy() > 0).all() and (out / "calibration.png").stat().st_size > 0
