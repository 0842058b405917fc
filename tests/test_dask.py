"""wacsf.dask and xanesnet_sk.dask on a real 2-process LocalCluster, against local results."""

import numpy as np
import pytest
from ase.build import bulk, molecule

from wacsf import WACSFTransformer

distributed = pytest.importorskip("distributed", reason='needs pip install ".[dask]"')
da = pytest.importorskip("dask.array")

SMALL = dict(n_g2=8, n_g4=16)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def _structures():
    names = ["H2O", "CH4", "NH3", "C2H6", "CO2", "CH3CH2OH", "C6H6"]
    return [molecule(n) for n in names * 3]


def test_featurise_matches_local_in_input_order(client, tmp_path):
    import ase.io

    import wacsf.dask

    structures = _structures()
    t = WACSFTransformer(**SMALL)
    local = t.fit_transform(structures)
    lazy = wacsf.dask.featurise(structures, t, partition_size=4)
    assert lazy.numblocks == (6, 1) and np.isnan(lazy.shape[0])
    np.testing.assert_array_equal(lazy.compute(), local)
    # paths, partitioned by the function; and a bag built by the user
    paths = []
    for k, atoms in enumerate(structures):
        paths.append(str(tmp_path / f"m{k:02d}.xyz"))
        ase.io.write(paths[-1], atoms, format="xyz")
    np.testing.assert_allclose(wacsf.dask.featurise(paths, t, npartitions=3).compute(), local,
                               rtol=1e-12)
    np.testing.assert_allclose(wacsf.dask.featurise(str(tmp_path), t).compute(), local,
                               rtol=1e-12)
    import dask.bag as db

    bag = db.from_sequence(structures, npartitions=2)
    np.testing.assert_array_equal(wacsf.dask.featurise(bag, t).compute(), local)


def test_featurise_sites_of_crystals(client):
    import wacsf.dask

    crystals = [bulk("FeO", "rocksalt", a=4.3 + 0.01 * k).repeat((2, 1, 1)) for k in range(5)]
    t = WACSFTransformer(absorber_element="Fe", **SMALL)
    np.testing.assert_array_equal(
        wacsf.dask.featurise(crystals, t, partition_size=2).compute(), t.fit_transform(crystals))


def test_a_failing_partition_is_named(client):
    import wacsf.dask

    structures = _structures()
    structures[9].positions[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"partition 2 \(input structures 8-11\): structure 9 "
                                         r"has NaN"):
        wacsf.dask.featurise(structures, WACSFTransformer(**SMALL), partition_size=4).compute()


# ---------------------------------------------------------------- without a cluster


@pytest.mark.parametrize("structure", [0, 3, 4, 17, 20])
def test_an_error_names_the_structure_by_its_input_index(structure):
    """Input item 17 (the second of partition 4) is "structure 17", not "structure 1"; the
    first and last of a partition and of the input are the boundaries."""
    import wacsf.dask

    structures = _structures()
    structures[structure].positions[0, 0] = np.nan
    k = structure // 4
    lazy = wacsf.dask.featurise(structures, WACSFTransformer(**SMALL), partition_size=4)
    last = min(4 * k + 3, 20)
    with pytest.raises(ValueError, match=rf"^partition {k} \(input structures {4 * k}-{last}\): "
                                         rf"structure {structure} has NaN"):
        lazy.compute(scheduler="synchronous")


