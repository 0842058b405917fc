"""Numba CPU kernel for wACSF: parallel over structures, SIMD within one.

Entry point :func:`wacsf_features`, same signature and packed layout as
:mod:`wacsf._reference` (the oracle it is tested against):

``positions``  (n_atoms, 3) float64, every structure one after another
``weights``    (n_atoms,) float64, the weight w of each atom
``offsets``    (n_struct + 1,) int64, structure s owns atoms offsets[s]:offsets[s+1]
``absorbers``  (n_struct,) int64, *global* index of structure s's absorbing atom
``out``        (n_struct, 1 + n_g2 + n_g4_radial * n_lambda * n_zeta) float64,
               every element written; structure s writes only ``out[s]``

Algorithm, per structure (absorber i):

1. Neighbours: the atoms j != i with r_ij <= r_c go to per-thread scratch
   (relative vector, r, w, f_c(r), w f_c(r)).  G1 = sum_j f_c(r_ij).  The
   scratch is padded past the last neighbour to a whole number of vectors
   with a neighbour of weight 0 (:func:`_pad_neighbours`), so the vector
   loops below run over whole vectors, without their scalar remainders.
2. G2: for each (eta, mu), a branch-free loop over neighbours computes
   ``exp(-eta (r - mu)^2)`` with the vectorisable :func:`_exp_neg` (range
   reduction + polynomial, 2^n put together from exponent bits) and sums
   ``w f_c exp(...)`` in the same pass.
3. G4, two passes over blocks of ``_BLOCK`` neighbour pairs j < k:

   a. pair pass (no exp): r_jk, cos theta (clipped to [-1, 1]),
      ``rad = w_j w_k f_c(r_ij) f_c(r_ik) f_c(r_jk)`` with a polynomial
      cosine (:func:`_cutoff_poly`; exactly 0 beyond r_c), the exp argument
      without eta, ``s = r_ij^2 + r_ik^2 + r_jk^2`` (mu = 0, the default:
      one exp argument per pair and eta), and the angular factors
      ``A[a] = rad * (1 + lambda cos)^zeta`` for every (lambda, zeta) column a
      -- integer zeta by repeated squaring, other zeta by ``pow``.  Pairs
      with r_jk > r_c are dropped (their rad is exactly 0).  Each row
      (j, k > j) is computed from k rounded down to k rounded up to whole
      vectors; the pairs outside it are never kept.  When every mu is 0
      the block keeps only s, rad and cos theta per pair.
   b. eta pass: for each (eta, mu), ``e = exp(-eta s)`` over the block and
      ``G4[eta, a] += sum_pairs A[a] e`` for four columns a in the same
      pass, then four columns at a time -- plain loops that LLVM vectorises.

   So the exponentials, 8 per pair with the paper defaults, run 4-8 wide
   instead of through scalar libm calls; blocks keep the pair data in L1.
4. Scale G4 by ``pair_scale * 2^(1 - zeta)``.

Threads: the structures are cut into ``numba.get_num_threads()`` contiguous
ranges of about equal cost (sum of n_atoms^2), and ``prange`` runs over the
range index, so each iteration owns one row of every scratch array (sized
once per call), as stumpy's ``_stump`` does.  :class:`wacsf.WACSFTransformer`
on more than one thread calls the same kernel compiled serially
(:func:`wacsf_features_range`) from a pool of Python threads instead, on
more, smaller ranges taken in turn, so that packing the next chunk runs
beside it (``transformer._Threads``).  A structure's numbers do not
depend on the thread count.

float32: a float32 ``out`` runs :func:`_kernel32`, the same algorithm with
the pair and eta passes in float32 (see the comment above it for what stays
float64, and why); measured within 2.2e-6 relative of the float64 kernel on
the 110 Fe complexes, and about 1.4x its speed on one thread (median of
interleaved rounds, 1.3-1.7x; AVX2 AMD EPYC; docs/benchmarks.rst).

Floating point: every function is compiled with ``fastmath=FASTMATH``
(False).  Two instructions are chosen explicitly instead, per instruction,
through tiny LLVM intrinsics: :func:`_fma` (``llvm.fma``, one rounding) in the
exp and cutoff polynomials, and :func:`_sum_add` (an ``fadd reassoc``) for the
adds of the G2/G4 sums, which lets LLVM vectorise those reductions.  Every
summand there is >= 0, so any summation order is accurate to n * 2^-53 of the
sum; nothing else may be reordered (the Cody-Waite reduction and the
rounding trick in :func:`_exp_neg` depend on it).  Two more intrinsics keep
loops vectorised without changing a result: :func:`_fdiv`, a plain IEEE
division (Numba's ``/`` tests for a zero divisor first, which keeps a loop
scalar; :func:`_g4` raises that error itself), and :func:`_f64_as_i64`, with
which :func:`_exp_neg` reads its integer exponent from the rounded float's
bits (AVX2 has no packed float64 -> int64 conversion).  The float32 kernel
uses the plain division too (:func:`_fdiv32`; Numba's checked one kept its cos
theta loop scalar), and its exponential scales by 2^n in int32 lanes
(:func:`_times_pow2_32`).  The scalar compaction loops index with
:func:`_u` (an index as uint64), which Numba uses without the wrap-around
of negative indices: about 37 instructions a pair became 13, and both
kernels 7-10 % faster, bit for bit the same numbers.
Helpers are inlined (``inline="always"``) so no array reference counting
runs in the loops.
"""

import math
import types as types_module

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["wacsf_features", "FASTMATH"]

#: Numba ``fastmath`` flag of every kernel function (the oracle bar is 1e-10).
FASTMATH = False
#: Neighbour pairs per block of the G4 passes (per-thread scratch).
_BLOCK = 256


def _host_lanes():
    """float64 SIMD lanes LLVM uses on this CPU: 8 with AVX-512, else 4.

    The neighbour arrays are padded to a multiple of this (float32: twice
    it) and the pair rows computed over whole multiples of it from an
    aligned start, so that every vector loop runs without its scalar
    remainder (4 also covers 2-lane NEON/SSE).
    """
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # not every host reports its features
        return 4
    return 8 if features.get("avx512f", False) else 4


#: float64 lanes of a vector (see :func:`_host_lanes`); float32 rows use twice it.
_LANES = _host_lanes()

_LOG2E = 1.4426950408889634
# ln 2 split for Cody-Waite reduction: _LN2_HI has 11 trailing zero bits, so
# n * _LN2_HI is exact for |n| < 2^11.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Below this exp(x) rounds to 0 in float64 (exp(-745.2) < 2^-1075).
_EXP_MIN_ARG = -746.0
# Adding 1.5 * 2^52 to |y| < 2^51 rounds y to an integer (round-to-nearest).
_ROUND_MAGIC = 6755399441055744.0
_HALF_PI = 0.5 * math.pi


@intrinsic
def _i64_as_f64(typingctx, x):
    """Reinterpret the bits of an int64 as a float64 (an LLVM bitcast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _f64_as_i64(typingctx, x):
    """Reinterpret the bits of a float64 as an int64 (an LLVM bitcast)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


