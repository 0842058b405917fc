"""Tests for xanesnet_sk.datasets: directory loader, npz files, V set, synthetic data."""

import numpy as np
import pytest

from xanesnet_sk.datasets import (
    XanesDataset,
    load_dataset,
    load_npz,
    load_v_dataset,
    make_synthetic_xanes,
    save_dataset,
)
from xanesnet_sk.io import write_spectrum
from xanesnet_sk.spectra import xanesnet_grid

XYZ = "3\nwater-ish\n26 0.0 0.0 0.0\n8 0.0 0.0 2.0\n1 0.0 0.9 2.3\n"


def _make_dirs(tmp_path, stems_xyz, stems_xanes, energies=None):
    xyz, xanes = tmp_path / "xyz", tmp_path / "xanes"
    xyz.mkdir()
    xanes.mkdir()
    energies = np.linspace(-15, 60, 226) if energies is None else energies
    for stem in stems_xyz:
        (xyz / f"{stem}.xyz").write_text(XYZ)
    for k, stem in enumerate(stems_xanes):
        write_spectrum(xanes / f"{stem}.txt", energies, 1.0 + k + 0.01 * energies)
    return xyz, xanes


# --- load_dataset on small made-up directories --------------------------------------


def test_load_sorted_and_absorber(tmp_path):
    xyz, xanes = _make_dirs(tmp_path, ["b", "a", "c"], ["c", "a", "b"])
    ds = load_dataset(xyz, xanes, absorber=1)
    assert ds.names == ["a", "b", "c"]
    assert ds.spectra.shape == (3, 226) and ds.spectra.dtype == np.float64
    # spectrum k of the writer went to stem order c=0, a=1, b=2
    np.testing.assert_allclose(ds.spectra[:, 0], [2.0 - 0.15, 3.0 - 0.15, 1.0 - 0.15])
    np.testing.assert_allclose(ds.energies, np.linspace(-15, 60, 226))
    assert [a.info["absorber"] for a in ds.structures] == [1, 1, 1]
    assert [a.info["name"] for a in ds.structures] == ds.names
    assert ds.e0 is None and len(ds) == 3
    assert load_dataset(xyz, xanes, absorber=-1).structures[0].info["absorber"] == 2


def test_unmatched_raise_and_drop(tmp_path):
    xyz, xanes = _make_dirs(tmp_path, ["a", "b", "x1"], ["a", "b", "y1", "y2"])
    with pytest.raises(ValueError, match=r"1 structure\(s\) .* without a spectrum: x1; 2 spect"):
        load_dataset(xyz, xanes)
    with pytest.warns(UserWarning, match=r"dropped unmatched .*x1.*y1, y2"):
        ds = load_dataset(xyz, xanes, on_unmatched="drop")
    assert ds.names == ["a", "b"]


def test_unmatched_listing_is_short(tmp_path):
    xyz, xanes = _make_dirs(tmp_path, ["a"] + [f"s{i:02d}" for i in range(9)], ["a"])
    with pytest.raises(ValueError, match=r"9 structure\(s\).*s04, \.\.\. \(4 more\)"):
        load_dataset(xyz, xanes)


def test_nothing_matches(tmp_path):
    xyz, xanes = _make_dirs(tmp_path, ["a"], ["b"])
    with pytest.raises(ValueError, match="no stem matches at all"):
        load_dataset(xyz, xanes, on_unmatched="drop")


@pytest.mark.parametrize(
    "side, extra, match",
    [
        ("xyz", "a.XYZ", r"duplicate stem.*'a': a\.XYZ, a\.xyz"),
        ("xanes", "a.dat", r"a\.dat, a\.txt"),
    ],
)
def test_duplicate_stems(tmp_path, side, extra, match):
    xyz, xanes = _make_dirs(tmp_path, ["a"], ["a"])
    source = (xyz / "a.xyz") if side == "xyz" else (xanes / "a.txt")
    (tmp_path / side / extra).write_text(source.read_text())
    with pytest.raises(ValueError, match=match):
        load_dataset(xyz, xanes)