def test_an_error_in_a_users_bag_names_the_partition():
    import dask.bag as db

    import wacsf.dask

    structures = _structures()
    structures[5].positions[0, 0] = np.nan
    bag = db.from_sequence(structures, partition_size=4)  # offsets are the user's
    with pytest.raises(ValueError, match=r"^partition 1: structure 1 has NaN"):
        wacsf.dask.featurise(bag, WACSFTransformer(**SMALL)).compute(scheduler="synchronous")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_partition_size_below_one_is_refused(bad):
    import wacsf.dask
    import xanesnet_sk.dask

    with pytest.raises(ValueError, match=r"partition_size must be an integer >= 1, got "):
        wacsf.dask.as_bag(_structures(), partition_size=bad)
    with pytest.raises(ValueError, match=r"partition_size must be an integer >= 1"):
        wacsf.dask.featurise(_structures(), WACSFTransformer(**SMALL), partition_size=bad)
    with pytest.raises(ValueError, match=r"npartitions must be an integer >= 1, got "):
        wacsf.dask.as_bag(_structures(), npartitions=bad if bad is not None else 0)
    from sklearn.dummy import DummyRegressor

    fitted = DummyRegressor().fit(np.zeros((2, 1)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"partition_size must be an integer >= 1"):
        xanesnet_sk.dask.predict(fitted, _structures(), partition_size=bad)


@pytest.mark.parametrize(("npartitions", "size", "expected"),
                         [(None, 1, 21), (None, 21, 1), (None, 22, 1), (None, 20, 2), (1, 5, 1),
                          (3, 1, 3), (21, 1, 21), (40, 1, 21), (4, 1, 4)])
def test_partition_counts(npartitions, size, expected):
    import wacsf.dask

    bag = wacsf.dask.as_bag(_structures(), npartitions=npartitions, partition_size=size)
    sizes = [len(part.compute(scheduler="synchronous")) for part in bag.to_delayed()]
    assert bag.npartitions == len(sizes) == expected
    assert sum(sizes) == 21 and sizes[:-1] == [sizes[0]] * (len(sizes) - 1)  # full but the last


def test_paths_are_made_absolute(tmp_path, monkeypatch):
    import ase.io

    import wacsf.dask

    (tmp_path / "xyz").mkdir()
    for name in ("a", "b"):
        ase.io.write(tmp_path / "xyz" / f"{name}.xyz", molecule("H2O"), format="xyz")
    monkeypatch.chdir(tmp_path)
    expected = [str(tmp_path / "xyz" / "a.xyz"), str(tmp_path / "xyz" / "b.xyz")]
    for given in ("xyz", ["xyz/a.xyz", "xyz/b.xyz"]):
        assert wacsf.dask.as_bag(given).compute(scheduler="synchronous") == expected


def _ridge_ensemble():
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from xanesnet_sk import DeepEnsembleRegressor, make_synthetic_xanes

    data = make_synthetic_xanes(n_samples=30, random_state=0)
    model = make_pipeline(WACSFTransformer(**SMALL),
                          DeepEnsembleRegressor(Ridge(), n_ensemble=3, bootstrap=True,
                                                random_state=0, n_jobs=1))
    return model.fit(data.structures, data.spectra), data


def test_predict_takes_a_fitted_ensemble():
    import xanesnet_sk.dask

    model, data = _ridge_ensemble()
    lazy = xanesnet_sk.dask.predict(model, data.structures[:9], partition_size=4)
    assert lazy.numblocks == (3, 1)
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous"),
                               model.predict(data.structures[:9]), rtol=1e-12, atol=1e-12)


def test_predict_takes_an_ensemble_of_nets_and_knows_its_output_size():
    import xanesnet_sk.dask
    from xanesnet_sk import make_synthetic_xanes, make_xanesnet_pipeline

    data = make_synthetic_xanes(n_samples=30, random_state=0)
    model = make_xanesnet_pipeline(random_state=0, max_epochs=1, hidden_sizes=(8,), n_threads=1,
                                   wacsf_params=SMALL, n_ensemble=2, n_jobs=1)
    model.fit(data.structures, data.spectra)
    lazy = xanesnet_sk.dask.predict(model, data.structures[:5], partition_size=5)
    assert lazy.shape[1] == data.spectra.shape[1]
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous"),
                               model.predict(data.structures[:5]), rtol=1e-5, atol=1e-6)


def test_predict_refuses_an_unfitted_model():
    import xanesnet_sk.dask
    from xanesnet_sk import make_xanesnet_pipeline

    with pytest.raises(ValueError, match="predict needs a fitted model"):
        xanesnet_sk.dask.predict(make_xanesnet_pipeline(n_ensemble=2), _structures())