# The bits of _ROUND_MAGIC: for t in [2^52, 2^53) the float64 spacing is 1, so
# bits(t) - _ROUND_MAGIC_BITS == t - _ROUND_MAGIC exactly, as an int64.
_ROUND_MAGIC_BITS = 0x4338000000000000


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma: vectorises, and is exact to spec)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fnty = ir.FunctionType(f64, [f64, f64, f64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64")
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _sum_add(typingctx, acc, x):
    """acc + x as an LLVM ``fadd reassoc``: only this add may be reordered.

    Used for sums of non-negative terms, where any order is accurate to
    n * 2^-53 relative; the flag lets LLVM vectorise the reduction while
    every other instruction keeps strict IEEE semantics (``FASTMATH``).
    """
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1], flags=("reassoc",))

    return sig, codegen


@intrinsic
def _fdiv(typingctx, a, b):
    """a / b as a plain IEEE division (LLVM ``fdiv``), which vectorises.

    Numba's ``/`` tests the divisor for zero first (to raise
    ``ZeroDivisionError`` as Python does), and that branch keeps a loop
    scalar; the quotient itself is the same correctly rounded one.  Callers
    raise the error themselves where a divisor can be zero (:func:`_g4`).
    """
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fdiv(args[0], args[1])

    return sig, codegen


@intrinsic
def _u(typingctx, i):
    """An int64 index as uint64 (the same bits): Numba indexes with an unsigned
    index as is, without the wrap-around of a negative one (a shift, an and and
    an add an access, and a register for the length), which in a scalar loop
    is much of the work (:func:`_compact`).  Only for indices known >= 0."""
    sig = types.uint64(types.int64)

    def codegen(context, builder, signature, args):
        return args[0]

    return sig, codegen


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _pow2(n):
    """2.0**n for an integer -1022 <= n <= 1023, from the exponent bits."""
    return _i64_as_f64((n + 1023) << 52)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_neg(x):
    """exp(x) for x <= 0, branch-free so that loops calling it vectorise.

    x = n ln2 + r with n = round(x / ln2) (the 1.5 * 2^52 trick: adding it
    rounds to an integer), |r| <= ln2/2 by Cody-Waite reduction, then exp(r)
    by its Taylor polynomial of degree 13 (truncation < 0.347^14/14! =
    4.3e-18) in Estrin's scheme with FMAs (a short dependency chain, so the
    core overlaps many loop iterations), times 2^n.  2^n is applied as
    2^(n - n//2) * 2^(n//2) so that results in the subnormal range (n down
    to -1076) round once; x <= -746 gives exactly 0 and x = 0 exactly 1.
    Tested against ``np.exp``: <= 2 ulp (4.3e-16 relative).
    """
    x = max(x, _EXP_MIN_ARG)
    t = _fma(x, _LOG2E, _ROUND_MAGIC)
    fn = t - _ROUND_MAGIC  # round(x / ln 2), exactly an integer
    r = _fma(-fn, _LN2_LO, _fma(-fn, _LN2_HI, x))
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    p01 = 1.0 + r
    p23 = _fma(r, 1.0 / 6.0, 0.5)
    p45 = _fma(r, 1.0 / 120.0, 1.0 / 24.0)
    p67 = _fma(r, 1.0 / 5040.0, 1.0 / 720.0)
    p89 = _fma(r, 1.0 / 362880.0, 1.0 / 40320.0)
    p1011 = _fma(r, 1.0 / 39916800.0, 1.0 / 3628800.0)
    p1213 = _fma(r, 1.0 / 6227020800.0, 1.0 / 479001600.0)
    p03 = _fma(r2, p23, p01)
    p47 = _fma(r2, p67, p45)
    p811 = _fma(r2, p1011, p89)
    p07 = _fma(r4, p47, p03)
    p813 = _fma(r4, p1213, p811)
    p = _fma(r8, p813, p07)
    # n = int(fn), read from t's low bits: AVX2 has no packed float64 -> int64
    # conversion, so int(fn) would run as four scalar conversions per vector
    n = _f64_as_i64(t) - _ROUND_MAGIC_BITS
    n1 = n >> 1
    return (p * _pow2(n - n1)) * _pow2(n1)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _cutoff_core(r, r_cut):
    """(cos(pi r / r_c) + 1) / 2 for 0 <= r <= r_c (a little beyond either end is fine).

    cos(y) = -sin(y - pi/2) with |y - pi/2| <= pi/2 for 0 <= r <= r_c, and sin
    by its odd Taylor polynomial to degree 23 (truncation < (pi/2)^25/25! =
    1.3e-21), Horner with FMAs.  Absolute error ~1e-16, like the oracle's
    ``0.5 * (np.cos(...) + 1)``.
    """
    z = math.pi * r / r_cut - _HALF_PI
    z2 = z * z
    p = -1.0 / 25852016738884976640000.0
    p = _fma(p, z2, 1.0 / 51090942171709440000.0)
    p = _fma(p, z2, -1.0 / 121645100408832000.0)
    p = _fma(p, z2, 1.0 / 355687428096000.0)
    p = _fma(p, z2, -1.0 / 1307674368000.0)
    p = _fma(p, z2, 1.0 / 6227020800.0)
    p = _fma(p, z2, -1.0 / 39916800.0)
    p = _fma(p, z2, 1.0 / 362880.0)
    p = _fma(p, z2, -1.0 / 5040.0)
    p = _fma(p, z2, 1.0 / 120.0)
    p = _fma(p, z2, -1.0 / 6.0)
    sin_z = _fma(z, z2 * p, z)
    return 0.5 * (1.0 - sin_z)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _cutoff_poly(r, r_cut):
    """f_c(r) = (cos(pi r / r_c) + 1) / 2, exactly 0 beyond r_c; branch-free."""
    fc = _cutoff_core(r, r_cut)
    return fc if r <= r_cut else 0.0


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _cutoff_rjk(r, r_cut, rjk_limit):
    """f_c(r_jk): the cosine for r <= r_c; beyond, 0 (``rjk_limit = r_c``) or the
    unclamped cosine (``rjk_limit = inf``, XANESNET's), branch-free.

    For r_c < r <= 2 r_c, cos(pi r / r_c) = cos(pi (2 r_c - r) / r_c), and
    2 r_c - r is exact (Sterbenz), so the polynomial of :func:`_cutoff_core`
    stays on its range.  For r <= r_c the instructions are those of
    :func:`_cutoff_poly`: the clamped setting gives its numbers bit for bit.
    """
    rr = r if r <= r_cut else 2.0 * r_cut - r
    fc = _cutoff_core(rr, r_cut)
    return fc if r <= rjk_limit else 0.0


