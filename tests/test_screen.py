"""Screening candidates against a measured spectrum: xanesnet_sk.screen and ``screen``."""

import numpy as np
import pytest
from ase.build import molecule
from sklearn.neighbors import KNeighborsRegressor

from wacsf import WACSFTransformer
from xanesnet_sk import make_synthetic_xanes, screen
from xanesnet_sk.measured import simulate_measurement
from xanesnet_sk.spectra import xanesnet_grid

larch = pytest.importorskip("larch", reason="screening normalises with xraylarch "
                                            "(pip install 'xanesnet-sk[experiment]')")

GRID = xanesnet_grid()
N = 60


@pytest.fixture(scope="module")
def setup():
    """60 synthetic complexes, and a 1-nearest-neighbour model on their wACSF (in-sample:
    each structure's prediction is its own computed spectrum, so ranks test the measurement
    side: reading, normalisation, alignment, broadening, scoring)."""
    ds = make_synthetic_xanes(N, random_state=3)
    wacsf = WACSFTransformer(n_jobs=1)
    model = KNeighborsRegressor(n_neighbors=1).fit(wacsf.transform(ds.structures), ds.spectra)
    return ds, wacsf, model


def _measure(ds, i, **kw):
    params = dict(e0=7112.0 + 3.0, width=1.5, noise=0.01, random_state=i)
    params.update(kw)
    return simulate_measurement(GRID, ds.spectra[i], **params)


def test_true_structure_ranks_first_among_59_decoys(setup):
    ds, wacsf, model = setup
    ranks = []
    for i in range(0, N, 6):
        result = screen(model, ds.structures, _measure(ds, i), e0=7115.0, wacsf=wacsf,
                        broadening=1.5)
        ranks.append(int(result.ranking.loc[result.ranking["index"] == i, "rank"].iloc[0]))
    assert sum(r == 1 for r in ranks) >= 8, ranks   # of 10
    assert max(ranks) <= 5, ranks


def test_ranking_table_and_top_spectra(setup):
    ds, wacsf, model = setup
    result = screen(model, ds.structures, _measure(ds, 7), e0=7115.0, wacsf=wacsf,
                    broadening=1.5, top_k=3)
    table = result.ranking
    assert list(table.columns[:3]) == ["rank", "name", "score"]
    assert table["rank"].tolist() == list(range(1, N + 1))
    assert table["score"].is_monotonic_increasing
    np.testing.assert_array_equal(table["score"], table["delta_mu"])
    assert table["name"].iloc[0] == ds.names[7] and set(table["name"]) == set(ds.names)
    assert result.top_spectra.shape == (3, GRID.size) and result.top_std is None
    # the kept spectrum of the best is its (broadened) prediction times the fitted scale
    assert np.mean(np.abs(result.top_spectra[0] - result.measured.mu)) < 0.05
    chi = screen(model, ds.structures, _measure(ds, 7), e0=7115.0, wacsf=wacsf,
                 broadening=1.5, metric="chi2")
    np.testing.assert_array_equal(chi.ranking["score"], chi.ranking["chi2"])
    fig = result.plot()
    assert len(fig.axes[0].lines) == 4   # 3 candidates and the measurement


def test_chunks_do_not_change_the_ranking(setup):
    ds, wacsf, model = setup
    m = _measure(ds, 11)
    a = screen(model, ds.structures, m, e0=7115.0, wacsf=wacsf, chunk_size=7, top_k=4)
    b = screen(model, iter(ds.structures), m, e0=7115.0, wacsf=wacsf, chunk_size=4096,
               top_k=4)
    assert a.ranking["name"].tolist() == b.ranking["name"].tolist()
    np.testing.assert_allclose(a.top_spectra, b.top_spectra)


def test_e0_error_lowers_the_true_rank(setup):
    ds, wacsf, model = setup
    m = _measure(ds, 13, noise=0.0)
    good = screen(model, ds.structures, m, e0=7115.0, wacsf=wacsf, broadening=1.5)
    bad = screen(model, ds.structures, m, e0=7115.0, shift=6.0, wacsf=wacsf, broadening=1.5)
    score = {r["name"]: r["score"] for _, r in good.ranking.iterrows()}
    worse = {r["name"]: r["score"] for _, r in bad.ranking.iterrows()}
    assert worse[ds.names[13]] > 2 * score[ds.names[13]]