def _weights_dying_once(marker):
    """Z as weights, but the first call anywhere kills its worker process."""
    def weights(z):
        import os

        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker dies mid-task, as on a lost node
        return np.asarray(z, dtype=float)
    return weights


def test_a_worker_that_dies_is_retried_and_the_result_is_complete(client, tmp_path):
    import wacsf.dask

    structures = _structures()
    local = WACSFTransformer(**SMALL).fit_transform(structures)
    t = WACSFTransformer(**SMALL, weights=_weights_dying_once(str(tmp_path / "died")))
    lazy = wacsf.dask.featurise(structures, t, partition_size=4)
    result = lazy.compute()
    assert (tmp_path / "died").exists()  # a worker did die
    assert result.shape == local.shape  # no partition lost
    np.testing.assert_array_equal(result, local)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the tests after


@pytest.fixture(scope="module")
def fitted():
    from xanesnet_sk import make_synthetic_xanes, make_xanesnet_pipeline

    data = make_synthetic_xanes(n_samples=60, random_state=0)
    model = make_xanesnet_pipeline(random_state=0, max_epochs=3, hidden_sizes=(16,),
                                   n_threads=1, wacsf_params=SMALL)
    return model.fit(data.structures, data.spectra), data


def test_predict_matches_local(client, fitted):
    import xanesnet_sk.dask

    model, data = fitted
    lazy = xanesnet_sk.dask.predict(model, data.structures[:25], partition_size=10)
    # the net runs in float32, whose rounding depends on the batch: compare with the
    # same partitions predicted here (exactly), and with one batch (closely)
    here = np.concatenate([model.predict(data.structures[k:min(k + 10, 25)])
                           for k in range(0, 25, 10)])
    got = lazy.compute()
    np.testing.assert_array_equal(got, here)
    np.testing.assert_allclose(got, model.predict(data.structures[:25]), rtol=1e-4, atol=1e-5)
    crystals = [bulk("FeO", "rocksalt", a=4.3).repeat((2, 1, 1))] * 3
    from xanesnet_sk import predict_site_spectra

    sites = xanesnet_sk.dask.predict(model, crystals, partition_size=2, absorber_element="Fe")
    here = np.concatenate([predict_site_spectra(model, crystals[k:k + 2], "Fe").spectra
                           for k in (0, 2)])
    np.testing.assert_array_equal(sites.compute(), here)


def test_grid_search_on_the_cluster_gives_the_local_scores(client, fitted):
    import joblib
    from sklearn.model_selection import GridSearchCV, KFold

    from xanesnet_sk import make_xanesnet_pipeline

    _, data = fitted
    pipe = make_xanesnet_pipeline(random_state=0, max_epochs=3, hidden_sizes=(16,),
                                  n_threads=1, wacsf_params=SMALL)
    grid = {"wacsf__n_g2": [4, 8], "model__regressor__lr": [1e-3, 3e-3]}
    cv = KFold(3, shuffle=True, random_state=0)
    local = GridSearchCV(pipe, grid, cv=cv, n_jobs=1).fit(data.structures, data.spectra)
    with joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(pipe, grid, cv=cv, n_jobs=-1).fit(data.structures, data.spectra)
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_


