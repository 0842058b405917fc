"""Parameter grids and feature names (wacsf._params)."""

import numpy as np
import pytest

from wacsf import WACSFTransformer, g2_grid, g4_expand, g4_grid


def test_shifted_g2_grid_matches_spec():
    eta, mu = g2_grid(32, r_cut=6.0, r_min=0.0, scheme="shifted")
    r = np.linspace(0.5, 5.5, 32)
    np.testing.assert_allclose(mu, r)
    np.testing.assert_allclose(eta, 1.0 / (2.0 * (r[1] - r[0]) ** 2))


def test_centred_grid_matches_spec():
    eta, mu = g2_grid(5, r_cut=6.0, scheme="centred")
    r = np.linspace(1.0, 5.5, 5)
    np.testing.assert_allclose(eta, 1.0 / (2.0 * r**2))
    assert np.all(mu == 0.0)


def test_g4_default_keeps_first_points_of_full_grid():
    eta, mu = g4_grid(64, r_cut=6.0, n_angular=8)
    r = np.linspace(1.0, 5.5, 64)[:8]
    np.testing.assert_allclose(eta, 1.0 / (2.0 * r**2))
    assert r[-1] == pytest.approx(1.5, abs=0.01)


def test_g4_spanning_grid_covers_whole_range():
    eta, mu = g4_grid(64, r_cut=6.0, n_angular=8, span="spanning")
    np.testing.assert_allclose(eta, 1.0 / (2.0 * np.linspace(1.0, 5.5, 8) ** 2))


def test_g4_published_v_data_were_made_with_default_grid(data_root):
    """The published V features' G4 columns have the default grid's scale.

    With the spanning grid, G4 at the widest Gaussian would be orders of
    magnitude larger than with r_k <= 1.5 A; the file's column means show
    which one made it.
    """
    x = np.load(data_root / "tmqm_k_edge_v.npz")["x"]
    assert x.shape == (1439, 97)
    from wacsf import read_structures

    fe = read_structures(sorted((data_root / "fe_k_edge" / "xyz").glob("*.xyz"))[:20])
    default = WACSFTransformer(backend="numpy").transform(fe)
    spanning = WACSFTransformer(g4_span="spanning", backend="numpy").transform(fe)
    last = 96  # widest (eta, mu), lambda=-1, zeta=8
    v_mean = x[:, last].mean()
    assert abs(np.log10(v_mean / default[:, last].mean())) < 1.0
    assert abs(np.log10(v_mean / spanning[:, last].mean())) > 1.0


def test_g4_expand_order():
    params = g4_expand([0.1, 0.2], [0.0, 0.0], [1.0, -1.0], [1.0, 2.0])
    assert params.shape == (8, 4)
    np.testing.assert_array_equal(params[:4, 0], 0.1)  # (eta, mu) slowest
    np.testing.assert_array_equal(params[:4, 2], [1, 1, -1, -1])  # then lambda
    np.testing.assert_array_equal(params[:4, 3], [1, 2, 1, 2])  # zeta fastest


def test_feature_names_carry_parameters():
    names = WACSFTransformer().get_feature_names_out()
    assert len(names) == 97
    assert names[0] == "g1"
    assert names[1].startswith("g2_eta=") and "_mu=0.5" in names[1]
    assert names[33].startswith("g4_eta=0.5_mu=0_lambda=1_zeta=1")
    assert names[-1].endswith("_lambda=-1_zeta=8")
    assert len(set(names)) == 97


def test_n_g4_not_divisible_is_a_clear_error():
    with pytest.raises(ValueError, match=r"n_g4=60 is not divisible by .* = 8"):
        WACSFTransformer(n_g4=60).fit()


def test_empty_grid_is_a_clear_error():
    with pytest.raises(ValueError, match="r_cut"):
        WACSFTransformer(r_cut=1.2).fit()


def test_explicit_grids():
    g2 = np.array([[1.0, 1.5], [0.5, 2.5]])
    g4 = np.array([[0.3, 0.5]])
    t = WACSFTransformer(g2_scheme=g2, g4_scheme=g4, zetas=(1.0, 2.0))
    names = t.get_feature_names_out()
    assert len(names) == 1 + 2 + 4
    assert names[1] == "g2_eta=1_mu=1.5"
    assert names[3] == "g4_eta=0.3_mu=0.5_lambda=1_zeta=1"
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        WACSFTransformer(g2_scheme=[1.0, 2.0, 3.0]).fit()
    with pytest.raises(ValueError, match="eta column"):
        WACSFTransformer(g4_scheme=[[-1.0, 0.0]]).fit()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lambdas": (1.0, 0.5)}, "lambdas"),
        ({"lambdas": ()}, "lambdas"),
        ({"zetas": (0.5,)}, "zetas"),
        ({"r_min": 7.0}, "r_min"),
    ],
)
def test_bad_angular_and_radial_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        WACSFTransformer(**params).fit()
