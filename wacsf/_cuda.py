"""Numba CUDA kernels for wACSF: one thread block per absorbing site.

Same entry point and packed layout as :mod:`wacsf._reference` and
:mod:`wacsf._cpu` (see :mod:`wacsf._structures`): ``positions`` (n_atoms, 3)
float64, ``weights`` (n_atoms,) float64, ``offsets`` (n_structures + 1,)
int64 and ``absorbers`` (n_structures,) int64 *global* atom indices, plus the
preallocated float64 host array ``out`` of shape (n_structures, n_features).
This module imports ``numba.cuda`` at import time; :mod:`wacsf._backends`
imports it only when the CUDA backend is asked for, so ``import wacsf`` never
loads ``numba.cuda``.

Host side
---------
:func:`wacsf_features` sends the batch (the chunk the transformer passes in)
to the device once, launches :func:`_wacsf_kernel` once and copies the output
back once.  When the batch would not fit in free GPU memory it is streamed in
sub-chunks of whole structures (one transfer, launch and copy each).  An
optional ``timings`` dict receives the seconds spent in ``'h2d'``,
``'kernel'`` and ``'d2h'``, with ``cuda.synchronize()`` before every clock
read; the first call also pays the JIT compilation inside ``'kernel'``.

Kernel
------
Blocks stride over structures (``for s in range(blockIdx.x, n, gridDim.x)``),
one block per absorbing site at a time, ``THREADS_PER_BLOCK`` threads each.

1. *Neighbour list, in the same kernel, in shared memory.*  The threads
   stride over the structure's atoms (consecutive threads read consecutive
   rows of ``positions``: coalesced), keep those within ``r_cut`` of the
   absorber, and compact them, in atom order, by a block-wide prefix sum
   (no atomics, so the result is deterministic) into a shared buffer of
   relative vectors, distance, weight and f_c.  Building the list inside the
   kernel costs O(n_atoms) per structure against the O(n_neighbours^2) of the
   pair phase, needs no extra launch and no neighbour array in global memory,
   and every later read of a neighbour hits shared memory.  A structure with
   more than ``MAX_SHARED_NEIGHBOURS`` other atoms uses a per-block slice of
   a global scratch array instead (same code, allocated only when the batch
   holds such a structure); nothing else changes.
2. *Per-thread partial sums.*  Each thread accumulates a tile of up to
   ``FEATURE_TILE`` features in a local array: G1 and G2 by striding over
   neighbours; G4 by striding over a flat index p of unordered pairs mapped
   to (j, k) without branches or sqrt (:func:`_pair_index`), so the threads
   of a warp do the same work and read consecutive shared-memory words.  G4
   uses the centred structure: one ``exp(-eta s)`` per pair and (eta, mu)
   with ``s = (r_ij - mu)^2 + (r_ik - mu)^2 + (r_jk - mu)^2``, shared by all
   lambda and zeta; powers ``(1 + lambda cos)^zeta`` for zeta a power of two
   by repeated squaring, reusing the previous power, other zeta by ``pow``.
   Pairs with ``r_jk > r_cut`` are skipped (f_c(r_jk) = 0), unless
   ``rjk_cutoff="xanesnet"`` asks for the unclamped cosine on r_jk.
3. *Block reduction.*  The partial sums go through shared memory in rounds
   of a few features (a tree over the threads, ``syncthreads`` between
   levels), and the block writes each output value once, scaled by
   ``pair_scale * 2**(1 - zeta)`` for G4 columns.  More features than
   ``FEATURE_TILE`` are handled by looping over feature tiles (each tile
   re-walks the pairs; the paper's 97 features fit in one tile).

All sums are in fp64 by default and agree with the NumPy oracle and the CPU
kernel to ~1e-14 relative on the Fe and S complexes.  ``dtype="float32"``
computes the relative vectors in float64 from the float64 positions, then
everything else (f_c, exponentials, powers, partial sums, reduction) in
float32.  Measured against float64 on all 110 Fe and 110 S complexes (paper
defaults, 97 features; simulator, 32 threads per block): the largest error
is 3.4e-6 (Fe) and 3.2e-6 (S) of the column's largest value; the relative
error per value has a median of 2e-7 and a 99th percentile of 3e-6 (5e-6
for S), and reaches 2.7e-4 (Fe) only on values near 1e-6 of their column's
largest.  Most of it comes from ``exp(-eta s)`` at large ``eta s``, whose
float32 relative error grows like ``eta s`` times the float32 epsilon.

No GPU was available while this was written: it is tested on the CUDA
simulator only, and its speed on real hardware is not measured here.
"""