def test_bad_input(setup, tmp_path):
    ds, wacsf, model = setup
    m = _measure(ds, 0)
    with pytest.raises(ValueError, match=r"simulated measurement: the measurement covers"):
        screen(model, ds.structures, simulate_measurement(GRID, ds.spectra[0], above=40),
               e0=7112.0, wacsf=wacsf)
    no_fe = ds.structures[1].copy()
    no_fe.numbers[no_fe.numbers == 26] = 27
    no_fe.info["name"] = "cobalt_one"
    with pytest.raises(ValueError, match=r"candidate cobalt_one .*absorbing atom 0 is Co.*Fe"):
        screen(model, [ds.structures[0], no_fe], m, e0=7115.0, wacsf=wacsf, element="Fe")
    with pytest.raises(ValueError, match=r"candidate cobalt_one .*has no Fe atom"):
        screen(model, [ds.structures[0], no_fe], m, e0=7115.0, wacsf=wacsf,
               absorber_element="Fe")
    water = molecule("H2O")
    water.info["name"] = "water"
    with pytest.raises(ValueError, match=r"candidate water .*absorber index 5 is out of range "
                                         r"for 3 atoms"):
        screen(model, [ds.structures[0], water], m, e0=7115.0, wacsf=wacsf, element="Fe",
               absorber=5)
    with pytest.raises(ValueError, match="pass wacsf="):
        screen(model, ds.structures, m, e0=7115.0)
    with pytest.raises(ValueError, match="metric must be one of"):
        screen(model, ds.structures, m, e0=7115.0, wacsf=wacsf, metric="l2")


def test_inverse_model_refused(setup):
    from xanesnet_sk import make_inverse_pipeline

    ds, wacsf, _ = setup
    with pytest.raises(ValueError, match="an inverse model .* cannot screen"):
        screen(make_inverse_pipeline(), ds.structures, _measure(ds, 0), wacsf=wacsf)


def test_site_averaging_of_a_material(setup):
    """absorber_element: each candidate's prediction is the mean over its sites."""
    ds, wacsf, model = setup
    pair = []
    for a, b in ((0, 1), (2, 3)):   # two complexes side by side: two Fe sites each
        atoms = ds.structures[a].copy()
        other = ds.structures[b].copy()
        other.translate([40.0, 0, 0])
        atoms += other
        atoms.info["name"] = f"pair_{a}_{b}"
        pair.append(atoms)
    mean = 0.5 * (ds.spectra[0] + ds.spectra[1])
    m = simulate_measurement(GRID, mean, e0=7115.0, noise=0.0)
    result = screen(model, pair, m, e0=7115.0, wacsf=wacsf, absorber_element="Fe")
    assert result.ranking["name"].tolist()[0] == "pair_0_1"
    assert result.ranking["n_sites"].tolist() == [2, 2]


# ---------------------------------------------------------------- the CLI


