"""The float32 Numba CPU kernel (``dtype="float32"``) against the float64 kernel.

Bar: ``|f32 - f64| <= 1e-5 |f64|`` for every value float32 holds as a
normal number (>= 1.2e-38), on the real Fe complexes and on periodic cells,
both ``rjk_cutoff`` settings (measured on the 110 Fe complexes: at most
2.2e-6, median 9e-8).  Smaller values (G2 Gaussians far from every
neighbour) are float32 subnormals, held to an absolute 1e-41.  With a
shifted G4 grid (eta 19 A^-2 at the defaults; not the default, centred one)
the float32 rounding of r moves exp(-eta (r - mu)^2) by up to
2 eta |r - mu| 2^-24 r relative, which passes 1e-5 for terms several widths
from their centre (``test_every_neighbour_count_modulo_the_vector_width``:
values of 3e-38 to 2e-36 off by up to 1.4e-5; the kernel before this
release's vector-width changes was off as far, 1.05e-5 at 1e-20 and 1e-37 on
other clusters): there the bar is 1e-5 relative plus 1e-10 of the column's
largest value.  Results do
not depend on the thread count.
"""

import math

import numba
import numpy as np
import pytest
from _helpers import clusters_by_neighbour_count
from ase import Atoms
from ase.build import bulk

import wacsf
from wacsf import WACSFTransformer, _cpu, _reference
from wacsf._params import resolve_grids
from wacsf._structures import pack

XANESNET_SETTINGS = dict(r_min=1.0, n_g2=16, n_g4=32, zetas=(1.0,))


FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def assert_float32_close(f32, f64, rtol=1e-5, floor=FLOAT32_TINY, atol=1e-41):
    assert f32.dtype == np.float32 and f64.dtype == np.float64
    err = np.abs(f32.astype(np.float64) - f64)
    big = np.abs(f64) >= floor
    bad = (big & (err > rtol * np.abs(f64))) | (~big & (err > atol))
    assert not bad.any(), (
        f"{bad.sum()} values differ; first at {np.argwhere(bad)[0]}: "
        f"{f32[tuple(np.argwhere(bad)[0])]!r} vs {f64[tuple(np.argwhere(bad)[0])]!r}")
    return (err / np.where(big, np.abs(f64), np.inf)).max()


def _both(structures, **params):
    f64 = WACSFTransformer(backend="numba", **params).transform(structures)
    f32 = WACSFTransformer(backend="numba", dtype="float32", **params).transform(structures)
    return f32, f64


@pytest.fixture(scope="module")
def fe(data_root):
    return wacsf.read_structures(data_root / "fe_k_edge" / "xyz")


@pytest.mark.data
@pytest.mark.parametrize("mode", ["clamped", "xanesnet"])
@pytest.mark.parametrize("settings", ["defaults", "xanesnet"])
def test_fe_complexes_within_1e5(fe, mode, settings):
    params = XANESNET_SETTINGS if settings == "xanesnet" else {}
    f32, f64 = _both(fe, rjk_cutoff=mode, **params)
    worst = assert_float32_close(f32, f64)
    assert worst < 5e-6  # measured: 2.2e-6 at the defaults
    # a real float32 computation, not float64 rounded at the end
    assert not np.array_equal(f32, f64.astype(np.float32))


def _cells():
    fe = bulk("Fe", "bcc", a=2.87, cubic=True).repeat((2, 1, 1))
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    rutile = Atoms("Ti2O4", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.3, 0.3, 0],
                                              [0.7, 0.7, 0], [0.8, 0.2, 0.5], [0.2, 0.8, 0.5]],
                   cell=[4.59, 4.59, 2.96], pbc=True)
    slab = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))
    slab.pbc = (True, True, False)
    for k, atoms in enumerate((fe, nacl, rutile, slab)):
        atoms.rattle(0.03, seed=k)
    return [fe, nacl, rutile, slab]


@pytest.mark.parametrize("mode", ["clamped", "xanesnet"])
def test_periodic_cells_within_1e5(mode):
    cells = _cells()
    f32, f64 = _both(cells, rjk_cutoff=mode, absorber=1)
    assert_float32_close(f32, f64)
    # every site of a cell: rows of many image-rich environments
    for cell, element in ((cells[0], "Fe"), (cells[2], "Ti")):
        f32, f64 = _both([cell], rjk_cutoff=mode, absorber_element=element, n_g2=16, n_g4=32)
        assert_float32_close(f32, f64)


def _clusters(seed, n, scale=2.4, max_atoms=40):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(1, max_atoms))
        pos = np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=scale, size=(m, 3))])
        out.append(Atoms(numbers=np.concatenate([[26], rng.choice([1, 6, 8, 17], size=m)]),
                         positions=pos))
    return out


@pytest.mark.parametrize("params", [
    {},
    dict(g4_pairs="ordered", g4_span="spanning", g4_scheme="shifted"),
    dict(lambdas=(-1.0,), zetas=(1.0, 1.5, 3.0), n_g4=24),  # zeta by pow, odd zeta
    dict(g2_scheme=np.array([[0.5, 0.0], [2.0, 1.5], [40.0, 2.2]]),
         g4_scheme=np.array([[0.3, 0.0], [0.8, 1.2], [3.0, 1.9]])),  # mu != 0 in G4
    dict(weights=lambda z: 0.1 * z, **XANESNET_SETTINGS),
], ids=["defaults", "ordered-spanning-shifted", "pow", "explicit-mu", "xanesnet-weights"])
def test_synthetic_clusters_within_1e5(params):
    f32, f64 = _both(_clusters(0, 30), **params)
    assert_float32_close(f32, f64)