import functools
import math
import time

import numpy as np
from numba import config as _numba_config
from numba import cuda, float32, float64, int32

__all__ = ["wacsf_features", "THREADS_PER_BLOCK", "MAX_SHARED_NEIGHBOURS", "FEATURE_TILE"]

#: Threads per block; tests patch it to a small number so that several and
#: partial blocks (and multi-iteration strides) run on tiny inputs.
THREADS_PER_BLOCK = 128

#: Neighbours held in shared memory per block; structures with more other
#: atoms than this use global scratch memory.
MAX_SHARED_NEIGHBOURS = 128

#: Features accumulated per thread in one pass (a local array); more
#: features are done in several tiles.
FEATURE_TILE = 128

#: Shared-memory words used by one reduction round (features per round =
#: this // threads per block).
_REDUCTION_WORDS = 2048

#: Most blocks in one launch (blocks stride over structures beyond it).
MAX_BLOCKS = 65536

#: Fraction of the free GPU memory a batch may use before it is streamed.
_MEMORY_FRACTION = 0.8

#: Bytes allowed for global neighbour scratch (bounds the blocks that need it).
_SCRATCH_BYTES = 256 * 2**20

_N_FIELDS = 6  # neighbour buffer rows: dx, dy, dz, r, w, f_c


def _pair_index(p, m):
    """The p-th unordered pair (j, k), j != k, of m items, p < m (m - 1) / 2.

    Pair p takes j = p mod m and k = (j + d) mod m with the offset
    d = p // m + 1 in 1..(m - 1) // 2; for even m the offset m / 2 pairs
    each j < m / 2 with j + m / 2 once.  Consecutive p give consecutive j
    (no bank conflicts, no divergence), and every pair appears exactly once.
    """
    half = m // 2
    full = m * ((m - 1) // 2)
    if p < full:
        j = p % m
        d = p // m + 1
    else:  # even m: the opposite pairs
        j = p - full
        d = half
    k = j + d
    if k >= m:
        k -= m
    return j, k


def _zeta_squarings(zetas):
    """How many squarings give base**zeta (zeta = 2**q), or -1 to use pow."""
    q = np.full(zetas.size, -1, dtype=np.int64)
    for z, zeta in enumerate(zetas):
        if zeta >= 1 and float(zeta).is_integer():
            n = int(zeta)
            if n & (n - 1) == 0 and n <= 2**30:
                q[z] = n.bit_length() - 1
    return q


@functools.lru_cache(maxsize=None)
def _build_kernel(threads, max_shared, tile, dtype_name, clamp_rjk=True):
    """Compile-time constants (block size, buffers, precision, r_jk cutoff) -> the kernel."""
    np_float = np.dtype(dtype_name).type
    nb_float = float64 if dtype_name == "float64" else float32
    ZERO = np_float(0.0)
    HALF = np_float(0.5)
    ONE = np_float(1.0)
    MINUS_ONE = np_float(-1.0)
    PI = np_float(math.pi)
    red_features = max(1, _REDUCTION_WORDS // threads)
    red_size = threads * red_features
    buf_shape = (_N_FIELDS, max_shared)
    tree_half = 1
    while tree_half < threads:
        tree_half *= 2
    tree_half //= 2  # largest power of two below ``threads`` (0 when threads == 1)

    pair_index = cuda.jit(device=True)(_pair_index)

    @cuda.jit(device=True)
    def fc(r, r_cut):
        if r > r_cut:
            return ZERO
        return HALF * (math.cos(PI * r / r_cut) + ONE)

    @cuda.jit(device=True)
    def fc_rjk(r, r_cut):
        """f_c(r_jk): clamped to 0 beyond r_cut, or XANESNET's unclamped cosine."""
        if clamp_rjk and r > r_cut:
            return ZERO
        return HALF * (math.cos(PI * r / r_cut) + ONE)

    @cuda.jit(device=True)
    def collect(positions, weights, a, b, i, r_cut, buf, scan):
        """Compact the neighbours of atom i (atoms a:b) into buf; return their count."""
        t = cuda.threadIdx.x
        xi = positions[i, 0]
        yi = positions[i, 1]
        zi = positions[i, 2]
        count = 0
        for a0 in range(a, b, threads):
            atom = a0 + t
            keep = 0
            dx = ZERO
            dy = ZERO
            dz = ZERO
            r = ZERO
            if atom < b and atom != i:
                dx = np_float(positions[atom, 0] - xi)
                dy = np_float(positions[atom, 1] - yi)
                dz = np_float(positions[atom, 2] - zi)
                r = math.sqrt(dx * dx + dy * dy + dz * dz)
                if r <= r_cut:
                    keep = 1
            scan[t] = keep
            cuda.syncthreads()
            step = 1
            while step < threads:  # inclusive Hillis-Steele scan of the flags
                v = scan[t]
                if t >= step:
                    v += scan[t - step]
                cuda.syncthreads()
                scan[t] = v
                cuda.syncthreads()
                step *= 2
            if keep:
                slot = count + scan[t] - 1
                buf[0, slot] = dx
                buf[1, slot] = dy
                buf[2, slot] = dz
                buf[3, slot] = r
                buf[4, slot] = np_float(weights[atom])
                buf[5, slot] = fc(r, r_cut)
            count += scan[threads - 1]
            cuda.syncthreads()
        return count

    @cuda.jit(device=True)
    def site(s, positions, weights, offsets, absorbers, r_cut, g2_eta, g2_mu, g4_eta,
             g4_mu, lambdas, zetas, zeta_sq, scale, out, buf, scan, red, acc):
        """All features of structure s, written to out[s]."""
        t = cuda.threadIdx.x
        nb = collect(positions, weights, offsets[s], offsets[s + 1], absorbers[s], r_cut,
                     buf, scan)
        n_features = out.shape[1]
        n2 = g2_eta.size
        nl = lambdas.size
        nz = zetas.size
        nlz = nl * nz
        n_pairs = nb * (nb - 1) // 2
        for c0 in range(0, n_features, tile):
            c1 = min(c0 + tile, n_features)
            for c in range(tile):
                acc[c] = ZERO
            # G1 and G2: threads stride over neighbours
            m0 = max(c0 - 1, 0)
            m1 = min(c1 - 1, n2)
            if c0 == 0 or m1 > m0:
                for j in range(t, nb, threads):
                    r = buf[3, j]
                    f = buf[5, j]
                    if c0 == 0:
                        acc[0] += f
                    wf = buf[4, j] * f
                    for m in range(m0, m1):
                        d = r - g2_mu[m]
                        acc[1 + m - c0] += wf * math.exp(-g2_eta[m] * d * d)
            # G4: threads stride over unordered pairs
            g_lo = max(c0 - 1 - n2, 0) // nlz if nlz > 0 else 0
            g_hi = min((c1 - 1 - n2 + nlz - 1) // nlz, g4_eta.size) if nlz > 0 else 0
            if g_hi > g_lo:
                for p in range(t, n_pairs, threads):
                    j, k = pair_index(p, nb)
                    xj = buf[0, j]
                    yj = buf[1, j]
                    zj = buf[2, j]
                    xk = buf[0, k]
                    yk = buf[1, k]
                    zk = buf[2, k]
                    dx = xj - xk
                    dy = yj - yk
                    dz = zj - zk
                    rjk = math.sqrt(dx * dx + dy * dy + dz * dz)
                    if clamp_rjk and rjk > r_cut:
                        continue
                    rij = buf[3, j]
                    rik = buf[3, k]
                    cos_t = (xj * xk + yj * yk + zj * zk) / (rij * rik)
                    cos_t = min(ONE, max(MINUS_ONE, cos_t))
                    radial = buf[4, j] * buf[4, k] * buf[5, j] * buf[5, k] * fc_rjk(rjk, r_cut)
                    for m in range(g_lo, g_hi):
                        mu = g4_mu[m]
                        d1 = rij - mu
                        d2 = rik - mu
                        d3 = rjk - mu
                        e = radial * math.exp(-g4_eta[m] * (d1 * d1 + d2 * d2 + d3 * d3))
                        for lam in range(nl):
                            base = ONE + lambdas[lam] * cos_t
                            col = 1 + n2 + (m * nl + lam) * nz - c0
                            power = base
                            done = 0
                            for z in range(nz):
                                if col + z < 0 or col + z >= tile:
                                    continue
                                q = zeta_sq[z]
                                if q >= 0:
                                    if q < done:
                                        power = base
                                        done = 0
                                    while done < q:
                                        power *= power
                                        done += 1
                                    acc[col + z] += e * power
                                else:
                                    acc[col + z] += e * math.pow(base, zetas[z])
            # block reduction, a few features per round
            width = c1 - c0
            for f0 in range(0, width, red_features):
                nf = min(red_features, width - f0)
                for f in range(nf):
                    red[t * red_features + f] = acc[f0 + f]
                cuda.syncthreads()
                half = tree_half
                while half >= 1:
                    for idx in range(t, half * nf, threads):
                        row = idx // nf
                        f = idx - row * nf
                        if row + half < threads:
                            red[row * red_features + f] += red[(row + half) * red_features + f]
                    cuda.syncthreads()
                    half //= 2
                for f in range(t, nf, threads):
                    col = c0 + f0 + f
                    out[s, col] = red[f] * scale[col]
                cuda.syncthreads()

    @cuda.jit
    def _wacsf_kernel(positions, weights, offsets, absorbers, r_cut, g2_eta, g2_mu, g4_eta,
                      g4_mu, lambdas, zetas, zeta_sq, scale, scratch, out):
        buf = cuda.shared.array(buf_shape, nb_float)
        scan = cuda.shared.array(threads, int32)
        red = cuda.shared.array(red_size, nb_float)
        acc = cuda.local.array(tile, nb_float)
        n_struct = offsets.size - 1
        for s in range(cuda.blockIdx.x, n_struct, cuda.gridDim.x):
            if offsets[s + 1] - offsets[s] - 1 <= max_shared:
                site(s, positions, weights, offsets, absorbers, r_cut, g2_eta, g2_mu, g4_eta,
                     g4_mu, lambdas, zetas, zeta_sq, scale, out, buf, scan, red, acc)
            else:
                site(s, positions, weights, offsets, absorbers, r_cut, g2_eta, g2_mu, g4_eta,
                     g4_mu, lambdas, zetas, zeta_sq, scale, out, scratch[cuda.blockIdx.x],
                     scan, red, acc)

    return _wacsf_kernel


def _simulated():
    return bool(_numba_config.ENABLE_CUDASIM)


def _memory_budget():
    """Bytes of device memory one launch may use (None: no limit, the simulator)."""
    if _simulated():
        return None
    free, _total = cuda.current_context().get_memory_info()
    return int(_MEMORY_FRACTION * free)


def _sub_chunks(offsets, n_features, itemsize, budget):
    """Split structures into runs whose device arrays fit in ``budget`` bytes."""
    n = offsets.size - 1
    if budget is None:
        return [(0, n)]
    atoms = np.diff(offsets)
    # positions, weights, offsets, absorbers, output row
    per_struct = atoms * 32 + 16 + n_features * itemsize
    cum = np.cumsum(per_struct)
    bounds = []
    start = 0
    used = 0
    while start < n:
        stop = int(np.searchsorted(cum, used + budget, side="right"))
        stop = max(stop, start + 1)  # one structure always goes, whatever it costs
        stop = min(stop, n)
        bounds.append((start, stop))
        used = int(cum[stop - 1])
        start = stop
    return bounds


def _clock(timings, key, since):
    if timings is None:
        return since
    cuda.synchronize()
    now = time.perf_counter()
    timings[key] = timings.get(key, 0.0) + (now - since)
    return now


def wacsf_features(
    positions, weights, offsets, absorbers, r_cut,
    g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, out,
    dtype="float64", timings=None, rjk_cutoff="clamped",
):
    """Fill ``out[s]`` with the wACSF vector of structure ``s``, on the GPU.

    Parameters
    ----------
    positions, weights, offsets, absorbers
        The packed structures (see :mod:`wacsf._structures`).
    r_cut : float
        Cutoff radius in Angstrom.
    g2_eta, g2_mu, g4_eta, g4_mu : ndarray
        Radial parameters of G2 and of the G4 (eta, mu) groups.
    lambdas, zetas : ndarray
        Angular parameters of G4.
    pair_scale : float
        1 for unordered pairs j < k, 2 for the ordered double sum.
    out : ndarray of shape (n_structures, 1 + n_g2 + n_g4)
        Host array filled in place (any float dtype).
    dtype : {"float64", "float32"}, default="float64"
        Precision of the computation on the device.
    timings : dict, optional
        Receives (adds to) seconds spent in ``'h2d'``, ``'kernel'``, ``'d2h'``.
    rjk_cutoff : {"clamped", "xanesnet"}, default="clamped"
        f_c(r_jk) is 0 beyond ``r_cut`` (``"clamped"``), or the unclamped
        cosine for every r_jk (``"xanesnet"``, as the XANESNET codes).

    Returns
    -------
    out : ndarray
    """
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    if rjk_cutoff not in ("clamped", "xanesnet"):
        raise ValueError(f"rjk_cutoff must be 'clamped' or 'xanesnet', got {rjk_cutoff!r}")
    np_float = np.dtype(dtype)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    absorbers = np.ascontiguousarray(absorbers, dtype=np.int64)
    n_struct = offsets.size - 1
    g2_eta = np.ascontiguousarray(g2_eta, dtype=np_float)
    g2_mu = np.ascontiguousarray(g2_mu, dtype=np_float)
    g4_eta = np.ascontiguousarray(g4_eta, dtype=np_float)
    g4_mu = np.ascontiguousarray(g4_mu, dtype=np_float)
    zetas64 = np.asarray(zetas, dtype=np.float64)
    lambdas = np.ascontiguousarray(lambdas, dtype=np_float)
    n_features = 1 + g2_eta.size + g4_eta.size * lambdas.size * zetas64.size
    if out.shape != (n_struct, n_features):
        raise ValueError(
            f"out has shape {out.shape}, expected ({n_struct}, {n_features}) for "
            f"{n_struct} structures and these parameters"
        )
    if timings is not None:
        for key in ("h2d", "kernel", "d2h"):
            timings.setdefault(key, 0.0)
    if n_struct == 0:
        return out

    scale = np.ones(n_features, dtype=np.float64)
    g4_scale = pair_scale * 2.0 ** (1.0 - zetas64)
    scale[1 + g2_eta.size:] = np.tile(g4_scale, g4_eta.size * lambdas.size)
    scale = scale.astype(np_float)
    zeta_sq = _zeta_squarings(zetas64)
    zetas = zetas64.astype(np_float)
    r_cut = np_float.type(r_cut)

    threads = int(THREADS_PER_BLOCK)
    max_shared = int(MAX_SHARED_NEIGHBOURS)
    kernel = _build_kernel(threads, max_shared, int(FEATURE_TILE), np_float.name,
                           rjk_cutoff == "clamped")

    budget = _memory_budget()
    itemsize = np_float.itemsize
    atoms = np.diff(offsets)
    max_others = int(atoms.max()) - 1
    scratch_cap = max_others if max_others > max_shared else 0
    scratch_row = _N_FIELDS * max(scratch_cap, 1) * itemsize
    if budget is not None:
        budget -= min(_SCRATCH_BYTES, MAX_BLOCKS * scratch_row) if scratch_cap else 0
        budget = max(budget, 1)

    t0 = time.perf_counter()
    if timings is not None:
        cuda.synchronize()
        t0 = time.perf_counter()
    # small parameter arrays: once per call
    d_params = [cuda.to_device(a) for a in (g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas,
                                            zeta_sq, scale)]
    t0 = _clock(timings, "h2d", t0)
    for s0, s1 in _sub_chunks(offsets, n_features, itemsize, budget):
        a, b = int(offsets[s0]), int(offsets[s1])
        n = s1 - s0
        blocks = min(n, MAX_BLOCKS)
        if scratch_cap:
            blocks = max(1, min(blocks, _SCRATCH_BYTES // scratch_row))
            d_scratch = cuda.device_array((blocks, _N_FIELDS, scratch_cap), dtype=np_float)
        else:
            d_scratch = cuda.device_array((1, _N_FIELDS, 1), dtype=np_float)
        d_positions = cuda.to_device(np.ascontiguousarray(positions[a:b], dtype=np.float64))
        d_weights = cuda.to_device(np.ascontiguousarray(weights[a:b], dtype=np.float64))
        d_offsets = cuda.to_device(offsets[s0:s1 + 1] - a)
        d_absorbers = cuda.to_device(absorbers[s0:s1] - a)
        d_out = cuda.device_array((n, n_features), dtype=np_float)
        t0 = _clock(timings, "h2d", t0)
        kernel[blocks, threads](d_positions, d_weights, d_offsets, d_absorbers, r_cut,
                                *d_params[:7], d_params[7], d_scratch, d_out)
        t0 = _clock(timings, "kernel", t0)
        out[s0:s1] = d_out.copy_to_host()
        t0 = _clock(timings, "d2h", t0)
    return out
