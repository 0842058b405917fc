"""The CUDA backend against the NumPy oracle, on the CUDA simulator.

``tests/conftest.py`` sets ``NUMBA_ENABLE_CUDASIM=1`` before ``numba.cuda``
is imported, so these run without a GPU (slowly: every thread is Python).
Inputs are kept small, and ``THREADS_PER_BLOCK`` is patched to a few threads
so that several blocks, partial blocks and multi-pass strides all happen.
Run with ``XANESNET_SK_DATA=/work/shared/data python -m pytest tests/test_cuda.py``.
"""

import subprocess
import sys

import numpy as np
import pytest
from ase import Atoms

from wacsf import WACSFTransformer, _backends, _reference, read_structures
from wacsf._params import resolve_grids
from wacsf._structures import pack

needs_cuda = pytest.mark.skipif(
    not _backends.cuda_available(),
    reason=(
        "numba.cuda is not usable: install numba-cuda and export NUMBA_ENABLE_CUDASIM=1 "
        "before pytest starts (numba reads it when first imported, which can happen "
        "before tests/conftest.py runs)"
    ),
)

PAPER = dict(r_cut=6.0, n_g2=32, n_g4=64)
OTHER = dict(r_cut=5.0, n_g2=8, n_g4=16, g4_span="spanning", zetas=(1.0, 2.0), g4_pairs="ordered")


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """The CUDA module with 8 threads per block (None where numba.cuda is missing)."""
    try:
        from wacsf import _cuda
    except ImportError:
        return None
    monkeypatch.setattr(_cuda, "THREADS_PER_BLOCK", 8)
    return _cuda


def _kernel_args(X, r_cut=6.0, n_g2=32, n_g4=64, g4_span="xanesnet", lambdas=(1.0, -1.0),
                 zetas=(1.0, 2.0, 4.0, 8.0), g4_pairs="unordered"):
    packed = pack(X)
    g = resolve_grids(r_cut, 0.0, n_g2, n_g4, "shifted", "centred", g4_span, lambdas, zetas)
    n_features = 1 + g["g2_eta"].size + g["g4_eta"].size * g["lambdas"].size * g["zetas"].size
    args = (
        packed.positions, packed.weights, packed.offsets, packed.absorbers, float(r_cut),
        g["g2_eta"], g["g2_mu"], g["g4_eta"], g["g4_mu"], g["lambdas"], g["zetas"],
        2.0 if g4_pairs == "ordered" else 1.0,
    )
    return args, (len(packed.offsets) - 1, n_features)


def _oracle_and_cuda(X, dtype="float64", **params):
    from wacsf import _cuda

    args, shape = _kernel_args(X, **params)
    ref = _reference.wacsf_features(*args, np.empty(shape))
    out = _cuda.wacsf_features(*args, np.full(shape, np.nan), dtype=dtype)
    return out, ref


def assert_matches(out, ref, rtol=1e-10, atol=1e-10):
    """|out - ref| <= rtol |ref| + atol * (column max of |ref|), everywhere."""
    colmax = np.abs(ref).max(axis=0)
    bound = rtol * np.abs(ref) + atol * colmax
    err = np.abs(out - ref)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), f"worst excess {np.max(err - bound):.3g} at {worst}"


def _cluster(rng, n, scale=1.8):
    pos = np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=scale, size=(n, 3))])
    numbers = np.concatenate([[26], rng.choice([1, 6, 7, 8, 17], size=n)])
    return Atoms(numbers=numbers, positions=pos)


def _smallest(directory, k, r_cut=6.0):
    """The k structures with the fewest neighbours of atom 0 within r_cut."""
    structures = read_structures(directory)
    counts = [
        int((np.linalg.norm(a.positions - a.positions[0], axis=1) <= r_cut).sum())
        for a in structures
    ]
    return [structures[i] for i in np.argsort(counts, kind="stable")[:k]]


