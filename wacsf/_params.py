"""Parameter grids, feature names and cross-parameter checks for wACSF.

Pure functions of the transformer's parameters; no structure data.  The
grids follow the Gastegger-Marquetand "out of the box" schemes used by the
XANESNET code (see SPEC.md and the docstring of :func:`g2_grid`).
"""

from numbers import Integral, Real

import numpy as np

__all__ = ["g2_grid", "g4_grid", "g4_expand", "feature_names", "resolve_grids"]

_SCHEMES = ("shifted", "centred")


def _radial_points(scheme, n, r_min, r_cut):
    """Radial points r_k of a scheme, before they become (eta, mu)."""
    if scheme == "shifted":
        start = r_min + 0.5
    elif scheme == "centred":
        start = r_min + 1.0
    else:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    stop = r_cut - 0.5
    if not stop > start:
        raise ValueError(
            f"the {scheme} grid runs from r_min + {start - r_min:g} = {start:g} to "
            f"r_cut - 0.5 = {stop:g} Angstrom, which is empty: increase r_cut "
            f"(got {r_cut!r}) or decrease r_min (got {r_min!r})"
        )
    return np.linspace(start, stop, n)


def _eta_mu(scheme, r, step):
    if scheme == "shifted":
        if not step > 0:
            raise ValueError("the shifted scheme needs at least 2 grid points to set its width")
        eta = np.full_like(r, 1.0 / (2.0 * step**2))
        mu = r.copy()
    else:
        eta = 1.0 / (2.0 * r**2)
        mu = np.zeros_like(r)
    return eta, mu


def _check_n(name, n):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, Integral) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
    return int(n)


def g2_grid(n, r_cut=6.0, r_min=0.0, scheme="shifted"):
    """Radial (eta, mu) parameters of the G2 functions.

    Parameters
    ----------
    n : int
        Number of G2 functions.
    r_cut : float, default=6.0
        Cutoff radius in Angstrom.
    r_min : float, default=0.0
        Start of the radial grid in Angstrom.
    scheme : {"shifted", "centred"}, default="shifted"
        ``"shifted"``: ``r_k = linspace(r_min + 0.5, r_cut - 0.5, n)``,
        ``mu_k = r_k`` and one width ``eta = 1 / (2 dr**2)`` with ``dr`` the
        grid step.  ``"centred"``: ``r_k = linspace(r_min + 1.0, r_cut - 0.5,
        n)``, ``mu_k = 0`` and ``eta_k = 1 / (2 r_k**2)``.

    Returns
    -------
    eta, mu : ndarray of shape (n,)
        Gaussian widths (1/Angstrom^2) and centres (Angstrom).

    Examples
    --------
    >>> from wacsf import g2_grid
    >>> eta, mu = g2_grid(6, r_cut=6.0)
    >>> mu
    array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    >>> eta
    array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    """
    n = _check_n("n", n)
    if n == 0:
        return np.empty(0), np.empty(0)
    r = _radial_points(scheme, n, r_min, r_cut)
    step = r[1] - r[0] if n > 1 else 0.0
    return _eta_mu(scheme, r, step)


def g4_grid(n_g4, r_cut=6.0, r_min=0.0, scheme="centred", n_angular=8, span="xanesnet"):
    """Radial (eta, mu) pairs of the G4 functions, one per (lambda, zeta) block.

    Parameters
    ----------
    n_g4 : int
        Total number of G4 functions; must be divisible by ``n_angular``.
    r_cut : float, default=6.0
        Cutoff radius in Angstrom.
    r_min : float, default=0.0
        Start of the radial grid in Angstrom.
    scheme : {"centred", "shifted"}, default="centred"
        Radial scheme, as in :func:`g2_grid`.
    n_angular : int, default=8
        ``len(lambdas) * len(zetas)``: how many G4 functions share each
        (eta, mu) pair.
    span : {"xanesnet", "spanning"}, default="xanesnet"
        ``"xanesnet"`` builds the scheme's grid with ``n_g4`` points and keeps
        its first ``n_g4 // n_angular`` -- what the XANESNET code does and how
        the published data were made (with the paper's defaults, r_k from 1.0
        to about 1.5 Angstrom).  ``"spanning"`` builds ``n_g4 // n_angular``
        points over the whole range ``r_min + 1.0 ... r_cut - 0.5``.

    Returns
    -------
    eta, mu : ndarray of shape (n_g4 // n_angular,)

    Examples
    --------
    >>> from wacsf import g4_grid
    >>> eta, mu = g4_grid(64)
    >>> eta.shape, float(mu.max())
    ((8,), 0.0)
    """
    n_g4 = _check_n("n_g4", n_g4)
    n_angular = _check_n("n_angular", n_angular)
    if n_angular == 0:
        raise ValueError("n_angular = len(lambdas) * len(zetas) must be positive")
    if n_g4 % n_angular:
        raise ValueError(
            f"n_g4={n_g4} is not divisible by len(lambdas) * len(zetas) = {n_angular}: "
            f"choose n_g4 as a multiple of {n_angular} "
            f"(e.g. {max(1, n_g4 // n_angular) * n_angular})"
        )
    n_radial = n_g4 // n_angular
    if n_radial == 0:
        return np.empty(0), np.empty(0)
    if span == "xanesnet":
        r = _radial_points(scheme, n_g4, r_min, r_cut)
        step = r[1] - r[0] if n_g4 > 1 else 0.0
        r = r[:n_radial]
    elif span == "spanning":
        r = _radial_points(scheme, n_radial, r_min, r_cut)
        step = r[1] - r[0] if n_radial > 1 else 0.0
    else:
        raise ValueError(f"span must be 'xanesnet' or 'spanning', got {span!r}")
    return _eta_mu(scheme, r, step)


