"""Numba CPU kernels for wACSF (parallel over structures).

Same entry point and packed layout as :mod:`wacsf._reference`; see
:mod:`wacsf._structures` for the layout.  Straightforward version: one scalar
``exp`` per pair and eta.
"""

import math

import numba
import numpy as np

__all__ = ["wacsf_features"]


@numba.njit(cache=True, fastmath=False)
def _fc(r, r_cut):
    if r > r_cut:
        return 0.0
    return 0.5 * (math.cos(math.pi * r / r_cut) + 1.0)


@numba.njit(parallel=True, cache=True, fastmath=False)
def wacsf_features(
    positions, weights, offsets, absorbers, r_cut,
    g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, out,
):
    n_struct = offsets.size - 1
    n2 = g2_eta.size
    nl = lambdas.size
    nz = zetas.size
    for s in numba.prange(n_struct):
        a = offsets[s]
        b = offsets[s + 1]
        i = absorbers[s]
        nb = 0
        vec = np.empty((b - a, 3))
        dist = np.empty(b - a)
        wt = np.empty(b - a)
        fcs = np.empty(b - a)
        for j in range(a, b):
            if j == i:
                continue
            dx = positions[j, 0] - positions[i, 0]
            dy = positions[j, 1] - positions[i, 1]
            dz = positions[j, 2] - positions[i, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            if r > r_cut:
                continue
            vec[nb, 0] = dx
            vec[nb, 1] = dy
            vec[nb, 2] = dz
            dist[nb] = r
            wt[nb] = weights[j]
            fcs[nb] = _fc(r, r_cut)
            nb += 1
        for f in range(out.shape[1]):
            out[s, f] = 0.0
        for j in range(nb):
            out[s, 0] += fcs[j]
            for m in range(n2):
                d = dist[j] - g2_mu[m]
                out[s, 1 + m] += wt[j] * fcs[j] * math.exp(-g2_eta[m] * d * d)
        for j in range(nb):
            for k in range(j + 1, nb):
                dx = vec[j, 0] - vec[k, 0]
                dy = vec[j, 1] - vec[k, 1]
                dz = vec[j, 2] - vec[k, 2]
                rjk = math.sqrt(dx * dx + dy * dy + dz * dz)
                if rjk > r_cut:
                    continue
                cos_t = (vec[j, 0] * vec[k, 0] + vec[j, 1] * vec[k, 1] + vec[j, 2] * vec[k, 2]) / (
                    dist[j] * dist[k]
                )
                cos_t = min(1.0, max(-1.0, cos_t))
                radial = wt[j] * wt[k] * fcs[j] * fcs[k] * _fc(rjk, r_cut)
                for m in range(g4_eta.size):
                    mu = g4_mu[m]
                    e = math.exp(
                        -g4_eta[m]
                        * ((dist[j] - mu) ** 2 + (dist[k] - mu) ** 2 + (rjk - mu) ** 2)
                    )
                    for l in range(nl):
                        base = 1.0 + lambdas[l] * cos_t
                        for z in range(nz):
                            col = 1 + n2 + (m * nl + l) * nz + z
                            out[s, col] += radial * e * base ** zetas[z]
        for m in range(g4_eta.size):
            for l in range(nl):
                for z in range(nz):
                    col = 1 + n2 + (m * nl + l) * nz + z
                    out[s, col] *= pair_scale * 2.0 ** (1.0 - zetas[z])
    return out