def test_cli_featurise_and_predict_on_the_cluster(client, fitted, tmp_path, capsys):
    import ase.io
    import joblib

    from xanesnet_sk.cli import main
    from xanesnet_sk.io import read_spectrum

    model, data = fitted
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    for k, atoms in enumerate(data.structures[:7]):
        ase.io.write(xyz / f"s{k}.xyz", atoms, format="xyz")
    address = client.scheduler.address
    out = tmp_path / "parts"
    assert main(["featurise", "--xyz", str(xyz), "--output", str(out), "--scheduler", address,
                 "--partition-size", "3", "--n-g2", "8", "--n-g4", "16", "-q"]) == 0
    parts = sorted(out.glob("part-*.npz"))
    assert [p.name for p in parts] == ["part-00000.npz", "part-00001.npz", "part-00002.npz"]
    x = np.concatenate([np.load(p)["x"] for p in parts])
    names = np.concatenate([np.load(p)["names"] for p in parts])
    assert names.tolist() == [f"s{k}" for k in range(7)]
    np.testing.assert_allclose(x, WACSFTransformer(**SMALL).fit_transform(data.structures[:7]),
                               rtol=1e-12)
    # a second run refuses to overwrite the parts
    assert main(["featurise", "--xyz", str(xyz), "--output", str(out), "--scheduler", address,
                 "--partition-size", "3", "-q"]) == 1
    assert "already exists" in capsys.readouterr().err
    # predict on the cluster writes what a local predict writes
    model_path = tmp_path / "m.joblib"
    joblib.dump(model, model_path)
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main(["predict", "--model", str(model_path), "--xyz", str(xyz), "--output",
                 str(local), "-q"]) == 0
    assert main(["predict", "--model", str(model_path), "--xyz", str(xyz), "--output",
                 str(remote), "--scheduler", address, "--partition-size", "2", "-q"]) == 0
    for k in range(7):  # float32 net, other batches: equal to its rounding
        np.testing.assert_allclose(read_spectrum(remote / f"s{k}.txt").mu,
                                   read_spectrum(local / f"s{k}.txt").mu, rtol=1e-4, atol=1e-5)


def _tree(folder):
    """{relative path: bytes} of every file under ``folder``."""
    from pathlib import Path

    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_cli_predict_on_the_cluster_writes_what_a_local_run_writes(client, tmp_path):
    """An ensemble (error bars) with --absorber-element (site files): the same files, byte
    for byte, as a local run, from partitions of one structure."""
    import ase.io
    import joblib
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from xanesnet_sk import DeepEnsembleRegressor, make_synthetic_xanes
    from xanesnet_sk.cli import main

    data = make_synthetic_xanes(n_samples=30, random_state=0)
    model = make_pipeline(WACSFTransformer(**SMALL),
                          DeepEnsembleRegressor(Ridge(), n_ensemble=3, bootstrap=True,
                                                random_state=0, n_jobs=1))
    path = tmp_path / "ens.joblib"
    joblib.dump(model.fit(data.structures, data.spectra), path)
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    ase.io.write(xyz / "a.extxyz", bulk("FeO", "rocksalt", a=4.3).repeat((2, 1, 1)))
    ase.io.write(xyz / "b.extxyz", bulk("FeO", "rocksalt", a=4.35).repeat((2, 2, 1)))
    for k, atoms in enumerate(data.structures[:2]):
        ase.io.write(xyz / f"s{k}.xyz", atoms, format="xyz")
    address = client.scheduler.address
    for extra in ([], ["--absorber-element", "Fe", "--plot"]):
        local, remote = tmp_path / f"local{len(extra)}", tmp_path / f"remote{len(extra)}"
        base = ["predict", "--model", str(path), "--xyz", str(xyz), "-q", *extra]
        assert main([*base, "--output", str(local)]) == 0
        assert main([*base, "--output", str(remote), "--scheduler", address,
                     "--partition-size", "1"]) == 0
        files = _tree(local)
        assert "a_std.txt" in files
        if extra:
            assert {"sites/a_0.txt", "sites/a_2_std.txt", "sites/b_6.txt"} <= set(files)
            assert "a.png" in files
        assert _tree(remote) == files


def test_cli_featurise_on_the_cluster_sends_absolute_paths(client, tmp_path, monkeypatch):
    import ase.io

    from xanesnet_sk.cli import main

    xyz = tmp_path / "rel" / "xyz"
    xyz.mkdir(parents=True)
    for k, name in enumerate(["H2O", "CH4", "NH3"]):
        ase.io.write(xyz / f"m{k}.xyz", molecule(name), format="xyz")
    monkeypatch.chdir(tmp_path)  # the workers' working directory is not this one
    assert main(["featurise", "--xyz", "rel/xyz", "--output", "parts", "--scheduler",
                 client.scheduler.address, "--partition-size", "2", "--n-g2", "8", "--n-g4",
                 "16", "-q"]) == 0
    parts = sorted((tmp_path / "parts").glob("part-*.npz"))
    assert [np.load(p)["names"].tolist() for p in parts] == [["m0", "m1"], ["m2"]]
    local = WACSFTransformer(**SMALL).fit_transform(
        [molecule(n) for n in ("H2O", "CH4", "NH3")])
    np.testing.assert_allclose(np.concatenate([np.load(p)["x"] for p in parts]), local,
                               rtol=1e-12)