def g4_expand(eta, mu, lambdas, zetas):
    """All G4 parameter quadruples in feature order.

    (eta, mu) varies slowest, then lambda, then zeta fastest.

    Returns
    -------
    params : ndarray of shape (len(eta) * len(lambdas) * len(zetas), 4)
        Columns eta, mu, lambda, zeta.
    """
    eta = np.asarray(eta, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    lam = np.asarray(lambdas, dtype=np.float64)
    zeta = np.asarray(zetas, dtype=np.float64)
    grid = np.array(
        [(e, m, la, z) for e, m in zip(eta, mu) for la in lam for z in zeta], dtype=np.float64
    )
    return grid.reshape(-1, 4)


def _explicit(name, value):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"{name} given as an array must have shape (n, 2) with columns (eta, mu); "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    if np.any(arr[:, 0] < 0):
        raise ValueError(f"the eta column of {name} must be >= 0, got {arr[:, 0].tolist()}")
    return arr[:, 0].copy(), arr[:, 1].copy()


def _check_angular(lambdas, zetas):
    lam = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    zeta = np.atleast_1d(np.asarray(zetas, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isin(lam, (-1.0, 1.0))):
        raise ValueError(f"lambdas must be a non-empty sequence of +1 and -1, got {lambdas!r}")
    if zeta.ndim != 1 or zeta.size == 0 or not np.all(np.isfinite(zeta)) or np.any(zeta < 1):
        raise ValueError(f"zetas must be a non-empty sequence of numbers >= 1, got {zetas!r}")
    return lam, zeta


def resolve_grids(
    r_cut, r_min, n_g2, n_g4, g2_scheme, g4_scheme, g4_span, lambdas, zetas
):
    """Every parameter array the kernels need, after cross-parameter checks.

    Returns
    -------
    dict
        ``g2_eta``, ``g2_mu``, ``g4_eta``, ``g4_mu``, ``lambdas``, ``zetas``
        as contiguous float64 arrays.
    """
    if not isinstance(r_cut, Real) or not np.isfinite(r_cut) or r_cut <= 0:
        raise ValueError(f"r_cut must be a positive finite number (Angstrom), got {r_cut!r}")
    if not isinstance(r_min, Real) or not np.isfinite(r_min) or not 0 <= r_min < r_cut:
        raise ValueError(f"r_min must satisfy 0 <= r_min < r_cut={r_cut!r}, got {r_min!r}")
    lam, zeta = _check_angular(lambdas, zetas)
    if isinstance(g2_scheme, str):
        g2_eta, g2_mu = g2_grid(n_g2, r_cut, r_min, g2_scheme)
    else:
        g2_eta, g2_mu = _explicit("g2_scheme", g2_scheme)
    if isinstance(g4_scheme, str):
        g4_eta, g4_mu = g4_grid(n_g4, r_cut, r_min, g4_scheme, lam.size * zeta.size, g4_span)
    else:
        g4_eta, g4_mu = _explicit("g4_scheme", g4_scheme)
    return {
        "g2_eta": np.ascontiguousarray(g2_eta),
        "g2_mu": np.ascontiguousarray(g2_mu),
        "g4_eta": np.ascontiguousarray(g4_eta),
        "g4_mu": np.ascontiguousarray(g4_mu),
        "lambdas": np.ascontiguousarray(lam),
        "zetas": np.ascontiguousarray(zeta),
    }


def _fmt(value):
    return f"{value:.6g}"


def feature_names(grids):
    """Feature names carrying the parameters: ``g1``, ``g2_eta=..``, ``g4_eta=..``."""
    names = ["g1"]
    names += [f"g2_eta={_fmt(e)}_mu={_fmt(m)}" for e, m in zip(grids["g2_eta"], grids["g2_mu"])]
    for e, m, la, z in g4_expand(grids["g4_eta"], grids["g4_mu"], grids["lambdas"], grids["zetas"]):
        names.append(f"g4_eta={_fmt(e)}_mu={_fmt(m)}_lambda={_fmt(la)}_zeta={_fmt(z)}")
    return np.asarray(names, dtype=object)
