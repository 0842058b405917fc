"""Physical properties of wACSF and hand-computed values, on every CPU backend."""

import math

import numpy as np
import pytest
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from wacsf import WACSFTransformer, g2_grid, g4_grid

BACKENDS = ["numpy", "numba"]
SMALL = {"n_g2": 8, "n_g4": 16}


def _cluster(rng, n=12, scale=1.8):
    pos = np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=scale, size=(n, 3))])
    numbers = np.concatenate([[26], rng.choice([1, 6, 7, 8, 17], size=n)])
    return Atoms(numbers=numbers, positions=pos)


def assert_symmetries(transform, atoms, rng):
    """Rotation, translation and permutation of non-absorber atoms change nothing."""
    ref = transform([atoms])[0]
    rotated = atoms.copy()
    rotated.positions = Rotation.random(random_state=rng.integers(1 << 31)).apply(atoms.positions)
    shifted = atoms.copy()
    shifted.positions = atoms.positions + rng.normal(scale=10.0, size=3)
    permuted = atoms.copy()
    order = np.concatenate([[0], 1 + rng.permutation(len(atoms) - 1)])
    permuted = atoms[order]
    out = transform([rotated, shifted, permuted])
    scale = np.maximum(np.abs(ref), 1e-300)
    for row in out:
        assert np.all(np.abs(row - ref) <= 1e-9 * scale + 1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_invariances(backend):
    rng = np.random.default_rng(1)
    t = WACSFTransformer(backend=backend)
    for _ in range(5):
        assert_symmetries(t.transform, _cluster(rng), rng)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 15),
    scale=st.floats(0.8, 4.0),
)
def test_invariances_hypothesis(seed, n, scale):
    rng = np.random.default_rng(seed)
    t = WACSFTransformer(backend="numba", **SMALL)
    assert_symmetries(t.transform, _cluster(rng, n=n, scale=scale), rng)


@pytest.mark.parametrize("backend", BACKENDS)
def test_atoms_beyond_cutoff_change_nothing(backend):
    rng = np.random.default_rng(2)
    atoms = _cluster(rng, n=8, scale=1.2)
    atoms = atoms[np.linalg.norm(atoms.positions, axis=1) < 5.0]
    far = atoms + Atoms("ClBr", positions=[[7.5, 0, 0], [0, -6.01, 0]])
    t = WACSFTransformer(backend=backend)
    np.testing.assert_array_equal(t.transform([far])[0], t.transform([atoms])[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_ordered_is_twice_unordered(backend):
    rng = np.random.default_rng(3)
    X = [_cluster(rng) for _ in range(4)]
    un = WACSFTransformer(backend=backend).transform(X)
    ordered = WACSFTransformer(backend=backend, g4_pairs="ordered").transform(X)
    np.testing.assert_array_equal(ordered[:, :33], un[:, :33])
    np.testing.assert_allclose(ordered[:, 33:], 2.0 * un[:, 33:], rtol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lone_absorber_gives_zeros(backend):
    out = WACSFTransformer(backend=backend).transform([Atoms("Fe"), Atoms("Fe", [[1, 2, 3]])])
    np.testing.assert_array_equal(out, 0.0)


def _fc(r, rc):
    return 0.5 * (math.cos(math.pi * r / rc) + 1.0) if r <= rc else 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_values_two_neighbours(backend):
    """G1, G2, G4 of an absorber with two neighbours, written out by hand."""
    rc = 6.0
    r1, r2 = 1.9, 2.3
    theta = math.radians(100.0)
    p1 = np.array([r1, 0.0, 0.0])
    p2 = r2 * np.array([math.cos(theta), math.sin(theta), 0.0])
    atoms = Atoms("FeOS", positions=[[0, 0, 0], p1, p2])
    w1, w2 = 8.0, 16.0
    r12 = float(np.linalg.norm(p1 - p2))
    t = WACSFTransformer(n_g2=4, n_g4=8, zetas=(1.0, 2.0), lambdas=(1.0, -1.0), backend=backend)
    out = t.transform([atoms])[0]
    eta2, mu2 = g2_grid(4, rc)
    eta4, mu4 = g4_grid(8, rc, n_angular=4)
    expect = [_fc(r1, rc) + _fc(r2, rc)]
    for e, m in zip(eta2, mu2):
        expect.append(
            w1 * _fc(r1, rc) * math.exp(-e * (r1 - m) ** 2)
            + w2 * _fc(r2, rc) * math.exp(-e * (r2 - m) ** 2)
        )
    for e, m in zip(eta4, mu4):
        radial = w1 * w2 * _fc(r1, rc) * _fc(r2, rc) * _fc(r12, rc)
        gauss = math.exp(-e * ((r1 - m) ** 2 + (r2 - m) ** 2 + (r12 - m) ** 2))
        for lam in (1.0, -1.0):
            for zeta in (1.0, 2.0):
                expect.append(
                    2 ** (1 - zeta) * (1 + lam * math.cos(theta)) ** zeta * radial * gauss
                )
    np.testing.assert_allclose(out, expect, rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rjk_beyond_cutoff_kills_the_pair(backend):
    """f_c(r_jk) is cut off too: neighbours 5 A away on opposite sides share no G4."""
    atoms = Atoms("FeOO", positions=[[0, 0, 0], [5.0, 0, 0], [-5.0, 0, 0]])
    out = WACSFTransformer(backend=backend).transform([atoms])[0]
    assert out[0] > 0 and np.any(out[1:33] > 0)
    np.testing.assert_array_equal(out[33:], 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_neighbour_exactly_at_cutoff_contributes_zero(backend):
    near = Atoms("FeO", positions=[[0, 0, 0], [1.9, 0, 0]])
    edge = near + Atoms("Cl", positions=[[0, 4.0, 0]])
    t = WACSFTransformer(r_cut=4.0, n_g2=4, n_g4=8, backend=backend)
    np.testing.assert_allclose(t.transform([edge])[0], t.transform([near])[0], atol=1e-14)


def test_hypothesis_profile_is_derandomised():
    """CI's profile (the default, tests/conftest.py) draws the same examples every run."""
    import os

    if os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci":
        pytest.skip("another Hypothesis profile was asked for")
    assert settings().derandomize is True
    assert settings.get_profile("ci").derandomize is True
