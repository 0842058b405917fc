"""Site spectra: every absorbing atom predicted, a structure's spectrum their mean."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from wacsf import WACSFTransformer
from xanesnet_sk import (
    make_synthetic_xanes,
    make_xanesnet_pipeline,
    predict_site_spectra,
    site_average,
)
from xanesnet_sk.cli import main
from xanesnet_sk.io import read_spectrum

SMALL = dict(n_g2=8, n_g4=16)


@pytest.fixture(scope="module")
def trained():
    data = make_synthetic_xanes(n_samples=80, random_state=0)
    model = make_xanesnet_pipeline(random_state=0, max_epochs=4, hidden_sizes=(32,),
                                   wacsf_params=SMALL)
    return model.fit(data.structures, data.spectra), data


def _two_fe_cluster():
    return Atoms("FeOOFeO", positions=[[0, 0, 0], [1.9, 0, 0], [0, 1.95, 0], [3.8, 0.3, 0],
                                       [3.8, 2.2, 0.1]])


def test_site_average_groups_rows_by_structure():
    values = np.arange(12.0).reshape(4, 3)
    mean, which, counts = site_average(values, np.array([[3, 0], [3, 5], [1, 2], [3, 7]]))
    assert which.tolist() == [1, 3] and counts.tolist() == [1, 3]
    np.testing.assert_array_equal(mean, [values[2], values[[0, 1, 3]].mean(axis=0)])
    with pytest.raises(ValueError, match="one integer structure index per row"):
        site_average(values, np.array([0, 1]))
    bad = values.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"row 1 \(structure 0\) is not finite"):
        site_average(bad, np.array([0, 0, 1, 1]))


def test_structure_spectrum_is_the_mean_of_single_site_predictions(trained):
    model, data = trained
    structures = [_two_fe_cluster(), data.structures[0], bulk("FeO", "rocksalt", a=4.3)]
    result = predict_site_spectra(model, structures, absorber_element="Fe")
    assert result.sites.tolist() == [[0, 0], [0, 3], [1, 0], [2, 0]]
    assert result.structures.tolist() == [0, 1, 2] and result.n_sites.tolist() == [2, 1, 1]
    # independently: the same model with the absorber set to one atom at a time
    per_site = []
    for s, atom in result.sites:
        model.set_params(wacsf__absorber=int(atom))
        per_site.append(model.predict([structures[s]])[0])
    model.set_params(wacsf__absorber=0)
    # the net runs in float32, and a batch of one rounds differently from a batch of four
    close = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.site_spectra, per_site, **close)
    np.testing.assert_allclose(result.spectra[0], np.mean(result.site_spectra[:2], axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(result.spectra[0], np.mean(per_site[:2], axis=0), **close)
    np.testing.assert_allclose(result.spectra[1], per_site[2], **close)
    # the two sites of the cluster differ, so the mean is a real average
    assert not np.allclose(per_site[0], per_site[1])


def test_equivalent_crystal_sites_average_to_each_site(trained):
    model, _ = trained
    crystal = bulk("FeO", "rocksalt", a=4.3).repeat((2, 2, 1))
    result = predict_site_spectra(model, [crystal], absorber_element=26)
    assert result.n_sites.tolist() == [4]
    for row in result.site_spectra:
        np.testing.assert_allclose(row, result.spectra[0], rtol=1e-4, atol=1e-5)


def test_feature_model_needs_its_featuriser_and_missing_sites(trained):
    model, data = trained
    features_model = model[1:]
    with pytest.raises(ValueError, match="pass wacsf=WACSFTransformer"):
        predict_site_spectra(features_model, [_two_fe_cluster()], "Fe")
    got = predict_site_spectra(features_model, [_two_fe_cluster()], "Fe",
                               wacsf=WACSFTransformer(**SMALL))
    ref = predict_site_spectra(model, [_two_fe_cluster()], "Fe")
    np.testing.assert_array_equal(got.spectra, ref.spectra)
    with pytest.raises(ValueError, match="say which element absorbs"):
        predict_site_spectra(model, [_two_fe_cluster()])
    water = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [0, 0.96, 0]])
    with pytest.raises(ValueError, match=r"structure 1 \(H2O\) has no Fe atom"):
        predict_site_spectra(model, [_two_fe_cluster(), water], "Fe")
    with pytest.warns(UserWarning, match="skipped 1 structures"):
        kept = predict_site_spectra(model, [water, _two_fe_cluster()], "Fe",
                                    on_missing_absorber="skip")
    assert kept.structures.tolist() == [1]


def test_training_on_site_spectra_through_the_pipeline():
    """A pipeline whose wACSF step has absorber_element learns one spectrum per site row."""
    data = make_synthetic_xanes(n_samples=40, random_state=1)
    doubled = [a + a.copy() for a in data.structures[:20]]  # each metal twice, far apart
    for atoms in doubled:
        atoms.positions[len(atoms) // 2:] += [30.0, 0, 0]
    metal = {int(a.numbers[0]) for a in data.structures}
    assert len(metal) == 1
    sites_y = np.repeat(data.spectra[:20], 2, axis=0)
    model = make_xanesnet_pipeline(random_state=0, max_epochs=2, hidden_sizes=(16,),
                                   wacsf_params=dict(SMALL, absorber_element=metal.pop()))
    model.fit(doubled, sites_y)
    assert model.predict(doubled).shape == sites_y.shape
    result = predict_site_spectra(model, doubled)  # the pipeline's own absorber_element
    assert result.spectra.shape == (20, sites_y.shape[1])


def test_cli_predict_absorber_element(tmp_path, capsys):
    from ase.io import write

    data = make_synthetic_xanes(n_samples=60, random_state=0)
    npz = tmp_path / "train.npz"
    from xanesnet_sk import save_dataset

    save_dataset(npz, data)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model:\n  hidden_sizes: [16]\n  batch_size: 16\n")
    model = tmp_path / "m.joblib"
    assert main(["learn", "--data", str(npz), "--output", str(model), "--epochs", "2",
                 "--config", str(cfg), "-q"]) == 0
    xyz = tmp_path / "materials"
    xyz.mkdir()
    write(xyz / "wustite.cif", bulk("FeO", "rocksalt", a=4.3).repeat((2, 1, 1)))
    write(xyz / "pair.xyz", _two_fe_cluster(), format="xyz")
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(model), "--xyz", str(xyz), "--output", str(out),
                 "--absorber-element", "Fe"]) == 0
    printed = capsys.readouterr().out
    assert "4 Fe sites in 2 structures" in printed
    assert sorted(p.name for p in out.glob("*.txt")) == ["pair.txt", "wustite.txt"]
    assert sorted(p.name for p in (out / "sites").glob("*.txt")) == [
        "pair_0.txt", "pair_3.txt", "wustite_0.txt", "wustite_2.txt"]
    mean = read_spectrum(out / "pair.txt").mu
    site_mu = [read_spectrum(out / "sites" / f"pair_{k}.txt").mu for k in (0, 3)]
    np.testing.assert_allclose(mean, np.mean(site_mu, axis=0), rtol=1e-5, atol=1e-8)
    # structures without the element: a one-line error, exit 1
    assert main(["predict", "--model", str(model), "--xyz", str(xyz), "--output",
                 str(tmp_path / "p2"), "--absorber-element", "Co", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "has no Co atom" in err and "\n" not in err


def test_npz_round_trip_keeps_cells_and_pbc(tmp_path):
    from xanesnet_sk import XanesDataset, load_npz, save_dataset

    crystal = bulk("FeO", "rocksalt", a=4.3)
    slab = crystal.repeat((1, 1, 2))
    slab.pbc = (True, True, False)
    structures = [crystal, slab, _two_fe_cluster()]
    energies = np.linspace(-15, 60, 5)
    ds = XanesDataset(structures=structures, features=None, spectra=np.ones((3, 5)),
                      energies=energies, names=["a", "b", "c"], description="test")
    save_dataset(tmp_path / "m.npz", ds)
    back = load_npz(tmp_path / "m.npz").structures
    for got, want in zip(back, structures):
        assert got.pbc.tolist() == want.pbc.tolist()
        np.testing.assert_array_equal(got.cell.array, want.cell.array)
    t = WACSFTransformer(absorber_element="Fe", **SMALL)
    np.testing.assert_array_equal(t.fit_transform(back), t.fit_transform(structures))


def _multi_site_set(n_structures, seed=0):
    """Structures of 1-3 synthetic complexes 30 A apart; spectrum = mean of theirs."""
    data = make_synthetic_xanes(n_samples=400, random_state=seed)
    rng = np.random.default_rng(seed)
    groups = [rng.choice(250, size=rng.integers(1, 4), replace=False)
              for _ in range(n_structures)]
    X = []
    for g in groups:
        combined = data.structures[g[0]].copy()
        for k, i in enumerate(g[1:], 1):
            part = data.structures[i].copy()
            part.positions += [30.0 * k, 0, 0]
            combined += part
        X.append(combined)
    y = np.array([data.spectra[g].mean(axis=0) for g in groups])
    return X, y, data


def test_site_averaged_regressor_learns_site_spectra_from_averages():
    from xanesnet_sk import SiteAveragedRegressor, XANESNetRegressor, delta_mu

    X, y, data = _multi_site_set(300)
    wacsf = WACSFTransformer(absorber_element="Fe", n_g2=16, n_g4=32)
    net = XANESNetRegressor(hidden_sizes=(128,), max_epochs=60, random_state=0)
    model = SiteAveragedRegressor(wacsf=wacsf, net=net).fit(X, y)
    assert model.n_sites_.max() == 3 and model.n_sites_.min() == 1
    singles = list(range(250, 400))  # unseen complexes, one site each
    learnt = np.median(delta_mu(data.spectra[singles],
                                model.predict([data.structures[i] for i in singles])))
    # the naive alternative: every site of a structure gets the structure's spectrum
    rows = wacsf.fit_transform(X)
    naive = make_xanesnet_pipeline(featurise=False, random_state=0, hidden_sizes=(128,),
                                   max_epochs=60).fit(rows, y[wacsf.sites_[:, 0]])
    single_rows = WACSFTransformer(n_g2=16, n_g4=32).fit_transform(
        [data.structures[i] for i in singles])
    naive_dmu = np.median(delta_mu(data.spectra[singles], naive.predict(single_rows)))
    mean_dmu = np.median(delta_mu(data.spectra[singles], np.broadcast_to(
        data.spectra[:250].mean(axis=0), (len(singles), data.spectra.shape[1]))))
    assert learnt < 0.8 * naive_dmu and learnt < 0.5 * mean_dmu, (learnt, naive_dmu, mean_dmu)
    # per-site predictions, and their mean is predict()
    result = model.predict_sites(X[:5])
    np.testing.assert_allclose(result.spectra, model.predict(X[:5]), rtol=1e-4, atol=1e-5)
    assert result.sites.shape[0] == int(model.wacsf_.transform(X[:5]).shape[0])


def test_site_averaged_regressor_in_grid_search_and_errors():
    from sklearn.model_selection import GridSearchCV

    from xanesnet_sk import SiteAveragedRegressor, XANESNetRegressor

    X, y, _ = _multi_site_set(60, seed=1)
    model = SiteAveragedRegressor(
        wacsf=WACSFTransformer(absorber_element="Fe", n_g2=8, n_g4=16),
        net=XANESNetRegressor(hidden_sizes=(16,), max_epochs=3, random_state=0))
    search = GridSearchCV(model, {"net__lr": [1e-3, 3e-3], "wacsf__r_cut": [5.0, 6.0]}, cv=2)
    search.fit(X, y)
    assert search.best_estimator_.predict(X[:3]).shape == (3, y.shape[1])
    with pytest.raises(ValueError, match="X holds 60 structures but y 59 spectra"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="needs a wacsf with absorber_element set"):
        SiteAveragedRegressor(wacsf=WACSFTransformer()).fit(X, y)


def test_cli_featurise_absorber_element(tmp_path):
    from ase.io import write

    xyz = tmp_path / "s"
    xyz.mkdir()
    write(xyz / "wustite.cif", bulk("FeO", "rocksalt", a=4.3).repeat((2, 1, 1)))
    write(xyz / "pair.xyz", _two_fe_cluster(), format="xyz")
    out = tmp_path / "f.npz"
    assert main(["featurise", "--xyz", str(xyz), "--output", str(out), "--absorber-element",
                 "Fe", "--n-g2", "8", "--n-g4", "16", "-q"]) == 0
    saved = np.load(out)
    assert saved["names"].tolist() == ["pair_0", "pair_3", "wustite_0", "wustite_2"]
    assert saved["sites"].tolist() == [[0, 0], [0, 3], [1, 0], [1, 2]]
    ref = WACSFTransformer(absorber_element="Fe", **SMALL).fit_transform(
        [_two_fe_cluster(), bulk("FeO", "rocksalt", a=4.3).repeat((2, 1, 1))])
    np.testing.assert_allclose(saved["x"], ref, rtol=1e-6)


def _site_net_layers(model):
    """(Linear widths, has BatchNorm, dropout p or 0) of a fitted SiteAveragedRegressor."""
    import torch

    site_net = model.net_.module_.site_net
    linears = [m.out_features for m in site_net.modules() if isinstance(m, torch.nn.Linear)]
    has_bn = any(isinstance(m, torch.nn.BatchNorm1d) for m in site_net.modules())
    drops = [m.p for m in site_net.modules() if isinstance(m, torch.nn.Dropout)]
    return linears, has_bn, drops


def test_site_averaged_regressor_builds_the_net_it_is_given():
    """hidden_sizes, dropout, batch_norm and module__ arguments reach the site network."""
    import torch

    from xanesnet_sk import SiteAveragedRegressor, XANESNetRegressor

    X, y, _ = _multi_site_set(12, seed=2)
    wacsf = WACSFTransformer(absorber_element="Fe", n_g2=8, n_g4=16)
    net = XANESNetRegressor(hidden_sizes=(8, 6), dropout=0.0, batch_norm=False, max_epochs=1,
                            random_state=0, module__activation=torch.nn.Tanh)
    model = SiteAveragedRegressor(wacsf=wacsf, net=net).fit(X, y)
    assert _site_net_layers(model) == ([8, 6, y.shape[1]], False, [])
    assert any(isinstance(m, torch.nn.Tanh) for m in model.net_.module_.modules())
    model.set_params(net__hidden_sizes=(5,), net__dropout=0.3, net__batch_norm=True).fit(X, y)
    assert _site_net_layers(model) == ([5, y.shape[1]], True, [0.3])


def test_site_averaged_regressor_batch_size_one_without_batch_norm():
    from xanesnet_sk import SiteAveragedRegressor, XANESNetRegressor

    X, y, _ = _multi_site_set(6, seed=3)
    net = XANESNetRegressor(hidden_sizes=(4,), batch_norm=False, batch_size=1, max_epochs=2,
                            random_state=0)
    model = SiteAveragedRegressor(wacsf=WACSFTransformer(absorber_element="Fe", n_g2=8,
                                                         n_g4=16), net=net).fit(X, y)
    assert np.isfinite(model.predict(X)).all()


def test_grid_search_over_net_hidden_sizes_changes_the_trained_architecture():
    from sklearn.model_selection import GridSearchCV

    from xanesnet_sk import SiteAveragedRegressor, XANESNetRegressor

    X, y, _ = _multi_site_set(16, seed=4)
    model = SiteAveragedRegressor(
        wacsf=WACSFTransformer(absorber_element="Fe", n_g2=8, n_g4=16),
        net=XANESNetRegressor(hidden_sizes=(16,), max_epochs=2, random_state=0))
    search = GridSearchCV(model, {"net__hidden_sizes": [(3,), (7, 5)]}, cv=2,
                          return_train_score=False).fit(X, y)
    best = search.best_params_["net__hidden_sizes"]
    assert _site_net_layers(search.best_estimator_)[0] == [*best, y.shape[1]]
    # the two candidates did train different nets: their scores differ
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] != scores[1]
