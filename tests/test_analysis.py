"""Tests of the analyses (xanesnet_sk.analysis), their plots and CLI verbs.

Most use a deterministic ``Ridge`` pipeline on tiny synthetic data (the
analyses take any estimator); a few use the XANESNET net with a handful of
epochs.
"""

import argparse

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xanesnet_sk import analysis
from xanesnet_sk.analysis import plots
from xanesnet_sk.metrics import make_delta_mu_scorer

N_POINTS = 40
ENERGIES = np.linspace(-15, 60, N_POINTS)
NAMES = (
    ["g1"]
    + [f"g2_eta=19.2_mu={m}" for m in (0.5, 1.0, 1.5)]
    + [f"g4_eta=0.5_mu=0_lambda={la}_zeta={z}" for la in (1, -1) for z in (1, 2)]
)


@pytest.fixture(scope="module")
def toy():
    """Spectra depending on features 0-3 only (4-7 are noise the target ignores)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, len(NAMES)))
    X[:, 4:] *= np.array([0.1, 0.5, 2.0, 4.0])  # distinct variances for the variance sweep
    W = rng.normal(size=(4, N_POINTS))
    y = 10.0 + X[:, :4] @ W + 0.01 * rng.normal(size=(150, N_POINTS))
    return X, y


def ridge():
    return make_pipeline(StandardScaler(), Ridge(alpha=1e-3))


def _png(path):
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ names


def test_parse_feature_names():
    table = analysis.parse_feature_names(NAMES + ["x0"])
    assert list(table.columns) == ["feature", "kind", "eta", "mu", "lambda", "zeta"]
    assert table["kind"].tolist() == ["g1"] + ["g2"] * 3 + ["g4"] * 4 + ["other"]
    assert table.loc[2, "mu"] == 1.0 and table.loc[2, "eta"] == 19.2
    assert table.loc[5, "lambda"] == 1 and table.loc[5, "zeta"] == 2
    assert np.isnan(table.loc[1, "zeta"]) and np.isnan(table.loc[8, "eta"])


def test_parse_matches_wacsf_names():
    from wacsf import WACSFTransformer

    names = WACSFTransformer().get_feature_names_out()
    table = analysis.parse_feature_names(names)
    assert (table["kind"].value_counts().to_dict()) == {"g1": 1, "g2": 32, "g4": 64}
    assert sorted(table["zeta"].dropna().unique()) == [1, 2, 4, 8]


# ------------------------------------------------------------------ importance


def test_permutation_importance_used_vs_unused(toy):
    X, y = toy
    model = ridge().fit(X, y)
    table = analysis.permutation_importance_table(
        model, X, y, ENERGIES, feature_names=NAMES, n_repeats=3, random_state=0)
    for col in ("feature", "kind", "eta", "mu", "lambda", "zeta", "window", "importance",
                "importance_std", "baseline_delta_mu", "relative_importance"):
        assert col in table.columns
    assert set(table["window"]) == {"whole", "edge", "post_edge"}
    assert len(table) == 3 * len(NAMES)
    whole = table[table["window"] == "whole"].set_index("feature")["importance"]
    used, unused = whole.iloc[:4], whole.iloc[4:]
    assert (used > 1.0).all()
    assert (unused.abs() < 0.05).all()


def test_importance_window_difference_and_errors(toy):
    X, y = toy
    model = ridge().fit(X, y)
    table = analysis.permutation_importance_table(
        model, X, y, ENERGIES, feature_names=NAMES, n_repeats=2, random_state=0)
    diff = analysis.window_difference(table)
    assert len(diff) == len(NAMES)
    np.testing.assert_allclose(diff["difference"], diff["high"] - diff["low"])
    with pytest.raises(ValueError, match="window 'nope'"):
        analysis.window_difference(table, high="nope")
    with pytest.raises(ValueError, match="holds none"):
        analysis.permutation_importance_table(model, X, y, ENERGIES, windows={"far": (100, 200)})
    with pytest.raises(ValueError, match="energies"):
        analysis.permutation_importance_table(model, X, y, ENERGIES[:-1])


def test_importance_plots(toy, tmp_path):
    X, y = toy
    model = ridge().fit(X, y)
    table = analysis.permutation_importance_table(
        model, X, y, ENERGIES, feature_names=NAMES, n_repeats=2, random_state=0)
    plots.plot_g2_importance(table, path=tmp_path / "g2.png", selected=[NAMES[1]])
    plots.plot_g2_importance(table, distances=np.random.default_rng(0).uniform(1, 6, 500),
                             path=tmp_path / "g2_rdf.png")
    plots.plot_g4_importance(table, path=tmp_path / "g4.png", selected=[NAMES[5]])
    plots.plot_window_difference(analysis.window_difference(table), path=tmp_path / "d.png")
    for name in ("g2.png", "g2_rdf.png", "g4.png", "d.png"):
        _png(tmp_path / name)


def test_importance_featurising_pipeline_and_rdf():
    from wacsf import WACSFTransformer
    from xanesnet_sk.datasets import make_synthetic_xanes

    structures, spectra = make_synthetic_xanes(n_samples=40, n_points=N_POINTS, random_state=0,
                                               return_dataset=False)
    wacsf = WACSFTransformer(n_g2=4, n_g4=8)
    model = make_pipeline(wacsf, StandardScaler(), Ridge(alpha=1.0)).fit(structures, spectra)
    table = analysis.permutation_importance_table(
        model, structures, spectra, ENERGIES, windows={"whole": None}, n_repeats=1,
        random_state=0)
    assert table["feature"].tolist() == list(wacsf.get_feature_names_out())
    rdf = analysis.radial_distances(structures, r_cut=6.0)
    assert rdf["distance"].size == rdf["z"].size > 0
    assert rdf["distance"].min() > 0.5 and rdf["distance"].max() <= 6.0


# ------------------------------------------------------------------ variance sweep


def test_variance_sweep(toy, tmp_path):
    X, y = toy
    csv = tmp_path / "sweep.csv"
    sweep = analysis.variance_sweep(ridge(), X, y, (0, 0.25, 0.5), feature_names=NAMES,
                                    cv=KFold(3), csv_path=csv)
    assert sweep["n_removed"].tolist() == [0, 2, 4]
    assert sweep["relative_performance"].max() == 0
    assert {"fraction", "setting", "n_kept", "n_g2", "n_g4", "score_mean", "score_std",
            "removed"} <= set(sweep.columns)
    # the lowest-variance features go first (columns 4 and 5 here)
    assert sweep.loc[1, "removed"] == ";".join(NAMES[4:6])
    written = pd.read_csv(csv)
    assert len(written) == 3 and "relative_performance" not in written.columns
    np.testing.assert_allclose(written["score_mean"], sweep["score_mean"])
    plots.plot_variance_sweep(sweep, path=tmp_path / "s.png")
    _png(tmp_path / "s.png")


def test_variance_sweep_uses_pipeline_filter(toy):
    from sklearn.feature_selection import VarianceThreshold

    X, y = toy
    model = make_pipeline(VarianceThreshold(), StandardScaler(), Ridge(alpha=1e-3))
    sweep = analysis.variance_sweep(model, X, y, (0, 0.5), cv=KFold(3))
    assert sweep["setting"].str.startswith("threshold=").all()
    assert sweep["n_removed"].tolist() == [0, 4]
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        analysis.variance_sweep(model, X, y, (1.0,))


def test_csv_is_incremental(toy, tmp_path, monkeypatch):
    """An interrupted sweep keeps the rows it finished."""
    from xanesnet_sk.analysis import _sweeps

    X, y = toy
    calls = {"n": 0}
    real = _sweeps.cross_val_score

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_sweeps, "cross_val_score", flaky)
    csv = tmp_path / "sweep.csv"
    with pytest.raises(KeyboardInterrupt):
        analysis.variance_sweep(ridge(), X, y, (0, 0.25, 0.5), cv=KFold(3), csv_path=csv)
    assert pd.read_csv(csv)["fraction"].tolist() == [0, 0.25]


# ------------------------------------------------------------------ select from model


def test_select_from_model_curve(toy, tmp_path):
    X, y = toy
    importances = np.array([5, 4, 3, 2, 0.1, 0.2, 0.0, -0.1])
    csv = tmp_path / "sfm.csv"
    curve = analysis.select_from_model_curve(ridge(), X, y, importances, ks=[2, 4, 6],
                                             feature_names=NAMES, cv=KFold(3), csv_path=csv)
    assert curve["k"].tolist() == [2, 4, 6, 8]
    assert curve.loc[0, "added"] == "g1;g2_eta=19.2_mu=0.5"
    assert curve["relative_performance"].iloc[-1] == 0
    # the four used features recover the baseline; two of them do not
    assert curve.loc[1, "relative_performance"] > -1
    assert curve.loc[0, "relative_performance"] < -10
    assert len(pd.read_csv(csv)) == 4
    series = pd.Series(importances, index=NAMES)
    again = analysis.select_from_model_curve(ridge(), X, y, series, ks=[2], feature_names=NAMES,
                                             cv=KFold(3))
    np.testing.assert_allclose(again["score_mean"], curve["score_mean"].iloc[[0, 3]])
    plots.plot_select_from_model(curve, path=tmp_path / "c.png")
    _png(tmp_path / "c.png")
    with pytest.raises(ValueError, match="importances"):
        analysis.select_from_model_curve(ridge(), X, y, importances[:3], feature_names=NAMES)


# ------------------------------------------------------------------ sequential selection


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_sequential_selection_path(toy, tmp_path, direction):
    from sklearn.feature_selection import SequentialFeatureSelector

    X, y = toy
    csv = tmp_path / "sfs.csv"
    result = analysis.sequential_selection(ridge(), X, y, direction=direction,
                                           n_features_to_select=4, feature_names=NAMES,
                                           cv=KFold(3), csv_path=csv)
    path = result["path"]
    assert sorted(result["selected"]["feature"]) == sorted(NAMES[:4])
    # the same selection as SequentialFeatureSelector on its own
    plain = SequentialFeatureSelector(ridge(), n_features_to_select=4, direction=direction,
                                      cv=KFold(3), scoring=make_delta_mu_scorer()).fit(X, y)
    np.testing.assert_array_equal(plain.get_support(), result["support"])
    assert len(path) == 4
    assert path["n_features"].tolist() == ([1, 2, 3, 4] if direction == "forward"
                                           else [7, 6, 5, 4])
    if direction == "backward":
        assert set(path["feature"]) == set(NAMES[4:])
    assert {"step", "action", "kind", "mu", "score_mean", "score_std"} <= set(path.columns)
    pd.testing.assert_frame_equal(pd.read_csv(csv)[["step", "feature"]], path[["step", "feature"]])
    plots.plot_sequential_selection({direction: path}, baseline=-0.1,
                                         path=tmp_path / "p.png")
    _png(tmp_path / "p.png")


def test_sequential_selection_rejects_duplicate_columns(toy):
    X, y = toy
    X = np.column_stack([X, X[:, 0]])
    with pytest.raises(ValueError, match="identical columns"):
        analysis.sequential_selection(ridge(), X, y, n_features_to_select=2, cv=KFold(2))


def test_sequential_selection_xanesnet(toy):
    """The skorch net inside SFS (few epochs, seeded: re-scores are SFS's own numbers)."""
    from xanesnet_sk.pipeline import make_xanesnet_pipeline

    X, y = toy
    model = make_xanesnet_pipeline(featurise=False, random_state=0, variance_drop=None,
                                   hidden_sizes=(8,), max_epochs=2, batch_size=64)
    result = analysis.sequential_selection(model, X[:60, :3], y[:60], n_features_to_select=1,
                                           cv=KFold(2))
    assert len(result["path"]) == 1 and result["support"].sum() == 1
    assert np.isfinite(result["path"]["score_mean"]).all()


# ------------------------------------------------------------------ wACSF search


def test_wacsf_search_synthetic(tmp_path):
    from wacsf import WACSFTransformer
    from xanesnet_sk.datasets import make_synthetic_xanes

    structures, spectra = make_synthetic_xanes(n_samples=40, n_points=N_POINTS, random_state=0,
                                               return_dataset=False)
    pipe = make_pipeline(WACSFTransformer(), StandardScaler(), Ridge(alpha=1.0))
    csv = tmp_path / "w.csv"
    out = analysis.wacsf_search(pipe, structures, spectra,
                                {"n_g2": [8, 16], "n_g4": [8]}, cv=KFold(2), csv_path=csv)
    assert out["n_g2"].tolist() == [8, 16] and out["n_features"].tolist() == [17, 25]
    assert out["relative_performance"].max() == 0
    assert len(pd.read_csv(csv)) == 2
    studies = analysis.WACSF_STUDIES
    assert {"g2_scheme", "g4_scheme", "g2_g4_split", "zeta_max"} <= set(studies)
    for grid in studies["g2_g4_split"]:
        assert grid["n_g2"][0] + grid["n_g4"][0] == 96
    plots.plot_wacsf_search(out, path=tmp_path / "w.png")
    _png(tmp_path / "w.png")
    with pytest.raises(ValueError, match="unknown wACSF study"):
        analysis.wacsf_search(pipe, structures, spectra, "nope")
    with pytest.raises(ValueError, match="no WACSFTransformer"):
        analysis.wacsf_search(ridge(), structures, spectra, "zeta_max")


@pytest.mark.slow
def test_wacsf_studies_run_on_synthetic():
    from wacsf import WACSFTransformer
    from xanesnet_sk.datasets import make_synthetic_xanes

    structures, spectra = make_synthetic_xanes(n_samples=60, random_state=1,
                                               return_dataset=False)
    pipe = make_pipeline(WACSFTransformer(), StandardScaler(), Ridge(alpha=1.0))
    for study in analysis.WACSF_STUDIES:
        out = analysis.wacsf_search(pipe, structures, spectra, study, cv=KFold(3))
        assert np.isfinite(out["score_mean"]).all()


# ------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory):
    from wacsf import WACSFTransformer
    from xanesnet_sk.datasets import make_synthetic_xanes, save_dataset

    root = tmp_path_factory.mktemp("cli")
    ds = make_synthetic_xanes(n_samples=40, random_state=0)
    save_dataset(root / "structures.npz", ds)
    wacsf = WACSFTransformer(n_g2=6, n_g4=8)
    np.savez(root / "features.npz", x=wacsf.fit_transform(ds.structures), y=ds.spectra,
             energies=ds.energies, feature_names=wacsf.get_feature_names_out().astype(str))
    (root / "tiny.yaml").write_text("model:\n  hidden_sizes: [8]\n  batch_size: 64\n")
    return root


def _main(argv):
    """Run a verb through the real CLI when it is there, else on a throwaway parser."""
    try:
        from xanesnet_sk.cli import build_parser, main
    except ImportError:  # pragma: no cover - cli.py not there yet
        main = None
    if main is not None and "importance" in build_parser()._subparsers._group_actions[0].choices:
        return main(argv)
    from xanesnet_sk.cli._analysis import add_analysis_commands
    from xanesnet_sk.cli._common import Reporter

    parser = argparse.ArgumentParser()
    add_analysis_commands(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(argv)
    return args.func(args, Reporter(quiet=True))


TINY = ["--config", "tiny.yaml", "--epochs", "1", "-q"]
CASES = {
    "importance": (["--data", "structures.npz", "--model", "ridge", "--n-repeats", "1", "-q"],
                   ["importance.csv", "importance_g2.png", "importance_g4.png",
                    "importance_window_difference.csv", "importance_window_difference.png"]),
    "variance-sweep": (["--data", "features.npz", "--folds", "2", "--repeats", "1",
                        "--fractions", "0,0.5"] + TINY,
                       ["variance_sweep.csv", "variance_sweep.png"]),
    "select-from-model": (["--data", "features.npz", "--model", "ridge", "--folds", "2",
                           "--repeats", "1", "--fractions", "0.5,1", "--n-repeats", "1", "-q"],
                          ["importance.csv", "select_from_model.csv", "select_from_model.png"]),
    "sfs": (["--data", "features.npz", "--model", "ridge", "--n-features", "2", "--folds", "2",
             "--direction", "both", "-q"],
            ["sfs_forward.csv", "sfs_backward.csv", "sfs_forward_selected.csv", "sfs.png"]),
    "wacsf-search": (["--data", "structures.npz", "--model", "ridge", "--folds", "2",
                      "--repeats", "1", "--study", "zeta_max", "-q"],
                     ["wacsf_zeta_max.csv", "wacsf_zeta_max.png"]),
}


@pytest.mark.parametrize("verb", list(CASES))
def test_cli_verbs(cli_data, monkeypatch, verb):
    monkeypatch.chdir(cli_data)
    argv, files = CASES[verb]
    out = cli_data / f"out_{verb}"
    assert _main([verb, *argv, "--output", str(out)]) in (0, None)
    for name in files:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".csv"):
            assert len(pd.read_csv(path)) > 0
        else:
            _png(path)


def test_cli_wacsf_search_needs_structures(cli_data, monkeypatch, capsys):
    from xanesnet_sk.cli._common import CLIError

    monkeypatch.chdir(cli_data)
    argv = ["wacsf-search", "--data", "features.npz", "--model", "ridge", "--output", "o", "-q"]
    try:
        status = _main(argv)
    except CLIError as exc:
        assert "needs structures" in str(exc)
    else:
        assert status == 1 and "needs structures" in capsys.readouterr().err


# ------------------------------------------------------------------ real data


@pytest.mark.data
def test_real_v_set_importance_names(data_root):
    """The V set's 97 columns get the paper's wACSF names; a quick ridge importance runs."""
    from wacsf import WACSFTransformer

    with np.load(data_root / "tmqm_k_edge_v.npz") as npz:
        X, y = npz["x"][:300], npz["y"][:300]
    names = WACSFTransformer().get_feature_names_out()
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X, y)
    table = analysis.permutation_importance_table(
        model, X, y, np.linspace(-15, 60, 226), feature_names=names, n_repeats=1, random_state=0)
    whole = table[table["window"] == "whole"]
    assert len(whole) == 97 and whole["importance"].max() > 0