def test_cli_scheduler_that_does_not_answer_fails_fast(tmp_path, capsys):
    import socket
    import time

    from xanesnet_sk.cli import main

    with socket.socket() as sock:  # a free local port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    xyz = tmp_path / "xyz"
    xyz.mkdir()
    (xyz / "a.xyz").write_text("2\n\nFe 0 0 0\nO 0 0 1.6\n")
    start = time.perf_counter()
    assert main(["featurise", "--xyz", str(xyz), "--output", str(tmp_path / "o"),
                 "--scheduler", f"tcp://127.0.0.1:{port}", "-q"]) == 1
    assert time.perf_counter() - start < 30
    err = capsys.readouterr().err.strip()
    assert "no Dask scheduler answered" in err and "\n" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# ---------------------------------------------------------------- screening on the cluster


@pytest.fixture(scope="module")
def screening(tmp_path_factory):
    """60 synthetic complexes as files, a trajectory and a database; a 1-nearest-neighbour
    model on their wACSF saved for the CLI; a simulated measurement of one as XDI."""
    pytest.importorskip("larch", reason='screening normalises with xraylarch (".[experiment]")')
    import ase.db
    import ase.io
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline

    from xanesnet_sk import make_synthetic_xanes
    from xanesnet_sk.cli._common import Reporter
    from xanesnet_sk.cli._data import save_model
    from xanesnet_sk.measured import simulate_measurement
    from xanesnet_sk.spectra import xanesnet_grid

    grid = xanesnet_grid()
    ds = make_synthetic_xanes(60, random_state=3)
    wacsf = WACSFTransformer(n_jobs=1)
    knn = KNeighborsRegressor(n_neighbors=1).fit(wacsf.transform(ds.structures), ds.spectra)
    root = tmp_path_factory.mktemp("screen_dask")
    (root / "xyz").mkdir()
    for name, atoms in zip(ds.names, ds.structures):
        ase.io.write(root / "xyz" / f"{name}.xyz", atoms)
    ase.io.write(root / "c.traj", ds.structures)
    db = ase.db.connect(root / "c.db")
    for name, atoms in zip(ds.names, ds.structures):
        db.write(atoms, name=name)
    m = simulate_measurement(grid, ds.spectra[5], e0=7115.0, width=1.5, noise=0.01,
                             random_state=5)
    lines = ["# XDI/1.0", "# Column.1: energy eV", "# Column.2: mu", "# Element.symbol: Fe",
             "#----", "# energy mu"] + [f"{e:.3f} {v:.8g}" for e, v in zip(m.energies, m.mu)]
    (root / "m.xdi").write_text("\n".join(lines) + "\n")
    save_model(root / "knn.joblib", make_pipeline(wacsf, knn),
               {"energies": grid, "n_points": grid.size}, Reporter(quiet=True))
    return root, ds, wacsf, knn, m


