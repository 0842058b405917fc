"""The Numba CPU kernel (``wacsf._cpu``) against the NumPy oracle.

Agreement criterion, per element, for a parameter set and a set of
structures (all 110 Fe complexes, or all S molecules)::

    |fast - oracle| <= 1e-10 * |oracle| + 1e-10 * max(|oracle[:, column]|)

The first term is the 1e-10 relative bar.  The second is needed because some
features are mathematically tiny next to their column's scale (G2 at mu =
0.5 is ~1e-19 when the nearest neighbour sits at 2 Angstrom; a G4 sum whose
only pairs sit next to r_c carries f_c ~ 1e-6 products): there the oracle's
own ``0.5 * (cos(x) + 1)`` and ``exp`` round at ~1e-16 *absolute* on each
factor, so a correct kernel can differ from it by more than 1e-10 of that
element while the difference is still < 1e-10 of what the feature measures
across the data set.  (Measured: the largest purely relative deviation over
all 110 Fe with the defaults is ~1e-15.)

The synthetic edge cases need no data; the real-data tests skip unless
XANESNET_SK_DATA is set (see tests/conftest.py).
"""

import math

import numba
import numpy as np
import pytest
from _helpers import clusters_by_neighbour_count

import wacsf
from wacsf import _cpu, _reference
from wacsf._params import resolve_grids
from wacsf._structures import pack

RTOL = 1e-10

DEFAULTS = dict(
    r_cut=6.0, r_min=0.0, n_g2=32, n_g4=64, g2_scheme="shifted", g4_scheme="centred",
    g4_span="xanesnet", lambdas=(1.0, -1.0), zetas=(1.0, 2.0, 4.0, 8.0),
)

PARAMS = {
    "defaults": {},
    "small-rcut5": dict(r_cut=5.0, n_g2=16, n_g4=32, zetas=(1.0, 2.0)),
    "ordered": dict(pair_scale=2.0),
    "spanning": dict(g4_span="spanning"),
    "shifted-g4": dict(g4_scheme="shifted"),
    "explicit-mu": dict(
        g2_scheme=np.array([[0.5, 0.0], [2.0, 1.5], [0.1, 3.0], [40.0, 2.2]]),
        g4_scheme=np.array([[0.3, 0.0], [0.8, 1.2], [0.05, 2.5], [3.0, 1.9]]),
    ),
    "zeta-1.5-one-lambda": dict(lambdas=(-1.0,), zetas=(1.0, 1.5, 3.0), n_g4=24),
}


def _grids(**kw):
    params = {**DEFAULTS, **kw}
    params.pop("pair_scale", None)
    return resolve_grids(**params)


def _features(kernel, packed, r_cut, grids, pair_scale=1.0):
    n_feat = 1 + grids["g2_eta"].size + grids["g4_eta"].size * (
        grids["lambdas"].size * grids["zetas"].size
    )
    out = np.full((packed.n_structures, n_feat), np.nan)
    kernel(
        packed.positions, packed.weights, packed.offsets, packed.absorbers, float(r_cut),
        grids["g2_eta"], grids["g2_mu"], grids["g4_eta"], grids["g4_mu"], grids["lambdas"],
        grids["zetas"], pair_scale, out,
    )
    return out


def assert_matches_oracle(packed, r_cut=6.0, pair_scale=1.0, **kw):
    grids = _grids(r_cut=r_cut, **kw)
    ref = _features(_reference.wacsf_features, packed, r_cut, grids, pair_scale)
    got = _features(_cpu.wacsf_features, packed, r_cut, grids, pair_scale)
    assert np.all(np.isfinite(got)), "every element of out must be written"
    col_max = np.abs(ref).max(axis=0)
    bound = RTOL * np.abs(ref) + RTOL * col_max
    bad = np.abs(got - ref) > bound
    if bad.any():
        s, c = np.argwhere(bad)[0]
        raise AssertionError(
            f"{bad.sum()} elements differ; first: structure {s}, column {c}: "
            f"kernel {got[s, c]!r} oracle {ref[s, c]!r}"
        )
    return got, ref


