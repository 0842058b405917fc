"""Per-call cost: validation once per fit, and the fast path for a few molecules.

``WACSFTransformer.transform`` of a handful of molecules skips the chunking
machinery (``transformer._transform_small``); these tests pin that it gives
the normal path's numbers bit for bit, that it hands every unusual or bad
input to the normal path (same errors), and that the parameters are
validated again exactly when one changes.
"""

import pickle

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from sklearn.utils._param_validation import InvalidParameterError

from wacsf import WACSFTransformer
from wacsf import transformer as tr

SMALL = dict(n_g2=8, n_g4=16)


def _mols(n=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(2, 25))
        pos = np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=2.2, size=(m, 3))])
        out.append(Atoms(numbers=np.concatenate([[26], rng.choice([1, 6, 7, 8], size=m)]),
                         positions=pos))
    return out


def _both(t, X):
    """(fast path output, its sites_, normal path output, its sites_)."""
    settings = t._settings()
    fast = tr._transform_small(t, X, settings)
    assert fast is not None, "the fast path declined"
    fast_sites = t.sites_.copy()
    settings.small_ok = False  # the cached settings: transform takes the normal path
    try:
        normal = t.transform(X)
    finally:
        settings.small_ok = True
    assert t._settings() is settings
    return fast, fast_sites, normal, t.sites_