@pytest.mark.parametrize("source", ["atoms", "xyz", "c.traj", "c.db"])
def test_screen_on_the_cluster_is_the_local_screen(client, screening, source):
    import xanesnet_sk.dask
    from xanesnet_sk import screen

    root, ds, wacsf, knn, m = screening
    candidates = ds.structures if source == "atoms" else root / source
    options = dict(e0=7115.0, wacsf=wacsf, broadening=1.5, chunk_size=8, top_k=3)
    local = screen(knn, candidates, m, **options)
    # partitions of 16 (multiples of the chunk), one or two in flight at a time; and of 20
    for size, in_flight in ((16, 2), (20, None)):
        remote = xanesnet_sk.dask.screen(knn, candidates, m, client=client,
                                         partition_size=size, max_in_flight=in_flight,
                                         **options)
        assert remote.ranking.to_csv() == local.ranking.to_csv()
        np.testing.assert_array_equal(remote.top_spectra, local.top_spectra)
    assert local.ranking["index"].iloc[0] == 5
    if source == "c.db":  # every Fe site of a candidate averaged, on the cluster too
        options["absorber_element"] = "Fe"
        local = screen(knn, candidates, m, **options)
        remote = xanesnet_sk.dask.screen(knn, candidates, m, client=client, partition_size=24,
                                         **options)
        assert remote.ranking.to_csv() == local.ranking.to_csv()
        assert (local.ranking["n_sites"] >= 1).all()


def test_screen_on_the_cluster_refuses_what_a_local_screen_refuses(client, screening,
                                                                    tmp_path, monkeypatch):
    import xanesnet_sk.dask
    from xanesnet_sk import screen

    root, ds, wacsf, knn, m = screening
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    for run in (screen, xanesnet_sk.dask.screen):
        extra = {} if run is screen else {"client": client}
        with pytest.raises(ValueError, match=r"^empty: no structure files"):
            run(knn, "empty", m, e0=7115.0, wacsf=wacsf, **extra)
        with pytest.raises(FileNotFoundError, match="missing: no such file or directory"):
            run(knn, "missing", m, e0=7115.0, wacsf=wacsf, **extra)
    no_fe = ds.structures[1].copy()
    no_fe.numbers[no_fe.numbers == 26] = 27
    no_fe.info["name"] = "cobalt_one"
    with pytest.raises(ValueError, match=r"candidate cobalt_one .*absorbing atom 0 is Co.*Fe"):
        xanesnet_sk.dask.screen(knn, [*ds.structures[:5], no_fe], m, client=client, e0=7115.0,
                                wacsf=wacsf, element="Fe", partition_size=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'broaden'"):
        xanesnet_sk.dask.screen(knn, ds.structures, m, client=client, broaden=1.5)
    with pytest.raises(ValueError, match="partition_size must be an integer >= 1"):
        xanesnet_sk.dask.screen(knn, ds.structures, m, client=client, partition_size=0,
                                wacsf=wacsf)


def test_cli_screen_on_the_cluster_writes_what_a_local_run_writes(client, screening, tmp_path,
                                                                    capsys):
    from xanesnet_sk.cli import main

    root = screening[0]
    base = ["screen", "--model", str(root / "knn.joblib"), "--candidates", str(root / "xyz"),
            "--measured", str(root / "m.xdi"), "--e0", "7115", "--broadening", "1.5",
            "--chunk-size", "8", "-q"]
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main([*base, "--output", str(local)]) == 0
    assert main([*base, "--output", str(remote), "--scheduler", client.scheduler.address,
                 "--partition-size", "16"]) == 0
    files = _tree(local)
    assert set(files) == {"ranking.csv", "top_candidates.png", "measured.txt"}
    assert _tree(remote) == files  # byte for byte
    # a candidate without the absorbing element: the local run's error, nothing written
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("synthetic_00000.xyz", "synthetic_00001.xyz"):
        (bad / name).write_bytes((root / "xyz" / name).read_bytes())
    (bad / "zz_water.xyz").write_text("3\n\nO 0 0 0\nH 0 0.76 0.59\nH 0 -0.76 0.59\n")
    args = ["screen", "--model", str(root / "knn.joblib"), "--candidates", str(bad),
            "--measured", str(root / "m.xdi"), "--e0", "7115", "-q"]
    assert main([*args, "--output", str(tmp_path / "o1")]) == 1
    err_local = capsys.readouterr().err
    assert main([*args, "--output", str(tmp_path / "o2"), "--scheduler",
                 client.scheduler.address, "--partition-size", "1"]) == 1
    err_remote = capsys.readouterr().err
    assert "candidate zz_water" in err_local and err_local.count("\n") == 1
    assert err_remote == err_local
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