def _write_xdi(path, m):
    lines = ["# XDI/1.0", "# Column.1: energy eV", "# Column.2: mu", "# Element.symbol: Fe",
             "#----", "# energy mu"]
    lines += [f"{e:.3f} {v:.8g}" for e, v in zip(m.energies, m.mu)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def cli_inputs(setup, tmp_path_factory):
    from ase.io import write
    from sklearn.pipeline import make_pipeline

    from xanesnet_sk.cli._common import Reporter
    from xanesnet_sk.cli._data import save_model

    ds, wacsf, knn = setup
    root = tmp_path_factory.mktemp("screen_cli")
    model = root / "knn.joblib"
    save_model(model, make_pipeline(wacsf, knn), {"energies": GRID, "n_points": GRID.size},
               Reporter(quiet=True))
    xyz = root / "xyz"
    xyz.mkdir()
    for name, atoms in zip(ds.names, ds.structures):
        write(xyz / f"{name}.xyz", atoms)
    measured = _write_xdi(root / "m.xdi", _measure(ds, 5))
    return root, model, xyz, measured, ds


def test_cli_screen_writes_ranking_and_plot(cli_inputs, tmp_path):
    from xanesnet_sk.cli import main

    root, model, xyz, measured, ds = cli_inputs
    out = tmp_path / "out"
    argv = ["screen", "--model", str(model), "--candidates", str(xyz), "--measured",
            str(measured), "--e0", "7115", "--broadening", "1.5", "--output", str(out), "-q"]
    assert main(argv) == 0
    import pandas as pd

    table = pd.read_csv(out / "ranking.csv")
    assert list(table.columns[:3]) == ["rank", "name", "score"]
    assert table["name"].iloc[0] == ds.names[5] and len(table) == N
    assert (out / "top_candidates.png").stat().st_size > 1000
    assert (out / "measured.txt").is_file()
    assert main(argv) == 1   # refuses to overwrite
    assert sorted(p.name for p in out.iterdir()) == ["measured.txt", "ranking.csv",
                                                     "top_candidates.png"]


def test_cli_screen_bad_input_writes_nothing(cli_inputs, tmp_path, capsys):
    from xanesnet_sk.cli import main

    root, model, xyz, measured, ds = cli_inputs
    bad = root / "noenergy.xdi"
    bad.write_text("# XDI/1.0\n# Column.1: i0\n# Column.2: itrans\n#----\n# i0 it\n"
                   + "1 2\n" * 6)
    out = tmp_path / "out"
    code = main(["screen", "--model", str(model), "--candidates", str(xyz), "--measured",
                 str(bad), "--output", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "noenergy.xdi: no energy column" in err and err.count("\n") == 1
    assert not out.exists()
    short = _write_xdi(root / "short.xdi", simulate_measurement(GRID, ds.spectra[0], above=30,
                                                                noise=0.0))
    code = main(["screen", "--model", str(model), "--candidates", str(xyz), "--measured",
                 str(short), "--e0", "7112", "--output", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "short.xdi: the measurement covers" in err and not out.exists()


def test_ensemble_std_bands_chi2_and_batch_size_restored(setup):
    """A real (tiny) deep ensemble: error bars reach the table and the kept spectra, and the
    nets' batch size, raised for prediction, is put back."""
    from xanesnet_sk import make_xanesnet_pipeline

    ds, _, _ = setup
    model = make_xanesnet_pipeline(random_state=0, n_ensemble=2, max_epochs=2,
                                   hidden_sizes=(8,), n_jobs=1, calibration=None)
    model.fit(ds.structures, ds.spectra)
    from xanesnet_sk.screening import _nets

    before = [net.batch_size for net in _nets(model)]
    assert len(before) == 2
    result = screen(model, ds.structures, _measure(ds, 4), e0=7115.0, metric="chi2", top_k=2)
    assert [net.batch_size for net in _nets(model)] == before
    assert result.top_std.shape == (2, GRID.size) and np.all(result.top_std > 0)
    assert np.all(np.isfinite(result.ranking["mean_std"]))
    np.testing.assert_array_equal(result.ranking["score"], result.ranking["chi2"])



def test_cli_predict_inverse_accepts_a_measured_spectrum(cli_inputs, tmp_path, capsys):
    import pandas as pd

    from xanesnet_sk import make_inverse_pipeline
    from xanesnet_sk.cli import main
    from xanesnet_sk.cli._common import Reporter
    from xanesnet_sk.cli._data import save_model

    root, forward, xyz, measured, ds = cli_inputs
    targets = np.column_stack([ds.spectra[:, :5].sum(axis=1), ds.spectra[:, -5:].sum(axis=1)])
    inverse = make_inverse_pipeline(random_state=0, max_epochs=2, hidden_sizes=(8,))
    inverse.fit(ds.spectra, targets)
    path = tmp_path / "inverse.joblib"
    save_model(path, inverse, {"direction": "inverse", "energies": GRID,
                               "target_names": ["low", "high"]}, Reporter(quiet=True))
    out = tmp_path / "inv"
    assert main(["predict", "--inverse", "--model", str(path), "--measured", str(measured),
                 "--e0", "7115", "--output", str(out), "-q"]) == 0
    table = pd.read_csv(out / "descriptors.csv")
    assert table.columns.tolist() == ["name", "low", "high"] and table["name"].tolist() == ["m"]
    # the same spectrum, prepared in Python, gives the same descriptors
    from xanesnet_sk.measured import prepare_measured

    expected = inverse.predict(prepare_measured(str(measured), GRID, e0=7115.0).mu[None, :])
    np.testing.assert_allclose(table[["low", "high"]].to_numpy(), expected, rtol=1e-4)
    # a forward model is refused, and so is --measured without --inverse
    assert main(["predict", "--inverse", "--model", str(forward), "--measured", str(measured),
                 "--output", str(tmp_path / "x"), "-q"]) == 1
    assert "a forward model" in capsys.readouterr().err
    assert main(["predict", "--model", str(forward), "--measured", str(measured), "--xyz",
                 str(xyz), "--output", str(tmp_path / "y"), "-q"]) == 1
    assert "--measured is for 'predict --inverse'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_cli_screen_refuses_an_inverse_model(cli_inputs, tmp_path, capsys):
    from xanesnet_sk import make_inverse_pipeline
    from xanesnet_sk.cli import main
    from xanesnet_sk.cli._common import Reporter
    from xanesnet_sk.cli._data import save_model

    root, _, xyz, measured, ds = cli_inputs
    inverse = make_inverse_pipeline(random_state=0, max_epochs=1, hidden_sizes=(4,))
    inverse.fit(ds.spectra, ds.spectra[:, :2])
    path = tmp_path / "inverse.joblib"
    save_model(path, inverse, {"direction": "inverse", "energies": GRID}, Reporter(quiet=True))
    assert main(["screen", "--model", str(path), "--candidates", str(xyz), "--measured",
                 str(measured), "--output", str(tmp_path / "o"), "-q"]) == 1
    assert "an inverse model" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_errors_come_in_input_order_while_the_next_chunk_is_read(setup):
    """The next chunk is read while the last is scored: a candidate's error in that chunk
    still comes before a failure reading the next one, and a failure reading comes as it
    is when the chunks before it were sound."""
    ds, wacsf, model = setup
    m = _measure(ds, 0)
    no_fe = ds.structures[1].copy()
    no_fe.numbers[no_fe.numbers == 26] = 27
    no_fe.info["name"] = "cobalt_one"

    def candidates(bad):
        yield from ds.structures[:7]
        if bad:
            yield no_fe
        raise RuntimeError("the disk went away")

    with pytest.raises(ValueError, match="candidate cobalt_one"):
        screen(model, candidates(True), m, e0=7115.0, wacsf=wacsf, element="Fe", chunk_size=4)
    with pytest.raises(RuntimeError, match="the disk went away"):
        screen(model, candidates(False), m, e0=7115.0, wacsf=wacsf, element="Fe",
               chunk_size=4)


@pytest.mark.parametrize("rows, match", [
    ("7100 1\n7101 1\n7101 2\n7102 1\n7103 1\n", r"bad\.xdi, line 9: energy 7101 eV is not above"),
    ("7100 1\n7101 nan\n7102 1\n7103 1\n7104 1\n", r"bad\.xdi, line 8: mu is nan"),
])
def test_cli_screen_bad_measurement_names_file_and_line(cli_inputs, tmp_path, capsys, rows,
                                                        match):
    """Energies that do not increase, a NaN: one line naming the file and the line, and an
    existing output directory left as it was."""
    import re

    from xanesnet_sk.cli import main

    root, model, xyz, measured, ds = cli_inputs
    bad = tmp_path / "bad.xdi"
    bad.write_text("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mu\n# Element.symbol: Fe\n"
                   "#----\n# e mu\n" + rows)
    out = tmp_path / "out"
    out.mkdir()
    (out / "ranking.csv").write_text("an older ranking\n")
    code = main(["screen", "--model", str(model), "--candidates", str(xyz), "--measured",
                 str(bad), "--output", str(out), "--overwrite", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and re.search(match, err) and err.count("\n") == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["ranking.csv"]
    assert (out / "ranking.csv").read_text() == "an older ranking\n"


def test_cli_screen_candidate_without_the_absorbing_element(cli_inputs, tmp_path, capsys):
    """One line naming the candidate and its file, nothing written, also when the bad
    candidate comes in a later chunk than the first."""
    from ase.io import write

    from xanesnet_sk.cli import main

    root, model, xyz, measured, ds = cli_inputs
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    for name, atoms in list(zip(ds.names, ds.structures))[:9]:
        write(candidates / f"{name}.xyz", atoms)
    write(candidates / "zz_water.xyz", molecule("H2O"))
    out = tmp_path / "out"
    for extra in ([], ["--absorber-element", "Fe"]):
        code = main(["screen", "--model", str(model), "--candidates", str(candidates),
                     "--measured", str(measured), "--e0", "7115", "--chunk-size", "4",
                     "--output", str(out), "-q", *extra])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1, err
        assert "candidate zz_water" in err and "zz_water.xyz" in err
        assert ("has no Fe atom" in err) if extra else ("absorbing atom 0 is O" in err)
        assert not out.exists()