@pytest.mark.parametrize(
    "side, text, match",
    [
        ("xanes", "", r"b\.txt: empty spectrum file"),
        ("xanes", "FDMNES\nenergy <xanes>\n1 2\n2 nan\n", r"b\.txt: line 4: NaN"),
        ("xyz", "", r"b\.xyz"),
        ("xyz", "2\n\n26 0 0 0\n8 0 nan 2\n", r"b\.xyz.*NaN"),
    ],
)
def test_bad_files_are_named(tmp_path, side, text, match):
    xyz, xanes = _make_dirs(tmp_path, ["a", "b"], ["a", "b"])
    (tmp_path / side / ("b.xyz" if side == "xyz" else "b.txt")).write_text(text)
    with pytest.raises(ValueError, match=match):
        load_dataset(xyz, xanes)


def test_argument_errors(tmp_path):
    xyz, xanes = _make_dirs(tmp_path, ["a"], ["a"])
    with pytest.raises(ValueError, match="on_unmatched must be 'raise' or 'drop'"):
        load_dataset(xyz, xanes, on_unmatched="ignore")
    with pytest.raises(ValueError, match=r"a\.xyz: absorber=3 but the structure has 3 atoms"):
        load_dataset(xyz, xanes, absorber=3)
    with pytest.raises(ValueError, match="absorber must be an int"):
        load_dataset(xyz, xanes, absorber="Fe")
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(tmp_path / "nope", xanes)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no spectrum files \(\.txt, \.dat\)"):
        load_dataset(xyz, tmp_path / "empty")


def test_grids_must_match_or_be_resampled(tmp_path):
    xyz, xanes = _make_dirs(tmp_path, ["a", "b"], ["a"])
    write_spectrum(
        xanes / "b.txt", np.linspace(-20, 70, 301), 5.0 + 0.01 * np.linspace(-20, 70, 301)
    )
    with pytest.raises(ValueError, match=r"b\.txt: energy grid \(301 points.*grid='first'"):
        load_dataset(xyz, xanes)
    ds = load_dataset(xyz, xanes, grid="first")
    np.testing.assert_allclose(ds.energies, np.linspace(-15, 60, 226))
    np.testing.assert_allclose(ds.spectra[1], 5.0 + 0.01 * ds.energies, rtol=1e-9)  # linear: exact
    target = np.linspace(0, 10, 11)
    ds = load_dataset(xyz, xanes, grid=target)
    np.testing.assert_allclose(ds.spectra, [1.0 + 0.01 * target, 5.0 + 0.01 * target], rtol=1e-9)
    with pytest.raises(ValueError, match=r"a\.txt: spectrum spans .* does not extrapolate"):
        load_dataset(xyz, xanes, grid=np.linspace(-20, 0, 5))
    with pytest.raises(ValueError, match="grid must be None, 'first' or an array"):
        load_dataset(xyz, xanes, grid="last")


def test_edges_from_headers(tmp_path):
    xyz, xanes = _make_dirs(tmp_path, ["a", "b"], ["b"])
    write_spectrum(xanes / "a.txt", np.linspace(-15, 60, 226), np.ones(226), e0=7112.5)
    ds = load_dataset(xyz, xanes)
    np.testing.assert_array_equal(ds.e0, [7112.5, np.nan])


def test_progress_bar(tmp_path, capsys):
    stems = [f"s{i:03d}" for i in range(201)]
    xyz, xanes = _make_dirs(tmp_path, stems, stems, energies=np.array([0.0, 1.0]))
    load_dataset(xyz, xanes)
    assert "201/201" in capsys.readouterr().err
    load_dataset(xyz, xanes, progress=False)
    assert capsys.readouterr().err == ""
    load_dataset(xyz, xanes.parent / "xanes", progress=None)
    few_xyz = tmp_path / "few"
    few_xyz.mkdir()
    (few_xyz / "s000.xyz").write_text(XYZ)
    with pytest.warns(UserWarning):
        load_dataset(few_xyz, xanes, on_unmatched="drop")
    assert "it/s" not in capsys.readouterr().err


# --- real data ---------------------------------------------------------------------