@pytest.fixture(scope="module")
def real_packs(data_root):
    fe = pack(wacsf.read_structures(data_root / "fe_k_edge" / "xyz"))
    s = pack(wacsf.read_structures(data_root / "s_k_edge" / "xyz"))
    return {"fe": fe, "s": s}


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("which", ["fe", "s"])
def test_real_structures_match_oracle(real_packs, which, name):
    kw = dict(PARAMS[name])
    r_cut = kw.pop("r_cut", 6.0)
    pair_scale = kw.pop("pair_scale", 1.0)
    got, ref = assert_matches_oracle(real_packs[which], r_cut=r_cut, pair_scale=pair_scale, **kw)
    if name == "defaults" and which == "fe":
        # the purely relative error on the real Fe data is far below the bar
        rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
        assert rel[np.abs(ref) > 1e-8 * np.abs(ref).max(axis=0)].max() < 1e-13


# --- synthetic structures, no data needed ------------------------------------------------


def _pack(*position_lists, numbers=None, absorber=0):
    from ase import Atoms

    atoms = []
    for pos in position_lists:
        pos = np.asarray(pos, dtype=np.float64)
        z = numbers if numbers is not None else [26] + [8] * (len(pos) - 1)
        atoms.append(Atoms(numbers=z[: len(pos)], positions=pos))
    return pack(atoms, absorber=absorber)


def _random_cluster(rng, n, scale):
    return np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=scale, size=(n, 3))])


def test_lone_absorber_gives_zeros():
    packed = _pack([[0.0, 0.0, 0.0]])
    got, _ = assert_matches_oracle(packed)
    assert np.all(got == 0.0)


def test_neighbours_beyond_cutoff_give_zeros():
    packed = _pack([[0, 0, 0], [6.01, 0, 0], [0, -7.0, 0], [0, 0, 30.0]])
    got, _ = assert_matches_oracle(packed)
    assert np.all(got == 0.0)


def test_neighbour_exactly_at_cutoff():
    # f_c(r_c) = 0: one neighbour at r_c and a pair (j, k) with r_jk = r_c exactly
    packed = _pack(
        [[0, 0, 0], [6.0, 0, 0], [1.5, 0, 0]],
        [[0, 0, 0], [3.0, 0, 0], [-3.0, 0, 0], [0, 2.0, 0]],
    )
    got, ref = assert_matches_oracle(packed)
    assert got[0, 0] == ref[0, 0]


def test_collinear_atoms():
    # cos theta = -1 (opposite) and +1 (same side): clipping keeps 1 +- cos >= 0
    packed = _pack(
        [[0, 0, 0], [1.1, 0, 0], [-1.3, 0, 0]],
        [[0, 0, 0], [0, 1.0, 0], [0, 2.5, 0], [0, 4.0, 0]],
        [[0, 0, 0], [0.7, 0.7, 0.7], [-1.4, -1.4, -1.4], [2.1, 2.1, 2.1]],
    )
    got, _ = assert_matches_oracle(packed)
    assert_matches_oracle(packed, lambdas=(1.0, -1.0), zetas=(1.0, 1.5, 8.0), n_g4=48)


def test_many_atoms_grow_scratch():
    # more neighbours than the pair block and the staging rows: blocks flush,
    # rows split; next to a tiny structure so scratch is sized by the largest
    rng = np.random.default_rng(3)
    big = _random_cluster(rng, 420, 3.0)
    small = _random_cluster(rng, 4, 1.5)
    packed = _pack(small, big, small, numbers=[26] + [6, 8, 1, 7] * 200)
    assert_matches_oracle(packed, n_g2=8, n_g4=16)


@pytest.mark.parametrize("g4", ["sum-only", "with-mu"])
def test_every_neighbour_count_modulo_the_vector_width(g4):
    """0 to 33 neighbours, some atoms beyond r_c: the vector loops run over whole
    vectors padded past the last neighbour (wacsf._cpu._pad_neighbours), and
    every remainder of 4, 8 and 16 lanes gives the oracle's numbers; so do the
    pair rows that start at every offset within a vector."""
    clusters = clusters_by_neighbour_count(11)
    packed = _pack(*clusters, numbers=[26] + [6, 8, 1, 7] * 10)
    grids = {"sum-only": {}, "with-mu": dict(g4_scheme="shifted")}[g4]
    got, _ = assert_matches_oracle(packed, n_g2=8, n_g4=16, **grids)
    assert np.all(got[0] == 0.0) and got[1, 0] > 0 and np.all(got[1, 9:] == 0.0)