@numba.njit(cache=True, fastmath=FASTMATH)
def _cutoff(r, r_cut):
    """f_c(r) with libm's cosine, exactly as the oracle (for the neighbours)."""
    if r > r_cut:
        return 0.0
    return 0.5 * (math.cos(math.pi * r / r_cut) + 1.0)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot(a, b, n):
    """sum(a[:n] * b[:n]) of non-negative terms (the adds reassociated: vectorised)."""
    acc = 0.0
    for q in range(n):
        acc = _sum_add(acc, a[q] * b[q])
    return acc


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_block_sum(ssum, eta, e, n):
    """e[q] = exp(-eta ssum[q]) for q < n, ssum = r1^2 + r2^2 + r3^2 (the mu = 0 form)."""
    for q in range(n):
        e[q] = _exp_neg(-eta * ssum[q])


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_block_mu(r1, r2, r3, eta, mu, e, n):
    """e[q] = exp(-eta ((r1 - mu)^2 + (r2 - mu)^2 + (r3 - mu)^2)) for q < n."""
    for q in range(n):
        d1 = r1[q] - mu
        d2 = r2[q] - mu
        d3 = r3[q] - mu
        e[q] = _exp_neg(-eta * (d1 * d1 + d2 * d2 + d3 * d3))


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _gather_neighbours(positions, weights, a, b, i, r_cut, nx, ny, nz, nr, nw, nfc, nwfc):
    """Neighbours of atom i within r_cut into scratch; returns (count, G1)."""
    nb = 0
    g1 = 0.0
    xi = positions[i, 0]
    yi = positions[i, 1]
    zi = positions[i, 2]
    for j in range(a, b):
        if j == i:
            continue
        dx = positions[j, 0] - xi
        dy = positions[j, 1] - yi
        dz = positions[j, 2] - zi
        r = math.sqrt(dx * dx + dy * dy + dz * dz)
        if r > r_cut:
            continue
        fc = _cutoff(r, r_cut)
        nx[nb] = dx
        ny[nb] = dy
        nz[nb] = dz
        nr[nb] = r
        nw[nb] = weights[j]
        nfc[nb] = fc
        nwfc[nb] = weights[j] * fc
        g1 += fc
        nb += 1
    _pad_neighbours(nb, nx, ny, nz, nr, nw, nfc, nwfc)
    return nb, g1


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _pad_neighbours(nb, nx, ny, nz, nr, nw, nfc, nwfc):
    """Fill slots nb .. nb rounded up to ``2 * _LANES`` with a harmless neighbour.

    The vector loops run over whole vectors (:func:`_padded`) and so read
    these slots: at the origin's distance 1 with weight 0, every quantity
    made from them is finite, their G2 terms are exactly +0.0 (which leaves
    a sum of non-negative terms unchanged, bit for bit), and the pairs they
    form are never kept (:func:`_compact` keeps only k < nb).
    """
    for q in range(nb, _padded(nb, 2 * _LANES)):
        nx[q] = 0.0
        ny[q] = 0.0
        nz[q] = 0.0
        nr[q] = 1.0
        nw[q] = 0.0
        nfc[q] = 0.0
        nwfc[q] = 0.0


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _padded(n, lanes):
    """n rounded up to a multiple of ``lanes``."""
    return (n + lanes - 1) // lanes * lanes


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _g2(nr, nwfc, nb, g2_eta, g2_mu, out_row):
    """out_row[1 + m] = sum_j w_j f_c(r_j) exp(-eta_m (r_j - mu_m)^2)."""
    n = _padded(nb, _LANES)  # whole vectors: the padding's terms are exactly +0.0
    for m in range(g2_eta.size):
        eta = g2_eta[m]
        mu = g2_mu[m]
        acc = 0.0
        for j in range(n):  # each exponential summed while in a register
            d = nr[j] - mu
            acc = _sum_add(acc, nwfc[j] * _exp_neg(-eta * (d * d)))
        out_row[1 + m] = acc


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _pair_row(j, k0, k1, r_cut, rjk_limit, nx, ny, nz, nr, nwfc, prjk, pcos, prad):
    """Pair pass for the pairs (j, k0..k1-1) into staging slots 0..k1-k0-1.

    Three loops with one store each: with fewer arrays written per loop,
    LLVM's run-time alias checks stay few enough for it to vectorise.  The
    caller passes k0 and k1 on multiples of the vector width (:func:`_g4`),
    so the loops run without their scalar remainders.
    """
    xj = nx[j]
    yj = ny[j]
    zj = nz[j]
    rj = nr[j]
    wfcj = nwfc[j]
    for k in range(k0, k1):
        dx = xj - nx[k]
        dy = yj - ny[k]
        dz = zj - nz[k]
        prjk[k - k0] = math.sqrt(dx * dx + dy * dy + dz * dz)
    for k in range(k0, k1):
        c = _fdiv(xj * nx[k] + yj * ny[k] + zj * nz[k], rj * nr[k])  # rj nr[k] > 0: see _g4
        pcos[k - k0] = min(1.0, max(-1.0, c))  # rounding must not make 1 + lambda cos < 0
    for k in range(k0, k1):
        prad[k - k0] = wfcj * nwfc[k] * _cutoff_rjk(prjk[k - k0], r_cut, rjk_limit)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _compact(j, k0, k1, ka, q0, rjk_limit, nr, prjk, pcos, prad, br1, br2, br3, brad, bcos):
    """Append the pairs (j, k0..k1-1), staged from slot k0 - ka on, that have
    r_jk <= rjk_limit to the block at q0; returns the new fill.

    With the clamped cutoff (``rjk_limit = r_c``) pairs beyond r_c have
    rad == 0 exactly, so dropping them changes nothing.
    """
    q = q0
    rj = nr[j]
    for k in range(k0, k1):
        t = _u(k - ka)
        u = _u(q)
        # branch-free: always write slot q, keep it only when r_jk <= r_c
        br1[u] = rj
        br2[u] = nr[_u(k)]
        br3[u] = prjk[t]
        brad[u] = prad[t]
        bcos[u] = pcos[t]
        q += 1 if prjk[t] <= rjk_limit else 0
    return q


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _compact_sum(j, k0, k1, ka, q0, rjk_limit, nr, prjk, pcos, prad, bss, brad, bcos):
    """:func:`_compact` when every G4 mu is 0: the exp argument's sum
    ``r_ij^2 + r_ik^2 + r_jk^2`` is all the eta pass needs of the distances,
    so it is stored instead of the three distances (three stores a pair, not
    five); the same expression as in :func:`_flush`, so the same bits."""
    q = q0
    rj = nr[j]
    for k in range(k0, k1):
        t = _u(k - ka)
        u = _u(q)
        rk = nr[_u(k)]
        rjk = prjk[t]
        bss[u] = rj * rj + rk * rk + rjk * rjk
        brad[u] = prad[t]
        bcos[u] = pcos[t]
        q += 1 if rjk <= rjk_limit else 0
    return q


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _angular(n, lambdas, zetas, zeta_int, rad, cos_t, base, cur, ang):
    """ang[l * nz + z, q] = rad[q] * (1 + lambda_l cos_t[q])^zeta_z for q < n."""
    nz = zetas.size
    for lam_i in range(lambdas.size):
        lam = lambdas[lam_i]
        for q in range(n):
            base[q] = 1.0 + lam * cos_t[q]
        max_int = 0
        for z in range(nz):
            col = lam_i * nz + z
            if zeta_int[z] > 0:
                max_int = max(max_int, zeta_int[z])
                for q in range(n):
                    ang[col, q] = rad[q]
            else:  # non-integer zeta: libm pow
                zeta = zetas[z]
                for q in range(n):
                    ang[col, q] = rad[q] * base[q] ** zeta
        # integer zeta: multiply in base^(2^bit) for every set bit (squaring)
        for q in range(n):
            cur[q] = base[q]
        bit = 1
        while bit <= max_int:
            for z in range(nz):
                if zeta_int[z] & bit:
                    col = lam_i * nz + z
                    for q in range(n):
                        ang[col, q] *= cur[q]
            bit <<= 1
            if bit <= max_int:
                for q in range(n):
                    cur[q] = cur[q] * cur[q]


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _sums4_exp(n, eta, ssum, ang, e, acc, m):
    """e[q] = exp(-eta ssum[q]) and acc[m, 0:4] += sum_q ang[0:4, q] e[q] in one pass
    (each e is used while in a register; the adds reassociated, as in :func:`_dot`)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    g0, g1, g2, g3 = ang[0], ang[1], ang[2], ang[3]
    for q in range(n):
        ev = _exp_neg(-eta * ssum[q])
        e[q] = ev
        s0 = _sum_add(s0, g0[q] * ev)
        s1 = _sum_add(s1, g1[q] * ev)
        s2 = _sum_add(s2, g2[q] * ev)
        s3 = _sum_add(s3, g3[q] * ev)
    acc[m, 0] += s0
    acc[m, 1] += s1
    acc[m, 2] += s2
    acc[m, 3] += s3


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _sums4(n, a0, ang, e, acc, m):
    """acc[m, a0:a0+4] += sum_q ang[a0:a0+4, q] e[q], one pass over e."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    g0, g1, g2, g3 = ang[a0], ang[a0 + 1], ang[a0 + 2], ang[a0 + 3]
    for q in range(n):
        ev = e[q]
        s0 = _sum_add(s0, g0[q] * ev)
        s1 = _sum_add(s1, g1[q] * ev)
        s2 = _sum_add(s2, g2[q] * ev)
        s3 = _sum_add(s3, g3[q] * ev)
    acc[m, a0] += s0
    acc[m, a0 + 1] += s1
    acc[m, a0 + 2] += s2
    acc[m, a0 + 3] += s3


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _flush(n, sum_only, g4_eta, g4_mu, lambdas, zetas, zeta_int, br1, br2, br3, brad, bcos,
           base, cur, e, ang, acc):
    """Eta pass over a block of n pairs: acc[m, a] += sum_q ang[a, q] e_m[q].

    ``sum_only`` (every mu is 0): ``br1`` holds each pair's exp argument sum
    (:func:`_compact_sum`); else ``br1, br2, br3`` hold r_ij, r_ik, r_jk.
    """
    if n == 0:
        return
    _angular(n, lambdas, zetas, zeta_int, brad, bcos, base, cur, ang)
    n_ang = ang.shape[0]
    if sum_only:
        ssum = br1
    else:
        # mu = 0: the exp argument's sum r1^2 + r2^2 + r3^2 once per pair, not once per
        # eta (the same expression, so the same bits); ``cur`` is free after _angular
        ssum = cur
        for q in range(n):
            ssum[q] = br1[q] * br1[q] + br2[q] * br2[q] + br3[q] * br3[q]
    for m in range(g4_eta.size):
        mu = g4_mu[m]
        a0 = 0
        if mu == 0.0 and n_ang >= 4:
            # the exponentials and the first four columns' sums in one pass, then the
            # other columns four at a time: e is read once per four columns
            _sums4_exp(n, g4_eta[m], ssum, ang, e, acc, m)
            a0 = 4
        else:
            if mu == 0.0:
                _exp_block_sum(ssum, g4_eta[m], e, n)
            else:
                _exp_block_mu(br1, br2, br3, g4_eta[m], mu, e, n)
        while a0 + 4 <= n_ang:
            _sums4(n, a0, ang, e, acc, m)
            a0 += 4
        for a in range(a0, n_ang):
            acc[m, a] += _dot(ang[a], e, n)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _g4(nb, r_cut, rjk_limit, nx, ny, nz, nr, nwfc, g4_eta, g4_mu, lambdas, zetas, zeta_int,
        stage, block, ang, acc):
    """G4 sums (unscaled) of one structure into acc (n_eta, n_lambda * n_zeta)."""
    acc[:, :] = 0.0
    prjk, pcos, prad = stage[0], stage[1], stage[2]
    br1, br2, br3, brad, bcos, base, cur, e = (
        block[0], block[1], block[2], block[3], block[4], block[5], block[6], block[7]
    )
    # the pair pass divides by r_ij r_ik without Numba's zero test (_fdiv): raise the
    # ZeroDivisionError that test would raise, from the two smallest distances' product
    # (transform refuses atoms within 1e-6 A of the absorber, so it never fires there)
    lo1 = math.inf
    lo2 = math.inf
    for j in range(nb):
        if nr[j] < lo1:
            lo2 = lo1
            lo1 = nr[j]
        elif nr[j] < lo2:
            lo2 = nr[j]
    if nb >= 2 and lo1 * lo2 == 0.0:
        raise ZeroDivisionError("division by zero")
    cap = br1.size
    fill = 0
    sum_only = True  # every mu 0 (the defaults): store each pair's exp argument sum only
    for m in range(g4_mu.size):
        if g4_mu[m] != 0.0:
            sum_only = False
    lanes = _LANES
    span = stage.shape[1] - 2 * lanes  # the stage holds a row's pairs, widened to vectors
    for j in range(nb - 1):
        k0 = j + 1
        while k0 < nb:
            k1 = min(nb, k0 + span)
            # whole vectors: from k0 rounded down to k1 rounded up (the padding, see
            # _pad_neighbours); the extra pairs are computed and never kept
            ka = k0 - k0 % lanes
            _pair_row(j, ka, _padded(k1, lanes), r_cut, rjk_limit, nx, ny, nz, nr, nwfc,
                      prjk, pcos, prad)
            if fill + (k1 - k0) > cap:
                _flush(fill, sum_only, g4_eta, g4_mu, lambdas, zetas, zeta_int, br1, br2,
                       br3, brad, bcos, base, cur, e, ang, acc)
                fill = 0
            if sum_only:
                fill = _compact_sum(j, k0, k1, ka, fill, rjk_limit, nr, prjk, pcos, prad,
                                    br1, brad, bcos)
            else:
                fill = _compact(j, k0, k1, ka, fill, rjk_limit, nr, prjk, pcos, prad,
                                br1, br2, br3, brad, bcos)
            k0 = k1
    _flush(fill, sum_only, g4_eta, g4_mu, lambdas, zetas, zeta_int, br1, br2, br3, brad, bcos,
           base, cur, e, ang, acc)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _one_structure(positions, weights, a, b, i, r_cut, rjk_limit, g2_eta, g2_mu, g4_eta, g4_mu,
                   lambdas, zetas, zeta_int, scale, nbr, stage, block, ang, acc, out_row):
    """Fill out_row with the wACSF vector of one structure, using scratch."""
    nb, g1 = _gather_neighbours(positions, weights, a, b, i, r_cut, nbr[0], nbr[1], nbr[2],
                                nbr[3], nbr[4], nbr[5], nbr[6])
    out_row[0] = g1
    _g2(nbr[3], nbr[6], nb, g2_eta, g2_mu, out_row)
    n2 = g2_eta.size
    _g4(nb, r_cut, rjk_limit, nbr[0], nbr[1], nbr[2], nbr[3], nbr[6], g4_eta, g4_mu, lambdas, zetas,
        zeta_int, stage, block, ang, acc)
    n_ang = acc.shape[1]
    for m in range(acc.shape[0]):
        for c in range(n_ang):
            out_row[1 + n2 + m * n_ang + c] = acc[m, c] * scale[c]


