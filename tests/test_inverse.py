"""The inverse pipeline (spectra to descriptors) and the first-shell transformer."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from sklearn.base import clone
from sklearn.metrics import r2_score

from xanesnet_sk import make_xanesnet_pipeline
from xanesnet_sk.ensemble import DeepEnsembleRegressor
from xanesnet_sk.inverse import (
    FirstShell,
    InversePipeline,
    direction_of,
    make_inverse_pipeline,
)
from xanesnet_sk.spectra import Resampler

SMALL = dict(hidden_sizes=(64,), max_epochs=100, n_threads=1)


@pytest.fixture(scope="module")
def pairs():
    """Spectra that are a smooth function of two descriptors, and the descriptors."""
    rng = np.random.default_rng(0)
    d = rng.uniform(size=(200, 2))
    e = np.linspace(0, 1, 40)
    spectra = np.exp(-((e[None, :] - 0.3 - 0.4 * d[:, :1]) ** 2) / 0.01) * (1 + d[:, 1:])
    return spectra + rng.normal(0, 0.01, spectra.shape), d


def test_inverse_learns_descriptors_from_spectra(pairs):
    spectra, d = pairs
    inv = make_inverse_pipeline(random_state=0, **SMALL).fit(spectra[:150], d[:150])
    pred = inv.predict(spectra[150:])
    assert pred.shape == (50, 2)
    assert np.median(r2_score(d[150:], pred, multioutput="raw_values")) > 0.8
    assert isinstance(inv, InversePipeline) and direction_of(inv) == "inverse"
    assert direction_of(clone(inv)) == "inverse"
    assert direction_of(make_xanesnet_pipeline(featurise=False)) == "forward"


def test_inverse_preprocess_and_ensemble(pairs):
    spectra, d = pairs
    energies = np.linspace(0, 100, spectra.shape[1])
    grid = np.linspace(0, 100, 25)
    inv = make_inverse_pipeline(preprocess=[("resample", Resampler(energies, grid, e0=0.0))],
                                random_state=0, n_ensemble=2, **SMALL)
    assert [n for n, _ in inv.steps] == ["preprocess", "scale", "model"]
    assert isinstance(inv[-1], DeepEnsembleRegressor)
    inv.fit(spectra, d)
    mean, std = inv.predict(spectra[:5], return_std=True)
    assert mean.shape == std.shape == (5, 2)
    assert inv[-1].n_features_in_ == 25  # the net sees the resampled spectra


def test_inverse_bad_input(pairs):
    spectra, d = pairs
    with pytest.raises(ValueError, match="n_ensemble"):
        make_inverse_pipeline(n_ensemble=0)
    inv = make_inverse_pipeline(random_state=0, **SMALL).fit(spectra, d)
    with pytest.raises(ValueError, match="features"):
        inv.predict(spectra[:, :-1])  # spectra of the wrong length
    with pytest.raises(ValueError, match="return_std=True needs an ensemble"):
        inv.predict(spectra, return_std=True)


# ----------------------------------------------------------------------------- FirstShell


def octahedron(d=2.0, ligand="O", centre="Fe", extra=None):
    pos = [[0, 0, 0]] + [[s * d * (a == 0), s * d * (a == 1), s * d * (a == 2)]
                         for a in range(3) for s in (1, -1)]
    symbols = centre + ligand * 6
    if extra is not None:
        pos.append(extra)
        symbols += "H"
    return Atoms(symbols, positions=pos)


def test_first_shell_octahedron():
    out = FirstShell().fit_transform([octahedron(2.0), octahedron(1.9, extra=[4, 4, 4])])
    np.testing.assert_allclose(out, [[2.0, 6.0], [1.9, 6.0]])


def test_first_shell_fixed_cutoff_and_absorber_choice():
    mol = octahedron(2.0)
    mol.positions[1] = [3.0, 0, 0]  # one ligand pushed out
    np.testing.assert_allclose(FirstShell(cutoff=2.5).fit_transform([mol]), [[2.0, 5.0]])
    # absorber 1 (the pushed ligand) sees only Fe at 3 A within 3.2 A
    np.testing.assert_allclose(FirstShell(cutoff=3.2, absorber=1).fit_transform([mol]),
                               [[3.0, 1.0]])
    mol.info["absorber"] = 1
    np.testing.assert_allclose(FirstShell(cutoff=3.2).fit_transform([mol]), [[3.0, 1.0]])
    moved = Atoms("OFeO", positions=[[2, 0, 0], [0, 0, 0], [-2, 0, 0]])
    np.testing.assert_allclose(FirstShell(absorber_element="Fe").fit_transform([moved]),
                               [[2.0, 2.0]])


def test_first_shell_no_neighbour_inside_gives_nearest_distance():
    far = Atoms("FeO", positions=[[0, 0, 0], [5.0, 0, 0]])
    np.testing.assert_allclose(FirstShell().fit_transform([far]), [[5.0, 0.0]])


def test_first_shell_periodic():
    fe = bulk("Fe", "bcc", a=2.87)  # 8 nearest neighbours at sqrt(3)/2 a
    out = FirstShell(cutoff=2.6).fit_transform([fe])
    np.testing.assert_allclose(out, [[np.sqrt(3) / 2 * 2.87, 8.0]])
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    np.testing.assert_allclose(FirstShell(cutoff=3.0).fit_transform([nacl]), [[2.82, 6.0]])


def test_first_shell_bad_input():
    with pytest.raises(ValueError, match="absorber index"):
        FirstShell(absorber=9).fit_transform([octahedron()])
    with pytest.raises(ValueError, match="no Cu atom"):
        FirstShell(absorber_element="Cu").fit_transform([octahedron()])
    with pytest.raises(ValueError, match="single atom"):
        FirstShell().fit_transform([Atoms("Fe")])
    with pytest.raises(ValueError, match="cutoff"):
        FirstShell(cutoff=-1.0).fit([octahedron()])


# ----------------------------------------------------------------------------- the cutoff rule


def _shell_of(distances, symbols=None, directions=None):
    """An Fe atom with neighbours at the given distances along the given unit directions."""
    axes = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
    directions = axes[:len(distances)] if directions is None else directions
    symbols = symbols or "O" * len(distances)
    positions = [[0.0, 0.0, 0.0]] + [list(np.multiply(d, u)) for d, u in
                                     zip(distances, directions)]
    return Atoms("Fe" + symbols, positions=positions)


def test_first_shell_counts_neighbours_exactly_at_a_fixed_cutoff():
    """r == cutoff is inside (as f_c is defined for r <= r_c), whether or not a closer
    neighbour exists (the issue: [1.9, 1] for one, [2.0, 6] for the other)."""
    shell = FirstShell(cutoff=2.0)
    np.testing.assert_allclose(shell.fit_transform([_shell_of([1.9] + [2.0] * 5)]),
                               [[(1.9 + 5 * 2.0) / 6, 6.0]])
    np.testing.assert_allclose(shell.fit_transform([_shell_of([2.0] * 6)]), [[2.0, 6.0]])


def test_first_shell_cutoff_is_robust_to_rounding_but_not_wider():
    # an O placed 2.0 A from Fe, whose distance rounds to 2.0000000000000004
    mol = Atoms("FeO", positions=[[0.3, 0.2, 0.1], [-1.082195646596031, -1.1999080787160368,
                                                     0.46026735305402877]])
    assert mol.get_distance(0, 1) > 2.0
    np.testing.assert_allclose(FirstShell(cutoff=2.0).fit_transform([mol]), [[2.0, 1.0]])
    out = FirstShell(cutoff=2.0).fit_transform([_shell_of([1.8, 2.0 - 1e-6, 2.0 + 1e-6])])
    np.testing.assert_allclose(out, [[(1.8 + 2.0 - 1e-6) / 2, 2.0]])
    # nothing inside: the nearest distance and 0, also when the nearest lies just outside
    np.testing.assert_allclose(FirstShell(cutoff=2.0).fit_transform([_shell_of([2.0 + 1e-6])]),
                               [[2.0 + 1e-6, 0.0]])


def test_first_shell_covalent_cutoff_per_pair_and_at_its_edge():
    from ase.data import covalent_radii

    fe_o = 1.25 * (covalent_radii[26] + covalent_radii[8])   # 2.475 A
    fe_h = 1.25 * (covalent_radii[26] + covalent_radii[1])   # 2.0375 A
    # O exactly at its covalent cutoff is in; H beyond its own (shorter) cutoff is out,
    # though it is inside the Fe-O one
    mol = _shell_of([fe_o, fe_o + 1e-6, 1.0, fe_h + 0.1], symbols="OOHH")
    np.testing.assert_allclose(FirstShell().fit_transform([mol]), [[(fe_o + 1.0) / 2, 2.0]])
    # the tolerance is the relative slack: 0 leaves the sum of the radii
    plain = _shell_of([covalent_radii[26] + covalent_radii[8], fe_o], symbols="OO")
    np.testing.assert_allclose(FirstShell(tolerance=0.0).fit_transform([plain]),
                               [[covalent_radii[26] + covalent_radii[8], 1.0]])
    np.testing.assert_allclose(FirstShell(tolerance=0.25).fit_transform([plain]),
                               [[(covalent_radii[26] + covalent_radii[8] + fe_o) / 2, 2.0]])


def test_first_shell_periodic_neighbours_at_the_cutoff():
    a = 2.87
    fe = bulk("Fe", "bcc", a=a)
    np.testing.assert_allclose(FirstShell(cutoff=np.sqrt(3) / 2 * a).fit_transform([fe]),
                               [[np.sqrt(3) / 2 * a, 8.0]])
    # up to the second shell (6 at a) when the cutoff is a itself
    np.testing.assert_allclose(FirstShell(cutoff=a).fit_transform([fe])[0, 1], 14.0)