def test_many_neighbours_flush_blocks():
    # > _BLOCK pairs per row and > _BLOCK neighbours: blocks flush, staging rows split
    rng = np.random.default_rng(3)
    big = np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=3.0, size=(420, 3))])
    atoms = Atoms(numbers=[26] + [6, 8, 1, 7] * 105, positions=big)
    f32, f64 = _both([atoms, _clusters(1, 1)[0]], n_g2=8, n_g4=16)
    assert_float32_close(f32, f64)


@pytest.mark.parametrize("g4_scheme", ["centred", "shifted"])
def test_every_neighbour_count_modulo_the_vector_width(g4_scheme):
    """0 to 33 neighbours (every remainder of 8 and 16 float32 lanes), with atoms
    beyond r_c: the padded vector loops keep the float32 bar."""
    structures = [Atoms(numbers=([26] + [6, 8, 1, 7] * 10)[: len(pos)], positions=pos)
                  for pos in clusters_by_neighbour_count(12)]
    f32, f64 = _both(structures, n_g2=8, n_g4=16, g4_scheme=g4_scheme)
    if g4_scheme == "centred":
        assert_float32_close(f32, f64)
    else:  # see the module docstring
        err = np.abs(f32.astype(np.float64) - f64)
        bound = 1e-5 * np.abs(f64) + 1e-10 * np.abs(f64).max(axis=0)
        assert (err <= bound).all(), f"{(err > bound).sum()} values differ"
    assert np.all(f32[0] == 0.0)


def test_lone_absorber_and_far_neighbours_give_zeros():
    lone = Atoms("Fe", [[0.0, 0.0, 0.0]])
    far = Atoms("FeO2", [[0, 0, 0], [6.01, 0, 0], [0, 0, 30.0]])
    one = Atoms("FeO", [[0, 0, 0], [0, 0, 1.9]])
    f32, f64 = _both([lone, far, one], n_g2=8, n_g4=16)
    assert np.all(f32[:2] == 0.0)
    assert np.all(f32[2, 9:] == 0.0) and f32[2, 0] > 0  # one neighbour: no pair
    assert_float32_close(f32, f64)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_thread_count_changes_nothing():
    structures = _clusters(5, 60)
    outs = [WACSFTransformer(backend="numba", dtype="float32", n_jobs=n, chunk_size=25)
            .transform(structures) for n in (1, 2)]
    np.testing.assert_array_equal(outs[0], outs[1])
    packed = pack(structures)
    g = resolve_grids(6.0, 0.0, 32, 64, "shifted", "centred", "xanesnet", (1.0, -1.0),
                      (1.0, 2.0, 4.0, 8.0))
    args = (packed.positions, packed.weights, packed.offsets, packed.absorbers, 6.0,
            g["g2_eta"], g["g2_mu"], g["g4_eta"], g["g4_mu"], g["lambdas"], g["zetas"], 1.0)
    before = numba.get_num_threads()
    try:
        for n in (1, 2):  # the prange kernel, too
            numba.set_num_threads(n)
            out = np.full((len(structures), 97), np.nan, dtype=np.float32)
            _cpu.wacsf_features(*args, out)
            np.testing.assert_array_equal(out, outs[0])
    finally:
        numba.set_num_threads(before)


def test_exp_neg32_accuracy():
    x = np.concatenate([-np.geomspace(1e-30, 1e-3, 40), -np.linspace(0, 104.5, 20001),
                        [-87.33, -103.2, -104.0, -1e4]]).astype(np.float32)
    got = np.array([_cpu._exp_neg32(v) for v in x], dtype=np.float64)
    ref = np.exp(x.astype(np.float64))
    normal = ref >= np.finfo(np.float32).tiny
    # measured: 1.5e-7, 1.3 ulp of float32 (the argument is exact: it is float32)
    assert np.all(np.abs(got - ref)[normal] <= 2.0e-7 * ref[normal])
    assert np.all(np.abs(got - ref)[~normal] <= 2.0 * 2.0 ** -149)  # subnormals round once
    assert _cpu._exp_neg32(np.float32(0.0)) == 1.0
    assert _cpu._exp_neg32(np.float32(-1e4)) == 0.0


def test_cutoff32_matches_libm_cosine():
    r_cut = np.float32(6.0)
    r = np.linspace(0.0, 12.0, 20001).astype(np.float32)
    for limit, ref in ((r_cut, _reference.cutoff(r.astype(np.float64), 6.0)),
                       (np.float32(math.inf), _reference.cutoff_unclamped(r.astype(np.float64),
                                                                          6.0))):
        got = np.array([_cpu._cutoff_rjk32(v, r_cut, limit) for v in r], dtype=np.float64)
        assert np.all(np.abs(got - ref) <= 2.5e-7)
    assert _cpu._cutoff_rjk32(np.float32(6.5), r_cut, r_cut) == 0.0
    assert _cpu._cutoff_rjk32(np.float32(0.0), r_cut, r_cut) == 1.0