@numba.njit(cache=True, fastmath=FASTMATH)
def _run_range(start, stop, positions, weights, offsets, absorbers, r_cut, rjk_limit, g2_eta,
               g2_mu, g4_eta, g4_mu, lambdas, zetas, zeta_int, scale, nbr, stage, block, ang, acc,
               out):
    """Structures start..stop-1 on one thread with its own scratch (serial)."""
    for s in range(start, stop):
        _one_structure(
            positions, weights, offsets[s], offsets[s + 1], absorbers[s], r_cut, rjk_limit,
            g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, zeta_int, scale,
            nbr, stage, block, ang, acc, out[s],
        )


@numba.njit(cache=True, fastmath=FASTMATH)
def _thread_ranges(offsets, n_ranges):
    """Cut structures into n_ranges contiguous ranges of about equal n_atoms^2."""
    n_struct = offsets.size - 1
    cost = np.empty(n_struct + 1)
    cost[0] = 0.0
    for s in range(n_struct):
        n = float(offsets[s + 1] - offsets[s])
        cost[s + 1] = cost[s] + n * n
    bounds = np.empty(n_ranges + 1, dtype=np.int64)
    bounds[0] = 0
    for t in range(1, n_ranges):
        bounds[t] = max(bounds[t - 1], np.searchsorted(cost, cost[n_struct] * t / n_ranges))
    bounds[n_ranges] = n_struct
    return bounds