def test_real_fe_set(data_root):
    ds = load_dataset(data_root / "fe_k_edge" / "xyz", data_root / "fe_k_edge" / "xanes")
    assert len(ds) == 110 and ds.spectra.shape == (110, 226)
    assert ds.names == sorted(ds.names)
    assert all(a[0].symbol == "Fe" and a.info["absorber"] == 0 for a in ds.structures)
    assert np.all(np.isfinite(ds.spectra)) and ds.e0 is None
    np.testing.assert_allclose(ds.energies, 7112.0 + xanesnet_grid(), atol=6e-3)


def test_real_s_set_unmatched(data_root):
    xyz, xanes = data_root / "s_k_edge" / "xyz", data_root / "s_k_edge" / "xanes"
    with pytest.raises(ValueError, match=r"2 structure\(s\).*07202, 07205.*2 spectrum.*065, 069"):
        load_dataset(xyz, xanes)
    with pytest.warns(UserWarning, match="07202, 07205.*065, 069"):
        ds = load_dataset(xyz, xanes, on_unmatched="drop")
    assert len(ds) == 108 and ds.spectra.shape == (108, 400)
    assert all(a[0].symbol == "S" for a in ds.structures)
    assert {"065", "069", "07202", "07205"}.isdisjoint(ds.names)


def test_real_v_set(data_root):
    ds = load_v_dataset(data_root / "tmqm_k_edge_v.npz")
    assert ds.features.shape == (1439, 97) and ds.spectra.shape == (1439, 226)
    np.testing.assert_array_equal(ds.energies, np.linspace(-15, 60, 226))
    assert ds.structures is None and len(ds.feature_names) == 97
    assert ds.feature_names[0] == "g1" and ds.names[0] == "sample_0"


# --- npz files -------------------------------------------------------------------------


def test_npz_round_trip_structures(tmp_path):
    ds = make_synthetic_xanes(n_samples=6, random_state=1)
    ds.e0 = np.arange(6.0)
    save_dataset(tmp_path / "d.npz", ds)
    back = load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.spectra, ds.spectra)
    np.testing.assert_array_equal(back.energies, ds.energies)
    np.testing.assert_array_equal(back.e0, ds.e0)
    assert back.names == ds.names and back.features is None
    for a, b in zip(ds.structures, back.structures, strict=True):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_array_equal(a.positions, b.positions)
        assert b.info["absorber"] == 0 and b.info["name"] == a.info["name"]


def test_npz_round_trip_features_and_missing_energies(tmp_path):
    ds = XanesDataset(
        np.ones((3, 4)), np.arange(4.0), features=np.eye(3), feature_names=list("abc")
    )
    save_dataset(tmp_path / "f.npz", ds)
    back = load_npz(tmp_path / "f.npz")
    np.testing.assert_array_equal(back.features, np.eye(3))
    assert list(back.feature_names) == ["a", "b", "c"] and back.names[2] == "sample_2"
    np.savez(tmp_path / "bare.npz", x=np.eye(3), y=np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"bare\.npz: the file stores no energies"):
        load_npz(tmp_path / "bare.npz")
    assert load_npz(tmp_path / "bare.npz", energies=np.arange(4.0)).spectra.shape == (3, 4)
    with pytest.raises(ValueError, match=r"bare\.npz: 'y' has shape \(3, 4\), energies \(5,\)"):
        load_npz(tmp_path / "bare.npz", energies=np.arange(5.0))


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "noy.npz", x=np.eye(2))
    with pytest.raises(ValueError, match=r"noy\.npz: no spectra \('y'\)"):
        load_npz(tmp_path / "noy.npz")
    np.savez(tmp_path / "nan.npz", y=np.array([[np.nan, 1.0]]), energies=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"nan\.npz: 'y' contains NaN"):
        load_npz(tmp_path / "nan.npz")
    np.savez(
        tmp_path / "off.npz", y=np.ones((2, 2)), energies=[0.0, 1.0],
        positions=np.zeros((3, 3)), numbers=[1, 1, 1], offsets=[0, 1, 4],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"off\.npz: inconsistent structure arrays"):
        load_npz(tmp_path / "off.npz")
    np.savez(tmp_path / "len.npz", y=np.ones((2, 2)), energies=[0.0, 1.0], x=np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"len\.npz: .*features has 3 entries but there are 2"):
        load_npz(tmp_path / "len.npz")