# --- host-side pieces ---------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("m", range(0, 14))
def test_pair_index_enumerates_every_unordered_pair_once(m):
    from wacsf._cuda import _pair_index

    pairs = [_pair_index(p, m) for p in range(m * (m - 1) // 2)]
    assert all(0 <= j < m and 0 <= k < m and j != k for j, k in pairs)
    assert sorted(tuple(sorted(jk)) for jk in pairs) == [
        (j, k) for j in range(m) for k in range(j + 1, m)
    ]


def test_import_wacsf_does_not_load_numba_cuda():
    code = "import wacsf, sys; assert 'numba.cuda' not in sys.modules, 'numba.cuda was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_backends, "cuda_available", lambda: False)
    t = WACSFTransformer(backend="cuda", n_g2=4, n_g4=8)
    with pytest.raises(ValueError, match=r"backend='cuda'.*no CUDA GPU.*NUMBA_ENABLE_CUDASIM"):
        t.transform([_cluster(np.random.default_rng(0), 3)])


@needs_cuda
def test_wrong_out_shape_and_dtype_are_clear_errors():
    from wacsf import _cuda

    args, (n, f) = _kernel_args([_cluster(np.random.default_rng(0), 3)], n_g2=4, n_g4=8)
    with pytest.raises(ValueError, match="out has shape"):
        _cuda.wacsf_features(*args, np.empty((n, f + 1)))
    with pytest.raises(ValueError, match="dtype must be"):
        _cuda.wacsf_features(*args, np.empty((n, f)), dtype="float16")


# --- real structures against the oracle ---------------------------------------


@needs_cuda
@pytest.mark.data
@pytest.mark.parametrize("params", [PAPER, OTHER], ids=["paper", "other"])
def test_fe_complexes_match_oracle(data_root, params):
    structures = _smallest(data_root / "fe_k_edge" / "xyz", 3, params["r_cut"])
    if params is OTHER:  # r_cut 5 keeps the pairs few: add a large complex too
        structures.append(
            max(read_structures(sorted((data_root / "fe_k_edge" / "xyz").glob("*.xyz"))[:3]),
                key=len)
        )
    out, ref = _oracle_and_cuda(structures, **params)
    assert_matches(out, ref)


@needs_cuda
@pytest.mark.data
@pytest.mark.parametrize("params", [PAPER, OTHER], ids=["paper", "other"])
def test_s_molecules_match_oracle(data_root, params):
    structures = read_structures(sorted((data_root / "s_k_edge" / "xyz").glob("*.xyz"))[:10])
    out, ref = _oracle_and_cuda(structures, **params)
    assert_matches(out, ref)


# --- kernel paths on synthetic clusters ----------------------------------------


@needs_cuda
@pytest.mark.parametrize("threads", [1, 6, 32])
def test_block_sizes(small_blocks, monkeypatch, threads):
    monkeypatch.setattr(small_blocks, "THREADS_PER_BLOCK", threads)
    rng = np.random.default_rng(threads)
    X = [_cluster(rng, n) for n in (2, 9, 14)]
    out, ref = _oracle_and_cuda(X, n_g2=6, n_g4=16)
    assert_matches(out, ref)


@needs_cuda
def test_global_scratch_feature_tiles_and_general_zeta(small_blocks, monkeypatch):
    """Structures too big for shared memory, features in several tiles, zeta by pow."""
    monkeypatch.setattr(small_blocks, "MAX_SHARED_NEIGHBOURS", 5)
    monkeypatch.setattr(small_blocks, "FEATURE_TILE", 7)  # tiles cut G2 and (eta, mu) groups
    rng = np.random.default_rng(5)
    X = [_cluster(rng, n) for n in (4, 5, 12, 3, 16)]
    # powers in an order that makes the repeated squaring restart; 3 and 2.5 use pow
    out, ref = _oracle_and_cuda(X, n_g2=9, n_g4=36, zetas=(4.0, 1.0, 2.5, 2.0, 8.0, 3.0),
                                lambdas=(1.0, -1.0, 1.0))
    assert_matches(out, ref)


@needs_cuda
def test_lone_absorber_and_empty_neighbourhood():
    rng = np.random.default_rng(2)
    lone = Atoms(numbers=[26], positions=[[0.0, 0.0, 0.0]])
    far = Atoms(numbers=[26, 8, 8], positions=[[0, 0, 0], [0, 0, 7.0], [7.0, 0, 0]])
    one = Atoms(numbers=[26, 8], positions=[[0, 0, 0], [0, 0, 1.9]])
    X = [_cluster(rng, 7), lone, far, one, _cluster(rng, 4)]
    out, ref = _oracle_and_cuda(X, n_g2=6, n_g4=16)
    assert np.all(out[1] == 0.0) and np.all(out[2] == 0.0)
    assert out[3, 0] > 0 and np.all(out[3, 7:] == 0.0)  # one neighbour: no pair
    assert_matches(out, ref)


@needs_cuda
def test_float32_is_close(data_root):
    structures = read_structures(sorted((data_root / "s_k_edge" / "xyz").glob("*.xyz"))[:6])
    out, ref = _oracle_and_cuda(structures, dtype="float32", **PAPER)
    assert_matches(out, ref, rtol=1e-4, atol=1e-5)


@needs_cuda
def test_transformer_with_cuda_backend():
    rng = np.random.default_rng(3)
    X = [_cluster(rng, n) for n in (3, 8, 1, 11, 6)]
    params = dict(n_g2=6, n_g4=16, chunk_size=2)
    cuda_t = WACSFTransformer(backend="cuda", **params)
    out = cuda_t.transform(X)
    assert cuda_t.backend_ == "cuda"
    ref = WACSFTransformer(backend="numpy", **params).transform(X)
    assert_matches(out, ref)
    out32 = WACSFTransformer(backend="cuda", dtype="float32", **params).transform(X)
    assert out32.dtype == np.float32
    assert_matches(out32, ref, rtol=1e-4, atol=1e-5)


# --- transfers, streaming, timings ---------------------------------------------


@needs_cuda
def test_arrays_go_to_the_device_once_per_call(small_blocks, monkeypatch):
    calls = []
    real = small_blocks.cuda.to_device

    def spy(array, *a, **k):
        calls.append(np.shape(array))
        return real(array, *a, **k)

    monkeypatch.setattr(small_blocks.cuda, "to_device", spy)
    rng = np.random.default_rng(4)
    counts = []
    for n_struct in (1, 5):
        calls.clear()
        args, shape = _kernel_args([_cluster(rng, 3) for _ in range(n_struct)], n_g2=4, n_g4=8)
        small_blocks.wacsf_features(*args, np.empty(shape))
        counts.append(len(calls))
    assert counts[0] == counts[1]  # never per structure


@needs_cuda
def test_streams_sub_chunks_when_memory_is_short(small_blocks, monkeypatch):
    bounds = []
    real = small_blocks._sub_chunks

    def spy(*a, **k):
        bounds.extend(real(*a, **k))
        return bounds

    monkeypatch.setattr(small_blocks, "_memory_budget", lambda: 600)
    monkeypatch.setattr(small_blocks, "_sub_chunks", spy)
    rng = np.random.default_rng(6)
    X = [_cluster(rng, n) for n in (3, 5, 2, 6, 4)]
    out, ref = _oracle_and_cuda(X, n_g2=4, n_g4=8)
    assert len(bounds) > 2
    assert bounds[0][0] == 0 and bounds[-1][1] == len(X)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert_matches(out, ref)


@needs_cuda
def test_sub_chunks_cover_everything_and_respect_the_budget():
    from wacsf._cuda import _sub_chunks

    offsets = np.cumsum([0, 3, 50, 2, 7, 7, 1, 40])
    assert _sub_chunks(offsets, 10, 8, None) == [(0, 7)]
    bounds = _sub_chunks(offsets, 10, 8, 1000)
    assert bounds[0][0] == 0 and bounds[-1][1] == 7
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(bounds, bounds[1:]))
    atoms = np.diff(offsets)
    for a, b in bounds:
        cost = (atoms[a:b] * 32 + 16 + 80).sum()
        assert cost <= 1000 or b - a == 1


@needs_cuda
def test_timings_and_empty_batch(small_blocks):
    args, shape = _kernel_args([_cluster(np.random.default_rng(7), 4)], n_g2=4, n_g4=8)
    timings = {}
    small_blocks.wacsf_features(*args, np.empty(shape), timings=timings)
    assert set(timings) == {"h2d", "kernel", "d2h"}
    assert all(v >= 0.0 for v in timings.values())
    empty = (args[0][:0], args[1][:0], np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))
    out = small_blocks.wacsf_features(*empty, *args[4:], np.empty((0, shape[1])))
    assert out.shape == (0, shape[1])