@pytest.mark.data
def test_real_fe_set_radial_distribution(data_root):
    from wacsf import read_structures

    structures = read_structures(sorted((data_root / "fe_k_edge" / "xyz").glob("*.xyz"))[:20])
    rdf = analysis.radial_distances(structures)
    # first coordination shell of Fe: nothing closer than ~1.4 A (hydrides ~1.5)
    assert 1.3 < rdf["distance"].min() < 2.2


def test_cli_absolute_energies_are_shifted_to_the_edge():
    from xanesnet_sk.cli._analysis import _relative_energies
    from xanesnet_sk.cli._common import CLIError, Reporter
    from xanesnet_sk.cli._data import CLIData

    grid = 7112.0 + np.linspace(-15, 60, 226)
    data = CLIData(None, None, grid, [], "structures", "test")
    np.testing.assert_allclose(_relative_energies(data, Reporter(quiet=True)),
                               np.linspace(-15, 60, 226), atol=1e-9)
    data.energies = np.linspace(7000, 7100, 50)
    with pytest.raises(CLIError, match="absolute"):
        _relative_energies(data, Reporter(quiet=True))


def test_cli_edge_energy_from_the_files_reaches_the_analysis(tmp_path):
    """An E0 read from the spectrum headers (or an npz 'e0') sets the windows' origin."""
    from xanesnet_sk.cli._analysis import _relative_energies
    from xanesnet_sk.cli._common import Reporter
    from xanesnet_sk.cli._data import _from_dataset, _load_npz
    from xanesnet_sk.datasets import XanesDataset

    energies = np.linspace(7000, 7100, 50)  # absolute, not XANESNET's 226-point layout
    dataset = XanesDataset(spectra=np.ones((2, 50)), energies=energies, names=["a", "b"],
                           features=np.ones((2, 3)), e0=np.array([7050.0, 7050.0]))
    data = _from_dataset(dataset, "test")
    np.testing.assert_allclose(_relative_energies(data, Reporter(quiet=True)), energies - 7050)

    path = tmp_path / "features.npz"
    np.savez(path, x=np.ones((2, 3)), y=np.ones((2, 50)), energies=energies,
             e0=np.array([7040.0, 7040.0]))
    data = _load_npz(path)
    np.testing.assert_allclose(_relative_energies(data, Reporter(quiet=True)), energies - 7040)