def test_underflow_and_mu_shift():
    # large eta: exp arguments far below -745 (exactly 0) and in the
    # subnormal range, next to ordinary ones
    rng = np.random.default_rng(4)
    packed = _pack(*[_random_cluster(rng, 12, 2.0) for _ in range(6)])
    assert_matches_oracle(
        packed,
        g2_scheme=np.array([[60.0, 0.0], [400.0, 1.0], [1e4, 2.0], [0.0, 0.0]]),
        g4_scheme=np.array([[20.0, 0.0], [60.0, 1.5], [1e3, 0.0], [0.0, 0.0]]),
    )


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("n_struct", [1, 2, 3, 37])
def test_thread_count_changes_nothing(n_struct):
    rng = np.random.default_rng(n_struct)
    packed = _pack(*[_random_cluster(rng, int(rng.integers(1, 60)), 2.0) for _ in range(n_struct)])
    grids = _grids()
    before = numba.get_num_threads()
    try:
        results = []
        for n_threads in (1, 2):
            numba.set_num_threads(n_threads)
            results.append(_features(_cpu.wacsf_features, packed, 6.0, grids))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])
    assert_matches_oracle(packed)


def test_exp_neg_accuracy():
    x = np.concatenate([
        -np.geomspace(1e-300, 1e-3, 50), -np.linspace(0, 745.5, 20001), [-745.13, -746.0, -1e4],
    ])
    got = np.array([_cpu._exp_neg(v) for v in x])
    ref = np.exp(x)
    normal = ref >= np.finfo(np.float64).tiny
    ulp = np.spacing(ref)
    assert np.all(np.abs(got - ref)[normal] <= 2.0 * ulp[normal])  # measured: 2 ulp, 4.3e-16
    # subnormal results round once, like libm's (to within one unit)
    sub = ~normal
    assert np.all(np.abs(got - ref)[sub] <= np.spacing(0.0) * 1.0)
    assert _cpu._exp_neg(0.0) == 1.0
    assert _cpu._exp_neg(-1e4) == 0.0


@numba.njit
def _exponents_both_ways(x):
    """n = round(x / ln 2) as _exp_neg reads it (from t's bits) and by int(t - magic)."""
    bits = np.empty(x.size, dtype=np.int64)
    conv = np.empty(x.size, dtype=np.int64)
    for q in range(x.size):
        t = _cpu._fma(max(x[q], _cpu._EXP_MIN_ARG), _cpu._LOG2E, _cpu._ROUND_MAGIC)
        bits[q] = _cpu._f64_as_i64(t) - _cpu._ROUND_MAGIC_BITS
        conv[q] = int(t - _cpu._ROUND_MAGIC)
    return bits, conv


def test_exp_neg_reads_n_from_the_rounded_bits_exactly():
    """n from t's bits (no float -> int conversion, which AVX2 lacks for packed
    float64) equals ``int(t - 1.5 * 2^52)``: the exponential is the one the kernel
    computed before the change, bit for bit."""
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(50.0, 200_000), -rng.uniform(0.0, 800.0, 200_000),
                        [0.0, -0.0, -1e-300, -745.13, -745.2, -746.0, -1e300, -math.inf]])
    bits, conv = _exponents_both_ways(x)
    np.testing.assert_array_equal(bits, conv)
    assert _cpu._ROUND_MAGIC_BITS == np.float64(_cpu._ROUND_MAGIC).view(np.int64)


def test_a_neighbour_on_the_absorber_still_raises_zero_division():
    """The pair pass divides without Numba's zero test (it vectorises then); _g4 raises
    the ZeroDivisionError that test raised for a neighbour at distance 0 (transform
    refuses such input before the kernel; this calls the kernel directly)."""
    from types import SimpleNamespace

    grids = _grids(r_cut=6.0, n_g2=2, n_g4=2, lambdas=(1.0,), zetas=(1.0,))
    packed = SimpleNamespace(
        positions=np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.5, 0.0, 0.0]]),
        weights=np.array([26.0, 8.0, 6.0]), offsets=np.array([0, 3]), absorbers=np.array([0]),
        n_structures=1,
    )
    # Numba reports an error raised in the GIL-free kernel as a SystemError whose cause
    # is the ZeroDivisionError (as it did when the division itself raised it)
    with pytest.raises((ZeroDivisionError, SystemError)) as err:
        _features(_cpu.wacsf_features, packed, 6.0, grids)
    assert isinstance(err.value, ZeroDivisionError) or isinstance(
        err.value.__cause__, ZeroDivisionError)
    packed.positions[1] = [0.0, 1.2, 0.0]  # the same structure without the clash computes
    assert np.all(np.isfinite(_features(_cpu.wacsf_features, packed, 6.0, grids)))


