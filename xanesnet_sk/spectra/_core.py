"""Pure functions behind :mod:`xanesnet_sk.spectra`: grids, line shapes, edge, convolution.

Energies are float64 1-D arrays, strictly increasing; spectra are rows.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils.validation import check_is_fitted, validate_data

#: Half-width of the padding of the auxiliary convolution grid, in units of Gamma.
PAD_GAMMAS = 50
#: Auxiliary grid step as a fraction of the narrowest Gamma.
STEP_PER_GAMMA = 0.1
_ROWS_PER_CHUNK = 64


def xanesnet_grid(n_points=226):
    """The XANESNET energy grid relative to the edge: ``linspace(-15, 60, n_points)`` eV.

    Examples
    --------
    >>> from xanesnet_sk.spectra import xanesnet_grid
    >>> g = xanesnet_grid()
    >>> g.size, float(g[0]), float(g[-1]), round(float(g[1] - g[0]), 4)
    (226, -15.0, 60.0, 0.3333)
    """
    return np.linspace(-15.0, 60.0, int(n_points))


def lorentzian(x, width):
    """Area-normalised Lorentzian ``(1/pi) (G/2) / (x**2 + (G/2)**2)`` of FWHM ``width``."""
    half = 0.5 * np.asarray(width, dtype=float)
    return (half / np.pi) / (np.asarray(x, dtype=float) ** 2 + half**2)


def arctan_width(energies, gamma_hole=1.0, gamma_max=15.0, e_fermi=-1.0, e_c=30.0, e_l=30.0):
    """Energy-dependent Lorentzian FWHM of the arctangent model (eV).

    ``G(E) = G_hole + G_max * (1/2 + (1/pi) * arctan((pi/3) (G_max/E_l) (x - 1/x**2)))``
    with ``x = (E - E_F) / E_c``; at ``x = 0`` the limit ``G_hole`` is used.

    Examples
    --------
    >>> from xanesnet_sk.spectra import arctan_width
    >>> arctan_width([-1.0, 1000.0]).round(3).tolist()
    [1.0, 15.727]
    """
    x = (np.asarray(energies, dtype=float) - e_fermi) / e_c
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = (np.pi / 3.0) * (gamma_max / e_l) * (x - 1.0 / x**2)
    bracket = np.where(x == 0.0, 0.0, 0.5 + np.arctan(arg) / np.pi)
    return gamma_hole + gamma_max * bracket


def detect_edge(energies, mu):
    """Edge energy E0 as the energy of the maximum of d(mu)/dE.

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Strictly increasing energies.
    mu : array-like of shape (n_points,) or (n_samples, n_points)
        One spectrum or one per row.

    Returns
    -------
    float or ndarray of shape (n_samples,)
        The energy of the steepest rise of each spectrum.  A sharp pre-edge
        peak or noise can be steeper than the edge: smooth first, or give E0.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.spectra import detect_edge
    >>> e = np.linspace(-10, 10, 201)
    >>> float(detect_edge(e, np.arctan(e - 2.0)))
    2.0
    """
    energies = as_grid(energies, "energies")
    mu = np.asarray(mu, dtype=float)
    slope = np.gradient(mu, energies, axis=-1)
    return energies[np.argmax(slope, axis=-1)]


def as_grid(values, name, owner="detect_edge"):
    """A finite, strictly increasing float64 1-D grid of >= 2 points, or ValueError."""
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError(
            f"{owner}: {name} must be 1-D with at least 2 points, got shape {grid.shape}"
        )
    if not np.all(np.isfinite(grid)):
        raise ValueError(f"{owner}: {name} contains NaN or inf")
    steps = np.diff(grid)
    if np.any(steps <= 0):
        k = int(np.argmax(steps <= 0)) + 1
        raise ValueError(
            f"{owner}: {name} must increase strictly, but {name}[{k}]={float(grid[k])!r} "
            f"follows {name}[{k - 1}]={float(grid[k - 1])!r}"
        )
    return grid


def convolution_matrix(energies, widths, e_fermi=None):
    """Matrix W with ``mu_c = W @ mu``: Lorentzian convolution on ``energies``.

    ``mu`` is interpolated linearly onto a uniform auxiliary grid (step
    ``STEP_PER_GAMMA`` times the narrowest width, or the finest input step if
    smaller; aligned with ``energies[0]``) padded by ``PAD_GAMMAS`` widths on
    both sides with the end values extended, set to 0 below ``e_fermi``, and
    ``mu_c(E_i) = sum_j L(E_j - E_i; G(E_j)) mu(E_j) h`` is evaluated directly
    at the output energies (exact where interpolating back would not be).

    Parameters
    ----------
    energies : ndarray of shape (n_points,)
        Strictly increasing energies.
    widths : callable
        Maps energies to Lorentzian FWHMs G(E) > 0.
    e_fermi : float or None, default=None
        Below this energy mu is set to 0; None keeps it everywhere.

    Returns
    -------
    ndarray of shape (n_points, n_points)
    """
    g_ends = widths(energies[[0, -1]])
    h = min(float(np.min(np.diff(energies))), STEP_PER_GAMMA * float(np.min(widths(energies))))
    n_lo = int(np.ceil(PAD_GAMMAS * g_ends[0] / h))
    n_hi = int(np.ceil((energies[-1] + PAD_GAMMAS * g_ends[1] - energies[0]) / h))
    aux = energies[0] + h * np.arange(-n_lo, n_hi + 1)
    interp = _interpolation_matrix(energies, aux)
    if e_fermi is not None:
        interp = sp.diags_array((aux >= e_fermi).astype(float)) @ interp
    interp_t = interp.T.tocsr()
    half = 0.5 * widths(aux)
    scale, half_sq = h * half / np.pi, half * half
    out = np.empty((energies.size, energies.size))
    for start in range(0, energies.size, _ROWS_PER_CHUNK):
        stop = min(start + _ROWS_PER_CHUNK, energies.size)
        kernel = aux[None, :] - energies[start:stop, None]  # h * L(E_j - E_i; G(E_j))
        np.square(kernel, out=kernel)
        kernel += half_sq
        np.divide(scale, kernel, out=kernel)
        out[start:stop] = (interp_t @ kernel.T).T
    return out


def _interpolation_matrix(source, target):
    """Sparse (n_target, n_source) linear interpolation, end values extended."""
    n = source.size
    left = np.clip(np.searchsorted(source, target, side="right") - 1, 0, n - 2)
    t = np.clip((target - source[left]) / (source[left + 1] - source[left]), 0.0, 1.0)
    rows = np.repeat(np.arange(target.size), 2)
    cols = np.column_stack([left, left + 1]).ravel()
    vals = np.column_stack([1.0 - t, t]).ravel()
    return sp.csr_array((vals, (rows, cols)), shape=(target.size, n))


def _energy_names(energies):
    return np.asarray([f"mu_{e:.10g}" for e in energies], dtype=object)


class SpectraTransformer(TransformerMixin, BaseEstimator):
    """``fit`` and ``transform`` of spectra on ``energies``, and their shared validation.

    A subclass defines ``_fit(X)`` (``energies_`` is set; it checks ``X`` and
    its own parameters), ``_transform(X)`` (``X`` checked) and
    ``_output_energies()``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and check ``X`` against them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_points)
            Spectra on ``energies``.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        self.energies_ = self._validate_energies()
        self._fit(X)
        return self

    def transform(self, X):
        """Transform each spectrum (row of ``X``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_points)
            Spectra on ``energies``.

        Returns
        -------
        ndarray of shape (n_samples, n_out)
            Float64, on the output energies (see ``get_feature_names_out``).
        """
        check_is_fitted(self)
        return self._transform(self._check_X(X, reset=False))

    def _validate_energies(self):
        return as_grid(self.energies, "energies", type(self).__name__)

    def _check_X(self, X, reset):
        X = validate_data(self, X, reset=reset, dtype=np.float64)
        n_energies = np.shape(self.energies)[0] if np.ndim(self.energies) == 1 else None
        if reset and X.shape[1] != n_energies:
            raise ValueError(
                f"{type(self).__name__}: X has {X.shape[1]} energy points (columns), "
                f"but energies= has {n_energies}; pass the grid of the spectra's columns"
            )
        return X

    def _edges(self, X):
        """E0 per sample: detected (e0=None), shared (a float) or given per sample."""
        if self.e0 is None:
            return np.atleast_1d(detect_edge(self.energies_, X))
        e0 = np.asarray(self.e0, dtype=np.float64)
        if e0.ndim == 0:
            return np.full(X.shape[0], float(e0))
        if e0.shape != (X.shape[0],):
            raise ValueError(
                f"{type(self).__name__}: e0 has {e0.size} edges (one per sample) but X has "
                f"{X.shape[0]} samples; give a float for a shared edge or None to detect"
            )
        if not np.all(np.isfinite(e0)):
            raise ValueError(f"{type(self).__name__}: e0 contains NaN or inf")
        return e0

    def get_feature_names_out(self, input_features=None):
        """One name per output energy, ``mu_<energy>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored; the names follow the energies.

        Returns
        -------
        ndarray of str objects
        """
        check_is_fitted(self)
        return _energy_names(self._output_energies())
