"""The NumPy oracle: wACSF straight from the equations, one structure at a time.

Slow and plain on purpose; the Numba and CUDA kernels are tested against it.
It takes the packed layout of :mod:`wacsf._structures` (``positions``,
``weights``, ``offsets``, ``absorbers``) and writes every row of ``out``.

For the absorber i, neighbours j, k != i, cutoff r_c (XANESNET paper eqs. 1-7):

    f_c(r)  = 0.5 (cos(pi r / r_c) + 1) for r <= r_c, else 0
    G1      = sum_j f_c(r_ij)
    G2      = sum_j w_j f_c(r_ij) exp(-eta (r_ij - mu)^2)
    G4      = 2^(1 - zeta) sum_{j<k} w_j w_k (1 + lambda cos theta_jik)^zeta
              f_c(r_ij) f_c(r_ik) f_c(r_jk)
              exp(-eta (r_ij - mu)^2) exp(-eta (r_ik - mu)^2) exp(-eta (r_jk - mu)^2)

``pair_scale`` multiplies G4: 1 for unordered pairs j<k, 2 for the ordered
double sum of the paper's eq. 4.

``rjk_cutoff="xanesnet"`` replaces f_c(r_jk) by the unclamped cosine
0.5 (cos(pi r_jk / r_c) + 1) for every r_jk (up to 2 r_c), as every public
XANESNET code computes it; ``"clamped"`` (default) is the formula above.
"""

import numpy as np

__all__ = ["cutoff", "cutoff_unclamped", "wacsf_features", "RJK_CUTOFFS"]

#: Accepted values of ``rjk_cutoff``.
RJK_CUTOFFS = ("clamped", "xanesnet")


def cutoff(r, r_cut):
    """Cosine cutoff f_c(r), exactly zero beyond ``r_cut``."""
    r = np.asarray(r, dtype=np.float64)
    return np.where(r <= r_cut, 0.5 * (np.cos(np.pi * r / r_cut) + 1.0), 0.0)


def cutoff_unclamped(r, r_cut):
    """0.5 (cos(pi r / r_cut) + 1) for every r: XANESNET's f_c(r_jk), not zero beyond r_cut."""
    r = np.asarray(r, dtype=np.float64)
    return 0.5 * (np.cos(np.pi * r / r_cut) + 1.0)


def check_rjk_cutoff(rjk_cutoff):
    """``rjk_cutoff`` itself, or a ValueError naming the accepted values."""
    if not isinstance(rjk_cutoff, str) or rjk_cutoff not in RJK_CUTOFFS:
        raise ValueError(f"rjk_cutoff must be 'clamped' or 'xanesnet', got {rjk_cutoff!r}")
    return rjk_cutoff


def _one(pos, w, i, r_cut, g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale,
         rjk_cutoff):
    others = np.delete(np.arange(len(pos)), i)
    rij_vec = pos[others] - pos[i]
    rij = np.linalg.norm(rij_vec, axis=1)
    keep = rij <= r_cut
    rij_vec, rij, wj = rij_vec[keep], rij[keep], w[others][keep]
    fc = cutoff(rij, r_cut)

    g1 = fc.sum()
    g2 = (wj * fc * np.exp(-g2_eta[:, None] * (rij - g2_mu[:, None]) ** 2)).sum(axis=1)

    j, k = np.triu_indices(len(rij), k=1)
    rjk = np.linalg.norm(rij_vec[j] - rij_vec[k], axis=1)
    cos_theta = np.einsum("ij,ij->i", rij_vec[j], rij_vec[k]) / (rij[j] * rij[k])
    cos_theta = np.clip(cos_theta, -1.0, 1.0)  # rounding must not make 1 + lambda cos < 0
    fc_jk = cutoff(rjk, r_cut) if rjk_cutoff == "clamped" else cutoff_unclamped(rjk, r_cut)
    radial = wj[j] * wj[k] * fc[j] * fc[k] * fc_jk
    g4 = []
    for eta, mu in zip(g4_eta, g4_mu):
        gauss = np.exp(-eta * ((rij[j] - mu) ** 2 + (rij[k] - mu) ** 2 + (rjk - mu) ** 2))
        for lam in lambdas:
            base = 1.0 + lam * cos_theta
            for zeta in zetas:
                term = np.power(base, zeta) * radial * gauss
                g4.append(pair_scale * 2.0 ** (1.0 - zeta) * term.sum())
    return np.concatenate([[g1], g2, np.asarray(g4, dtype=np.float64)])


def wacsf_features(
    positions, weights, offsets, absorbers, r_cut,
    g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, out, rjk_cutoff="clamped",
):
    """Fill ``out[s]`` with the wACSF vector of structure ``s``, for every s."""
    check_rjk_cutoff(rjk_cutoff)
    for s in range(len(offsets) - 1):
        a, b = offsets[s], offsets[s + 1]
        out[s] = _one(
            positions[a:b], weights[a:b], absorbers[s] - a, r_cut,
            g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale, rjk_cutoff,
        )
    return out