def test_cutoff_poly_matches_libm_cosine():
    r_cut = 6.0
    r = np.concatenate([np.linspace(0.0, 6.0, 10001), [6.0, 6.0 + 1e-12, 7.0]])
    got = np.array([_cpu._cutoff_poly(v, r_cut) for v in r])
    ref = _reference.cutoff(r, r_cut)
    assert np.all(np.abs(got - ref) <= 4e-16)
    assert _cpu._cutoff_poly(6.0, r_cut) == 0.0
    assert _cpu._cutoff_poly(6.0 + 1e-12, r_cut) == 0.0
    assert _cpu._cutoff_poly(0.0, r_cut) == 1.0
    assert math.isclose(_cpu._cutoff_poly(3.0, r_cut), 0.5, rel_tol=1e-15)


def test_fastmath_default_is_off():
    assert _cpu.FASTMATH is False


def test_every_cached_kernel_has_its_own_cache_file():
    # Numba names cache files after the function's qualified name and line and does
    # not key them on ``parallel``: the serial twin of a parallel kernel sharing the
    # file loaded whichever was cached first (a parallel kernel then ran on one thread)
    import numba.core.registry

    from wacsf import _cpu, _periodic

    names = {}
    for module in (_cpu, _periodic):
        for name, obj in vars(module).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj._cache._enabled:
                index = obj._cache._cache_file._index_name
                assert index not in names, f"{name} and {names[index]} share {index}"
                names[index] = name
    assert {"_kernel", "_serial_kernel", "_kernel32", "_serial_kernel32"} <= set(names.values())


@numba.njit
def _pow2_32(n):
    """2.0f**n, -126 <= n <= 127 (a float32 power of two is exact)."""
    return np.float32(2.0 ** n)


@numba.njit
def _exp_neg32_by_conversion(x):
    """exp32 as the kernel computes it, but with n = int(t - 1.5 * 2^23) and the
    scaling in Numba's int64 arithmetic: the form before n was read from t's bits."""
    out = np.empty(x.size, dtype=np.float32)
    for q in range(x.size):
        xq = max(x[q], _cpu._EXP_MIN_ARG32)
        t = _cpu._fma32(xq, _cpu._LOG2E32, _cpu._ROUND_MAGIC32)
        fn = t - _cpu._ROUND_MAGIC32
        r = _cpu._fma32(-fn, _cpu._LN2_LO32, _cpu._fma32(-fn, _cpu._LN2_HI32, xq))
        r2 = r * r
        r4 = r2 * r2
        c = _cpu._EXP_C32
        p03 = _cpu._fma32(r2, _cpu._fma32(r, c[3], c[2]), _cpu._ONE32 + r)
        p47 = _cpu._fma32(r2, _cpu._fma32(r, c[7], c[6]), _cpu._fma32(r, c[5], c[4]))
        p = _cpu._fma32(r4, p47, p03)
        n = int(t - _cpu._ROUND_MAGIC32)
        n1 = n >> 1
        out[q] = (p * _pow2_32(n - n1)) * _pow2_32(n1)
    return out


@numba.njit
def _exp_neg32_kernel(x):
    out = np.empty(x.size, dtype=np.float32)
    for q in range(x.size):
        out[q] = _cpu._exp_neg32(x[q])
    return out


def test_exp_neg32_reads_n_from_the_rounded_bits_exactly():
    """The float32 exponential's n from t's bits (in int32 lanes, _times_pow2_32) gives
    the exponentials of ``n = int(t - 1.5 * 2^23)`` with Numba's int64 scaling, bit for
    bit, over its whole range (subnormal results and the clamp at -104 included)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(10.0, 200_000), -rng.uniform(0.0, 120.0, 200_000),
                        [0.0, -0.0, -1e-38, -86.0, -87.5, -103.9, -104.0, -105.0, -1e30,
                         -math.inf]]
                       ).astype(np.float32)
    assert _cpu._ROUND_MAGIC32_BITS == np.float32(_cpu._ROUND_MAGIC32).view(np.int32)
    kernel, before = _exp_neg32_kernel(x), _exp_neg32_by_conversion(x)
    np.testing.assert_array_equal(kernel.view(np.int32), before.view(np.int32))
    assert (kernel[x < -87.4] < np.finfo(np.float32).tiny).any()  # subnormals were tested
    assert kernel[x == 0.0].tolist() == [1.0, 1.0] and kernel[-1] == 0.0