def _rjk_limit(r_cut, rjk_cutoff="clamped"):
    """The kernels' ``rjk_limit``: pairs with r_jk above it are dropped, and f_c(r_jk)
    is 0 above it -- ``r_cut`` for ``"clamped"``, infinity for ``"xanesnet"``."""
    if rjk_cutoff == "clamped":
        return float(r_cut)
    if rjk_cutoff == "xanesnet":
        return math.inf
    raise ValueError(f"rjk_cutoff must be 'clamped' or 'xanesnet', got {rjk_cutoff!r}")


def wacsf_features(
    positions, weights, offsets, absorbers, r_cut,
    g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, out, rjk_cutoff="clamped",
):
    """Fill ``out[s]`` with the wACSF vector of structure ``s``, for every s.

    Uses ``numba.get_num_threads()`` threads (read here: inside a compiled
    function it would stop the kernel from being cached).  ``rjk_cutoff``:
    ``"clamped"`` (f_c(r_jk) = 0 beyond r_c) or ``"xanesnet"`` (the unclamped
    cosine on r_jk).  A float32 ``out`` runs the float32 kernel (:func:`_kernel32`).
    """
    kernel = _kernel32 if out.dtype == np.float32 else _kernel
    kernel(
        positions, weights, offsets, absorbers, float(r_cut), _rjk_limit(r_cut, rjk_cutoff),
        g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, float(pair_scale), out,
        numba.get_num_threads(),
    )
    return out


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH, nogil=True)
def _kernel(
    positions, weights, offsets, absorbers, r_cut, rjk_limit,
    g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, out, n_threads,
):
    """:func:`wacsf_features` on ``n_threads`` cost-balanced ranges."""
    n_struct = offsets.size - 1
    if n_struct <= 0:
        return
    n_ranges = max(1, min(n_threads, n_struct))
    bounds = _thread_ranges(offsets, n_ranges)
    max_atoms = 1
    for s in range(n_struct):
        max_atoms = max(max_atoms, offsets[s + 1] - offsets[s])
    n_ang = lambdas.size * zetas.size
    # zeta as an int when it is a small positive integer (repeated squaring),
    # else 0 (pow)
    zeta_int = np.zeros(zetas.size, dtype=np.int64)
    for z in range(zetas.size):
        if zetas[z] == math.floor(zetas[z]) and 1.0 <= zetas[z] <= 1024.0:
            zeta_int[z] = int(zetas[z])
    scale = np.empty(n_ang)
    for lam_i in range(lambdas.size):
        for z in range(zetas.size):
            scale[lam_i * zetas.size + z] = pair_scale * 2.0 ** (1.0 - zetas[z])
    pad = 4 * _LANES  # a row's pairs widened to whole float32 vectors at both ends
    stage_len = min(max_atoms, _BLOCK) + pad
    nbr = np.empty((n_ranges, 7, max_atoms + pad))
    stage = np.empty((n_ranges, 3, stage_len))
    block = np.empty((n_ranges, 8, _BLOCK))
    ang = np.empty((n_ranges, n_ang, _BLOCK))
    acc = np.empty((n_ranges, g4_eta.size, n_ang))
    for t in numba.prange(n_ranges):
        _run_range(
            bounds[t], bounds[t + 1], positions, weights, offsets, absorbers, r_cut, rjk_limit,
            g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, zeta_int, scale,
            nbr[t], stage[t], block[t], ang[t], acc[t], out,
        )


def _renamed(func, name):
    """``func`` under another ``__qualname__``: Numba names a function's cache files
    after its qualified name and first line, and does not tell a ``parallel``
    compilation from a serial one there, so the serial twin of a ``parallel``
    kernel needs its own name, or each loads whichever of the two was cached
    first (the parallel kernel then runs on one thread, or the serial one
    starts a parallel region on every pool thread)."""
    twin = types_module.FunctionType(func.__code__, func.__globals__, name, func.__defaults__,
                                     func.__closure__)
    twin.__qualname__ = name
    twin.__doc__ = func.__doc__
    return twin


# The same kernel compiled without ``parallel``: ``prange`` is then ``range``,
# and one call runs on the calling thread, releasing the GIL.
_serial_kernel = numba.njit(cache=True, fastmath=FASTMATH, nogil=True)(
    _renamed(_kernel.py_func, "_serial_kernel"))