CASES = {
    "one": ({}, lambda: _mols(1)),
    "three-one-thread": (dict(n_jobs=1), lambda: _mols(3, 1)),
    "tuple": (dict(n_jobs=1), lambda: tuple(_mols(2, 2))),
    "absorber-int": (dict(absorber=2), lambda: _mols(1, 3)),
    "absorber-negative": (dict(absorber=-1, n_jobs=1), lambda: _mols(3, 4)),
    "absorber-info": (dict(n_jobs=1), lambda: [
        Atoms(a.numbers, a.positions, info={"absorber": np.int64(1)}) for a in _mols(2, 5)]),
    "weights-mapping": (dict(weights={1: 0.1, 6: 0.6, 7: 0.7, 8: 0.8, 26: 2.6}),
                        lambda: _mols(1, 6)),
    "weights-callable": (dict(weights=lambda z: 0.1 * z), lambda: _mols(1, 7)),
    "float32": (dict(dtype="float32"), lambda: _mols(1, 8)),
    "xanesnet-ordered": (dict(rjk_cutoff="xanesnet", g4_pairs="ordered"), lambda: _mols(1, 9)),
    "lone-atom": ({}, lambda: [Atoms("Fe", [[0.0, 0.0, 0.0]])]),
    "water": (dict(absorber=0), lambda: [molecule("H2O")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_is_bit_identical_to_the_normal_path(case):
    params, make = CASES[case]
    X = make()
    t = WACSFTransformer(backend="numba", **SMALL, **params).fit()
    fast, fast_sites, normal, normal_sites = _both(t, X)
    assert fast.dtype == normal.dtype == np.dtype(t.dtype)
    assert fast.shape == normal.shape == (len(X), 1 + 8 + 16)
    np.testing.assert_array_equal(fast, normal)
    np.testing.assert_array_equal(fast_sites, normal_sites)
    assert fast_sites.dtype == np.int64 and fast_sites.flags.c_contiguous
    np.testing.assert_array_equal(t.transform(X), normal)  # and transform takes it


def test_fast_path_equals_a_large_batch():
    # the same molecules inside a batch of 40 on 2 threads: the same numbers
    X = _mols(40, 11)
    t = WACSFTransformer(backend="numba", n_jobs=2)
    batch = t.transform(X)
    for k in (0, 17, 39):
        np.testing.assert_array_equal(t.transform([X[k]])[0], batch[k])


def _declines(t, X):
    settings = t._settings()
    return not settings.small_ok or tr._transform_small(t, X, settings) is None


def test_fast_path_hands_other_inputs_to_the_normal_path():
    mols = _mols(2, 12)
    t = WACSFTransformer(backend="numba", n_jobs=1)
    assert _declines(t, iter(mols))  # a generator
    assert _declines(t, [])
    assert _declines(t, _mols(tr.SMALL_INPUT + 1))
    crystal = bulk("Fe", "bcc", a=2.87)
    assert _declines(t, [crystal])  # periodic
    assert _declines(t, [mols[0], crystal])
    assert _declines(WACSFTransformer(backend="numpy"), mols)
    assert _declines(WACSFTransformer(absorber_element="Fe"), mols)
    assert _declines(WACSFTransformer(absorber="tag"), mols)
    assert _declines(WACSFTransformer(absorber=[0, 0]), mols)
    # more than one structure per thread on 2 threads: the pool runs them
    assert _declines(WACSFTransformer(n_jobs=2), _mols(4))
    assert not _declines(WACSFTransformer(n_jobs=2), _mols(3))
    assert not _declines(WACSFTransformer(n_jobs=1), _mols(tr.SMALL_INPUT))


BAD = {
    "nan": (lambda a: a.positions.__setitem__((1, 0), np.nan), "NaN or infinite"),
    "on-absorber": (lambda a: a.positions.__setitem__(1, a.positions[0]), "sits exactly on"),
    "near-absorber": (lambda a: a.positions.__setitem__(1, a.positions[0] + 1e-7),
                      r"is only 1.73e-07 A from"),
    "z-0": (lambda a: a.numbers.__setitem__(1, 0), "atomic number outside 1..118"),
    "absorber-info-range": (lambda a: a.info.__setitem__("absorber", 99), "out of range"),
    "absorber-info-type": (lambda a: a.info.__setitem__("absorber", 1.0), "must be an atom index"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_molecules_get_the_normal_paths_error(case):
    spoil, message = BAD[case]
    atoms = _mols(1, 13)[0]
    spoil(atoms)
    t = WACSFTransformer(backend="numba")
    assert _declines(t, [atoms])
    with pytest.raises(ValueError, match=message):
        t.transform([atoms])


def test_missing_weight_and_bad_absorber_index_get_the_normal_paths_error():
    atoms = _mols(1, 14)[0]
    t = WACSFTransformer(weights={"Fe": 1.0, "H": 0.1})
    with pytest.raises(ValueError, match="no finite weight for element"):
        t.transform([atoms])
    with pytest.raises(ValueError, match="absorber index 50 is out of range"):
        WACSFTransformer(absorber=50).transform([atoms])
    with pytest.raises(ValueError, match="must map an array of atomic numbers"):
        WACSFTransformer(weights=lambda z: 1.0).transform([atoms])


# --- validation once per fit ------------------------------------------------------------


def _count_validations(monkeypatch):
    calls = []
    real = WACSFTransformer._validate_params

    def spy(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(WACSFTransformer, "_validate_params", spy)
    return calls


def test_parameters_are_validated_once_not_per_call(monkeypatch):
    calls = _count_validations(monkeypatch)
    X = _mols(1, 15)
    t = WACSFTransformer(**SMALL).fit()
    n_fit = len(calls)
    assert n_fit >= 1
    for _ in range(5):
        t.transform(X)
    t.transform(_mols(30, 16))  # the normal path too
    assert len(calls) == n_fit
    t.fit()
    assert len(calls) > n_fit  # fit always validates
    # transform without fit validates once, on its first call
    calls.clear()
    u = WACSFTransformer(**SMALL)
    u.transform(X)
    u.transform(X)
    assert len(calls) == 1


def test_a_changed_parameter_is_validated_and_used(monkeypatch):
    X = _mols(2, 17)
    t = WACSFTransformer(n_g2=8, n_g4=16, zetas=[1.0, 2.0], n_jobs=1).fit()
    before = t.transform(X)
    t.set_params(n_g2=4)
    assert t.transform(X).shape == (2, 1 + 4 + 16)
    t.set_params(n_g2=8)
    np.testing.assert_array_equal(t.transform(X), before)
    t.zetas[1] = 4.0  # a list edited in place
    changed = t.transform(X)
    np.testing.assert_array_equal(
        changed, WACSFTransformer(n_g2=8, n_g4=16, zetas=(1.0, 4.0)).transform(X))
    t.rjk_cutoff = "none"  # assigned directly, no set_params
    with pytest.raises(InvalidParameterError, match="rjk_cutoff"):
        t.transform(X)
    t.rjk_cutoff = "clamped"
    t.weights = {1: 1.0}  # a mapping edited in place afterwards
    t.transform([Atoms("H2", [[0, 0, 0], [0, 0, 1.0]])])
    t.weights[1] = 2.0
    doubled = t.transform([Atoms("H2", [[0, 0, 0], [0, 0, 1.0]])])
    np.testing.assert_array_equal(
        doubled, WACSFTransformer(n_g2=8, n_g4=16, zetas=(1.0, 4.0), weights={1: 2.0})
        .transform([Atoms("H2", [[0, 0, 0], [0, 0, 1.0]])]))


def test_the_cache_is_not_pickled():
    X = _mols(1, 18)
    t = WACSFTransformer(**SMALL).fit()
    out = t.transform(X)
    state = t.__getstate__()
    assert "_settings_cache" not in state
    assert "_settings_cache" in t.__dict__  # the estimator itself keeps it
    u = pickle.loads(pickle.dumps(t))
    assert "_settings_cache" not in u.__dict__
    np.testing.assert_array_equal(u.transform(X), out)