def test_dataset_validation():
    with pytest.raises(ValueError, match="spectra must be"):
        XanesDataset(np.ones(3), np.arange(3.0))
    with pytest.raises(ValueError, match="names has 1 entries but there are 2 spectra"):
        XanesDataset(np.ones((2, 3)), np.arange(3.0), names=["a"])


# --- synthetic data ------------------------------------------------------------------

CN = {"octahedral": 6, "square_pyramidal": 5, "trigonal_bipyramidal": 5}


def test_synthetic_shapes_and_determinism():
    ds = make_synthetic_xanes(n_samples=50, n_points=100, random_state=0)
    assert ds.spectra.shape == (50, 100) and len(ds.structures) == 50
    np.testing.assert_array_equal(ds.energies, np.linspace(-15, 60, 100))
    again = make_synthetic_xanes(n_samples=50, n_points=100, random_state=0)
    np.testing.assert_array_equal(ds.spectra, again.spectra)
    other = make_synthetic_xanes(n_samples=50, n_points=100, random_state=1)
    assert not np.allclose(ds.spectra, other.spectra)
    assert np.all(np.isfinite(ds.spectra)) and ds.spectra.min() > 0 and ds.spectra.max() < 3
    structures, spectra = make_synthetic_xanes(5, random_state=0, return_dataset=False)
    assert len(structures) == 5 and spectra.shape == (5, 226)


def test_synthetic_structures_are_plausible():
    ds = make_synthetic_xanes(n_samples=100, metal="Co", random_state=2)
    seen = set()
    for atoms in ds.structures:
        assert atoms[0].symbol == "Co" and atoms.info["absorber"] == 0
        d = atoms.get_distances(0, range(1, len(atoms)))
        geometry = atoms.info["geometry"]
        seen.add(geometry)
        n_first = np.sum(d < 2.5)
        assert n_first >= CN.get(geometry, 4)  # donors (plus close H of aqua/ammine)
        assert 1.8 - 1e-9 <= d.min() and np.sort(d)[CN.get(geometry, 4) - 1] <= 2.45 + 1e-9
        assert len(atoms) > CN.get(geometry, 4) + 1 or set(atoms.get_chemical_symbols()) <= {
            "Co", "Cl"
        }  # fmt: skip
        all_d = atoms.get_all_distances()
        assert np.min(all_d[np.triu_indices(len(atoms), 1)]) > 0.9
    assert seen == {"octahedral", "square_pyramidal", "trigonal_bipyramidal", "tetrahedral",
                    "square_planar"}  # fmt: skip
    centred = [np.linalg.norm(a.positions[0]) for a in ds.structures]
    assert max(centred) > 1.0  # randomly placed and oriented


def test_synthetic_pre_edge_tracks_centrosymmetry():
    ds = make_synthetic_xanes(n_samples=300, random_state=3)
    pre = ds.spectra[:, np.argmin(np.abs(ds.energies + 9.0))]
    geometry = np.array([a.info["geometry"] for a in ds.structures])
    assert pre[geometry == "tetrahedral"].mean() > 1.5 * pre[geometry == "octahedral"].mean()


def test_synthetic_noise():
    clean = make_synthetic_xanes(n_samples=40, random_state=4).spectra
    noisy = make_synthetic_xanes(n_samples=40, noise=0.01, random_state=4).spectra
    assert np.std(noisy - clean) == pytest.approx(0.01, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples must be an int >= 1"),
        ({"n_points": 1}, "n_points must be an int >= 2"),
        ({"noise": -1.0}, "noise must be a float >= 0"),
        ({"metal": "Xx"}, "metal must be an element symbol"),
    ],
)
def test_synthetic_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_xanes(**kwargs)


def test_synthetic_is_learnable_from_wacsf():
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from wacsf import WACSFTransformer

    ds = make_synthetic_xanes(n_samples=400, random_state=5)
    X = WACSFTransformer(backend="numpy").fit_transform(ds.structures)  # no JIT wait
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 7)))
    model.fit(X[:300], ds.spectra[:300])
    y = ds.spectra[300:]
    err = np.mean(np.abs(model.predict(X[300:]) - y))
    baseline = np.mean(np.abs(ds.spectra[:300].mean(axis=0) - y))
    assert err < 0.4 * baseline  # about 0.3 here; about 1 if spectra ignored structure