def wacsf_features_range(
    positions, weights, offsets, absorbers, r_cut,
    g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, out, start, stop,
    rjk_cutoff="clamped",
):
    """:func:`wacsf_features` for structures ``start .. stop - 1`` only, on the calling
    thread (the GIL released), filling ``out[start:stop]``.

    Several Python threads may call it at once on disjoint ranges: this is
    how :class:`wacsf.WACSFTransformer` spreads the work over ``n_jobs``
    threads while the next chunk is packed (see ``transformer._Threads``).
    """
    if stop > start:
        kernel = _serial_kernel32 if out.dtype == np.float32 else _serial_kernel
        kernel(
            positions, weights, offsets[start:stop + 1], absorbers[start:stop], float(r_cut),
            _rjk_limit(r_cut, rjk_cutoff), g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas,
            float(pair_scale), out[start:stop], 1,
        )
    return out


def cost_ranges(offsets, n_ranges):
    """Bounds of ``n_ranges`` contiguous ranges of structures of about equal cost."""
    n_struct = offsets.size - 1
    return _thread_ranges(offsets, max(1, min(int(n_ranges), n_struct)))


# ------------------------------------------------------------------ float32 kernel
#
# The same algorithm with the pair and eta passes in float32 (twice the SIMD
# lanes), for ``out`` of dtype float32.  What stays float64, and why (measured
# against the float64 kernel, see tests/test_cpu_float32.py):
#
# - positions, the neighbour search, r_ij, f_c(r_ij) and G1, exactly as the
#   float64 kernel (O(n_atoms) work); the neighbours' vectors, r and w f_c are
#   then rounded to float32 once;
# - G2 (n_neighbours x n_g2 exponentials, a small part of the work): the
#   shifted G2 grid's eta (19 A^-2 at the defaults) would turn the float32
#   rounding of r into a 1e-5 relative error of exp already at
#   eta (r - mu)^2 ~ 10, and a loop mixing float64 exponents with float32
#   exponentials measured slower than the float64 one;
# - the G4 accumulators: each block of up to ``_BLOCK`` pairs is summed in
#   float32, and the block sums are added in float64.
#
# Constants are float32 globals (a float64 literal would promote the
# arithmetic to float64).

_F32 = np.float32
_ZERO32 = _F32(0.0)
_HALF32 = _F32(0.5)
_ONE32 = _F32(1.0)
_MONE32 = _F32(-1.0)
_PI32 = _F32(math.pi)
_HALF_PI32 = _F32(0.5 * math.pi)
_LOG2E32 = _F32(_LOG2E)
# ln 2 split for float32 Cody-Waite: _LN2_HI32 has 12 trailing zero bits
# (n * _LN2_HI32 exact for |n| < 2^12)
_LN2_HI32 = _F32(0.693145751953125)
_LN2_LO32 = _F32(1.428606765330187e-06)
# exp(x) < 2^-150 (rounds to 0 in float32) below this
_EXP_MIN_ARG32 = _F32(-104.0)
# adding 1.5 * 2^23 to |y| < 2^22 rounds y to an integer
_ROUND_MAGIC32 = _F32(12582912.0)
_EXP_C32 = tuple(_F32(1.0 / math.factorial(k)) for k in range(8))
_SIN_C32 = tuple(_F32((-1) ** k / math.factorial(2 * k + 1)) for k in range(7))


@intrinsic
def _fma32(typingctx, a, b, c):
    """a * b + c in float32 with one rounding (llvm.fma.f32)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fnty = ir.FunctionType(f32, [f32, f32, f32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f32")
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _sum_add32(typingctx, acc, x):
    """acc + x in float32 as an LLVM ``fadd reassoc`` (see :func:`_sum_add`)."""
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1], flags=("reassoc",))

    return sig, codegen


@intrinsic
def _fdiv32(typingctx, a, b):
    """a / b in float32 as a plain IEEE division (see :func:`_fdiv`)."""
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        return builder.fdiv(args[0], args[1])

    return sig, codegen


# The bits of _ROUND_MAGIC32: for t in [2^23, 2^24) the float32 spacing is 1, so
# bits(t) - _ROUND_MAGIC32_BITS == t - _ROUND_MAGIC32 exactly.
_ROUND_MAGIC32_BITS = 0x4B400000


@intrinsic
def _times_pow2_32(typingctx, p, t):
    """p * 2^n for n = bits(t) - bits(1.5 * 2^23) = round(x / ln 2), as
    ``(p * 2^(n - n//2)) * 2^(n//2)`` so that subnormal results round once.

    Every integer step is an i32 (|n| < 2^22), so a vector of 8 float32 lanes
    stays one vector of 8 int32 lanes: in Numba's int64 arithmetic LLVM
    widened each 8 lanes to two 4-lane int64 vectors and back.
    """
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        i32, f32 = ir.IntType(32), ir.FloatType()
        n = builder.sub(builder.bitcast(args[1], i32), ir.Constant(i32, _ROUND_MAGIC32_BITS))
        n1 = builder.ashr(n, ir.Constant(i32, 1))  # n // 2, as Python's >> (floor)

        def pow2(k):  # 2^k from the exponent bits, -126 <= k <= 127
            biased = builder.add(k, ir.Constant(i32, 127))
            return builder.bitcast(builder.shl(biased, ir.Constant(i32, 23)), f32)

        return builder.fmul(builder.fmul(args[0], pow2(builder.sub(n, n1))), pow2(n1))

    return sig, codegen


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_neg32(x):
    """exp(x) in float32 for x <= 0, branch-free (as :func:`_exp_neg`).

    Cody-Waite reduction to |r| <= ln2/2, Taylor polynomial of degree 7
    (truncation < 0.347^8/8! = 5e-9) in Estrin's scheme with FMAs, times
    2^(n - n//2) 2^(n//2) so that subnormal results round once; x <= -104
    gives exactly 0, x = 0 exactly 1.  Tested against ``np.exp`` in float64.
    """
    x = max(x, _EXP_MIN_ARG32)
    t = _fma32(x, _LOG2E32, _ROUND_MAGIC32)
    fn = t - _ROUND_MAGIC32
    r = _fma32(-fn, _LN2_LO32, _fma32(-fn, _LN2_HI32, x))
    r2 = r * r
    r4 = r2 * r2
    p01 = _ONE32 + r
    p23 = _fma32(r, _EXP_C32[3], _EXP_C32[2])
    p45 = _fma32(r, _EXP_C32[5], _EXP_C32[4])
    p67 = _fma32(r, _EXP_C32[7], _EXP_C32[6])
    p03 = _fma32(r2, p23, p01)
    p47 = _fma32(r2, p67, p45)
    p = _fma32(r4, p47, p03)
    # times 2^n, n = int(fn) read from t's bits (AVX2 has no packed float32 -> int64
    # conversion), in int32 lanes
    return _times_pow2_32(p, t)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _cutoff_rjk32(r, r_cut, rjk_limit):
    """:func:`_cutoff_rjk` in float32: sin by its Taylor polynomial to degree 13
    (truncation < (pi/2)^15/15! = 7e-10), Horner with FMAs."""
    rr = r if r <= r_cut else _F32(2.0) * r_cut - r
    z = _PI32 * rr / r_cut - _HALF_PI32
    z2 = z * z
    p = _SIN_C32[6]
    p = _fma32(p, z2, _SIN_C32[5])
    p = _fma32(p, z2, _SIN_C32[4])
    p = _fma32(p, z2, _SIN_C32[3])
    p = _fma32(p, z2, _SIN_C32[2])
    p = _fma32(p, z2, _SIN_C32[1])
    sin_z = _fma32(z, z2 * p, z)
    fc = _HALF32 * (_ONE32 - sin_z)
    return fc if r <= rjk_limit else _ZERO32


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot32(a, b, n):
    """sum(a[:n] * b[:n]) in float32 of non-negative terms (reassociated: vectorised)."""
    acc = _ZERO32
    for q in range(n):
        acc = _sum_add32(acc, a[q] * b[q])
    return acc


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _pair_row32(j, k0, k1, r_cut, rjk_limit, nx, ny, nz, nr, nwfc, prjk, pcos, prad):
    """:func:`_pair_row` in float32."""
    xj = nx[j]
    yj = ny[j]
    zj = nz[j]
    rj = nr[j]
    wfcj = nwfc[j]
    for k in range(k0, k1):
        dx = xj - nx[k]
        dy = yj - ny[k]
        dz = zj - nz[k]
        prjk[k - k0] = math.sqrt(dx * dx + dy * dy + dz * dz)
    for k in range(k0, k1):
        c = _fdiv32(xj * nx[k] + yj * ny[k] + zj * nz[k], rj * nr[k])  # > 0: see _g4_32
        pcos[k - k0] = min(_ONE32, max(_MONE32, c))
    for k in range(k0, k1):
        prad[k - k0] = wfcj * nwfc[k] * _cutoff_rjk32(prjk[k - k0], r_cut, rjk_limit)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _angular32(n, lambdas, zetas, zeta_int, rad, cos_t, base, cur, ang):
    """:func:`_angular` in float32 (``lambdas``, ``zetas`` float32)."""
    nz = zetas.size
    for lam_i in range(lambdas.size):
        lam = lambdas[lam_i]
        for q in range(n):
            base[q] = _ONE32 + lam * cos_t[q]
        max_int = 0
        for z in range(nz):
            col = lam_i * nz + z
            if zeta_int[z] > 0:
                max_int = max(max_int, zeta_int[z])
                for q in range(n):
                    ang[col, q] = rad[q]
            else:
                zeta = zetas[z]
                for q in range(n):
                    ang[col, q] = rad[q] * base[q] ** zeta
        for q in range(n):
            cur[q] = base[q]
        bit = 1
        while bit <= max_int:
            for z in range(nz):
                if zeta_int[z] & bit:
                    col = lam_i * nz + z
                    for q in range(n):
                        ang[col, q] *= cur[q]
            bit <<= 1
            if bit <= max_int:
                for q in range(n):
                    cur[q] = cur[q] * cur[q]


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _fused4_exp(n, eta, ssum, ang, e, acc, m):
    """e[q] = exp(eta ssum[q]) and acc[m, 0:4] += sum_q ang[0:4, q] e[q], one pass."""
    s0 = _ZERO32
    s1 = _ZERO32
    s2 = _ZERO32
    s3 = _ZERO32
    g0, g1, g2, g3 = ang[0], ang[1], ang[2], ang[3]
    for q in range(n):
        ev = _exp_neg32(eta * ssum[q])
        e[q] = ev
        s0 = _sum_add32(s0, g0[q] * ev)
        s1 = _sum_add32(s1, g1[q] * ev)
        s2 = _sum_add32(s2, g2[q] * ev)
        s3 = _sum_add32(s3, g3[q] * ev)
    acc[m, 0] += np.float64(s0)
    acc[m, 1] += np.float64(s1)
    acc[m, 2] += np.float64(s2)
    acc[m, 3] += np.float64(s3)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _fused4(n, a0, ang, e, acc, m):
    """acc[m, a0:a0+4] += sum_q ang[a0:a0+4, q] e[q], one pass over e."""
    s0 = _ZERO32
    s1 = _ZERO32
    s2 = _ZERO32
    s3 = _ZERO32
    g0, g1, g2, g3 = ang[a0], ang[a0 + 1], ang[a0 + 2], ang[a0 + 3]
    for q in range(n):
        ev = e[q]
        s0 = _sum_add32(s0, g0[q] * ev)
        s1 = _sum_add32(s1, g1[q] * ev)
        s2 = _sum_add32(s2, g2[q] * ev)
        s3 = _sum_add32(s3, g3[q] * ev)
    acc[m, a0] += np.float64(s0)
    acc[m, a0 + 1] += np.float64(s1)
    acc[m, a0 + 2] += np.float64(s2)
    acc[m, a0 + 3] += np.float64(s3)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _flush32(n, sum_only, g4_eta, g4_mu, lambdas, zetas, zeta_int, br1, br2, br3, brad, bcos,
             base, cur, e, ang, acc):
    """:func:`_flush` in float32; the block sums go into the float64 ``acc``."""
    if n == 0:
        return
    _angular32(n, lambdas, zetas, zeta_int, brad, bcos, base, cur, ang)
    n_ang = ang.shape[0]
    if sum_only:
        ssum = br1  # the exp argument sums (_compact_sum)
    else:
        ssum = base  # free once the angular factors are made: r_ij^2 + r_ik^2 + r_jk^2
        for q in range(n):
            ssum[q] = br1[q] * br1[q] + br2[q] * br2[q] + br3[q] * br3[q]
    for m in range(g4_eta.size):
        mu = g4_mu[m]
        eta = -g4_eta[m]
        if mu == _ZERO32 and n_ang >= 4:
            # exponentials and the first four columns' sums in one pass, then the
            # other columns four at a time: e is read once per four columns
            _fused4_exp(n, eta, ssum, ang, e, acc, m)
            a0 = 4
            while a0 + 4 <= n_ang:
                _fused4(n, a0, ang, e, acc, m)
                a0 += 4
            for a in range(a0, n_ang):
                acc[m, a] += np.float64(_dot32(ang[a], e, n))
            continue
        if mu == _ZERO32:
            for q in range(n):
                e[q] = _exp_neg32(eta * ssum[q])
        else:
            for q in range(n):
                d1 = br1[q] - mu
                d2 = br2[q] - mu
                d3 = br3[q] - mu
                e[q] = _exp_neg32(eta * (d1 * d1 + d2 * d2 + d3 * d3))
        for a in range(n_ang):
            acc[m, a] += np.float64(_dot32(ang[a], e, n))


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _g4_32(nb, r_cut, rjk_limit, nx, ny, nz, nr, nwfc, g4_eta, g4_mu, lambdas, zetas, zeta_int,
           stage, block, ang, acc):
    """:func:`_g4` in float32 (float64 ``acc``)."""
    acc[:, :] = 0.0
    prjk, pcos, prad = stage[0], stage[1], stage[2]
    # the ZeroDivisionError of Numba's checked division, which the pair pass does
    # not use (_fdiv32), raised as in _g4, from the float32 product
    lo1 = _F32(math.inf)
    lo2 = _F32(math.inf)
    for j in range(nb):
        if nr[j] < lo1:
            lo2 = lo1
            lo1 = nr[j]
        elif nr[j] < lo2:
            lo2 = nr[j]
    if nb >= 2 and lo1 * lo2 == _ZERO32:
        raise ZeroDivisionError("division by zero")
    br1, br2, br3, brad, bcos, base, cur, e = (
        block[0], block[1], block[2], block[3], block[4], block[5], block[6], block[7]
    )
    cap = br1.size
    fill = 0
    sum_only = True  # as in _g4
    for m in range(g4_mu.size):
        if g4_mu[m] != 0.0:
            sum_only = False
    lanes = 2 * _LANES
    span = stage.shape[1] - 2 * lanes
    for j in range(nb - 1):
        k0 = j + 1
        while k0 < nb:
            k1 = min(nb, k0 + span)
            ka = k0 - k0 % lanes  # whole float32 vectors, as in _g4
            _pair_row32(j, ka, _padded(k1, lanes), r_cut, rjk_limit, nx, ny, nz, nr, nwfc,
                        prjk, pcos, prad)
            if fill + (k1 - k0) > cap:
                _flush32(fill, sum_only, g4_eta, g4_mu, lambdas, zetas, zeta_int, br1, br2,
                         br3, brad, bcos, base, cur, e, ang, acc)
                fill = 0
            if sum_only:
                fill = _compact_sum(j, k0, k1, ka, fill, rjk_limit, nr, prjk, pcos, prad,
                                    br1, brad, bcos)
            else:
                fill = _compact(j, k0, k1, ka, fill, rjk_limit, nr, prjk, pcos, prad,
                                br1, br2, br3, brad, bcos)
            k0 = k1
    _flush32(fill, sum_only, g4_eta, g4_mu, lambdas, zetas, zeta_int, br1, br2, br3, brad,
             bcos, base, cur, e, ang, acc)


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _one_structure32(positions, weights, a, b, i, r_cut, rjk_limit, g2_eta, g2_mu, g4_eta,
                     g4_mu, lambdas, zetas, zeta_int, scale, nbr, nbr32, stage, block, ang, acc,
                     out_row):
    """:func:`_one_structure` with the float32 passes; ``out_row`` float32."""
    nb, g1 = _gather_neighbours(positions, weights, a, b, i, r_cut, nbr[0], nbr[1], nbr[2],
                                nbr[3], nbr[4], nbr[5], nbr[6])
    out_row[0] = g1
    _g2(nbr[3], nbr[6], nb, g2_eta, g2_mu, out_row)  # float64, rounded on store
    for j in range(_padded(nb, 2 * _LANES)):  # with the padding (_pad_neighbours)
        nbr32[4, j] = nbr[6, j]
        nbr32[0, j] = nbr[0, j]
        nbr32[1, j] = nbr[1, j]
        nbr32[2, j] = nbr[2, j]
        nbr32[3, j] = nbr[3, j]
    r_cut32 = _F32(r_cut)
    rjk_limit32 = _F32(rjk_limit)
    _g4_32(nb, r_cut32, rjk_limit32, nbr32[0], nbr32[1], nbr32[2], nbr32[3], nbr32[4],
           g4_eta, g4_mu, lambdas, zetas, zeta_int, stage, block, ang, acc)
    n2 = g2_eta.size
    n_ang = acc.shape[1]
    for m in range(acc.shape[0]):
        for c in range(n_ang):
            out_row[1 + n2 + m * n_ang + c] = acc[m, c] * scale[c]


@numba.njit(cache=True, fastmath=FASTMATH)
def _run_range32(start, stop, positions, weights, offsets, absorbers, r_cut, rjk_limit, g2_eta,
                 g2_mu, g4_eta, g4_mu, lambdas, zetas, zeta_int, scale, nbr, nbr32, stage, block,
                 ang, acc, out):
    """:func:`_run_range` with the float32 passes."""
    for s in range(start, stop):
        _one_structure32(
            positions, weights, offsets[s], offsets[s + 1], absorbers[s], r_cut, rjk_limit,
            g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, zeta_int, scale,
            nbr, nbr32, stage, block, ang, acc, out[s],
        )


@numba.njit(parallel=True, cache=True, fastmath=FASTMATH, nogil=True)
def _kernel32(
    positions, weights, offsets, absorbers, r_cut, rjk_limit,
    g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, out, n_threads,
):
    """:func:`_kernel` for a float32 ``out``: the pair and eta passes in float32."""
    n_struct = offsets.size - 1
    if n_struct <= 0:
        return
    n_ranges = max(1, min(n_threads, n_struct))
    bounds = _thread_ranges(offsets, n_ranges)
    max_atoms = 1
    for s in range(n_struct):
        max_atoms = max(max_atoms, offsets[s + 1] - offsets[s])
    n_ang = lambdas.size * zetas.size
    zeta_int = np.zeros(zetas.size, dtype=np.int64)
    for z in range(zetas.size):
        if zetas[z] == math.floor(zetas[z]) and 1.0 <= zetas[z] <= 1024.0:
            zeta_int[z] = int(zetas[z])
    scale = np.empty(n_ang)
    for lam_i in range(lambdas.size):
        for z in range(zetas.size):
            scale[lam_i * zetas.size + z] = pair_scale * 2.0 ** (1.0 - zetas[z])
    g4_eta32 = g4_eta.astype(np.float32)
    g4_mu32 = g4_mu.astype(np.float32)
    lambdas32 = lambdas.astype(np.float32)
    zetas32 = zetas.astype(np.float32)
    pad = 4 * _LANES  # see _kernel
    stage_len = min(max_atoms, _BLOCK) + pad
    nbr = np.empty((n_ranges, 7, max_atoms + pad))
    nbr32 = np.empty((n_ranges, 5, max_atoms + pad), dtype=np.float32)
    stage = np.empty((n_ranges, 3, stage_len), dtype=np.float32)
    block = np.empty((n_ranges, 8, _BLOCK), dtype=np.float32)
    ang = np.empty((n_ranges, n_ang, _BLOCK), dtype=np.float32)
    acc = np.empty((n_ranges, g4_eta.size, n_ang))
    for t in numba.prange(n_ranges):
        _run_range32(
            bounds[t], bounds[t + 1], positions, weights, offsets, absorbers, r_cut, rjk_limit,
            g2_eta, g2_mu, g4_eta32, g4_mu32, lambdas32, zetas32, zeta_int, scale,
            nbr[t], nbr32[t], stage[t], block[t], ang[t], acc[t], out,
        )


_serial_kernel32 = numba.njit(cache=True, fastmath=FASTMATH, nogil=True)(
    _renamed(_kernel32.py_func, "_serial_kernel32"))
