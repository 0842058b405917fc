"""Edge-relative transformers: resampling onto ``E0 + grid`` and edge-step normalisation."""

from numbers import Real

import numpy as np
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._core import SpectraTransformer, as_grid, xanesnet_grid

__all__ = ["EdgeStepNormaliser", "Resampler"]


def _has_edges(self):
    """``inverse_transform`` exists only when the edges are given, not detected."""
    if self.e0 is None:
        raise AttributeError(
            "inverse_transform needs the edge energies: with e0=None they are detected from "
            "spectra that inverse_transform does not have; pass e0= (see detect_edge)"
        )
    return True


class Resampler(SpectraTransformer):
    """Resample spectra onto ``E0 + grid`` by linear interpolation (paper section II.C).

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Energies (eV) of the input spectra's columns, strictly increasing.
    grid : array-like of shape (n_out,), default=None
        Output energies relative to the edge; None is :func:`xanesnet_grid`
        (``linspace(-15, 60, 226)``, a step of 1/3 eV).
    e0 : float, array-like of shape (n_samples,) or None, default=None
        Edge energy on the scale of ``energies``: one for all samples, one
        per sample (then ``X`` must have exactly those samples, in order), or
        None to detect each sample's edge as the maximum of d(mu)/dE
        (:func:`detect_edge`).  Energies already relative to the edge:
        ``e0=0``.

    Attributes
    ----------
    energies_ : ndarray of shape (n_points,)
        The validated input grid.
    grid_ : ndarray of shape (n_out,)
        The validated output grid (relative to the edge).
    n_features_in_ : int
        Number of energy points seen in ``fit``.

    Notes
    -----
    ``transform`` refuses to extrapolate: ``E0 + grid`` must lie within
    ``energies`` for every sample.  ``inverse_transform`` interpolates back
    onto ``energies``; energies outside ``E0 + grid`` (data that the window
    dropped) come back as NaN.  It exists only when ``e0`` is given: detected
    edges are not recoverable from resampled spectra.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.spectra import Resampler
    >>> e = 7112.0 + np.linspace(-30, 100, 521)
    >>> X = np.vstack([0.5 * e, np.cos(e / 10)])
    >>> r = Resampler(e, e0=7112.0).fit(X)
    >>> Y = r.transform(X)
    >>> Y.shape, bool(np.allclose(Y[0], 0.5 * (7112.0 + r.grid_)))
    ((2, 226), True)
    """

    _parameter_constraints: dict = {
        "energies": ["array-like"],
        "grid": ["array-like", None],
        "e0": [Real, "array-like", None],
    }

    def __init__(self, energies, grid=None, e0=None):
        self.energies = energies
        self.grid = grid
        self.e0 = e0

    def _fit(self, X):
        grid = xanesnet_grid() if self.grid is None else self.grid
        self.grid_ = as_grid(grid, "grid", "Resampler")
        X = self._check_X(X, reset=True)
        self._check_window(self._edges(X))

    def _transform(self, X):
        e0 = self._edges(X)
        self._check_window(e0)
        return np.vstack(
            [np.interp(e + self.grid_, self.energies_, row) for e, row in zip(e0, X, strict=True)]
        ).reshape(X.shape[0], self.grid_.size)

    @available_if(_has_edges)
    def inverse_transform(self, X):
        """Interpolate spectra on ``E0 + grid`` back onto ``energies``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_out)
            Spectra on ``grid`` relative to the edge.

        Returns
        -------
        ndarray of shape (n_samples, n_points)
            NaN at energies outside ``E0 + grid``.
        """
        check_is_fitted(self)
        X = self._check_out(X)
        e0 = self._edges(X)
        return np.vstack(
            [
                np.interp(self.energies_, e + self.grid_, row, left=np.nan, right=np.nan)
                for e, row in zip(e0, X, strict=True)
            ]
        ).reshape(X.shape[0], self.energies_.size)

    def _check_out(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.grid_.size:
            raise ValueError(
                f"Resampler.inverse_transform: expected shape (n_samples, {self.grid_.size}) "
                f"(one column per grid point), got {X.shape}"
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("Resampler.inverse_transform: X contains NaN or inf")
        return X

    def _check_window(self, e0):
        lo, hi = e0 + self.grid_[0], e0 + self.grid_[-1]
        tol = 1e-9 * (self.energies_[-1] - self.energies_[0])
        bad = (lo < self.energies_[0] - tol) | (hi > self.energies_[-1] + tol)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(
                f"Resampler: sample {i}: E0 + grid spans [{lo[i]:.6g}, {hi[i]:.6g}] eV "
                f"(E0={e0[i]:.6g}), outside energies [{self.energies_[0]:.6g}, "
                f"{self.energies_[-1]:.6g}]; interpolation does not extrapolate "
                "(check e0 and the energy scale, or narrow grid)"
            )

    def _output_energies(self):
        return self.grid_


class EdgeStepNormaliser(SpectraTransformer):
    """Edge-step normalisation: divide each spectrum by its post-edge quadratic at E0.

    A quadratic ``q(E)`` is fitted by least squares to mu over
    ``E - E0`` in ``fit_range``; then ``mu <- mu / q(E0)``.  With
    ``flatten=True``, ``1 - q(E)/q(E0)`` is added above E0, which levels the
    post-edge at 1.

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Energies (eV) of the spectra's columns, strictly increasing.
    e0 : float, array-like of shape (n_samples,) or None, default=None
        Edge energy on the scale of ``energies`` (shared, per sample, or None
        to detect it per sample, see :func:`detect_edge`).
    fit_range : tuple of 2 floats, default=(100, 400)
        Energies relative to E0 (eV) over which q is fitted.  The data must
        reach ``E0 + fit_range[1]``: raw spectra far above the edge.  For
        short spectra pass a range within the data, e.g. ``(30, 60)`` on the
        XANESNET window; a short range near the edge gives a less reliable
        step (it fits the XANES, not the atomic background).
    flatten : bool, default=False
        Also flatten the post-edge.

    Attributes
    ----------
    energies_ : ndarray of shape (n_points,)
        The validated grid.
    n_features_in_ : int
        Number of energy points seen in ``fit``.

    Notes
    -----
    No ``inverse_transform``: the factor ``q(E0)`` is each sample's own and
    the normalised spectrum does not carry it, so an inverse for new samples
    (e.g. predictions) is not defined.  Use it up front, not inside
    ``TransformedTargetRegressor``; :meth:`edge_steps` returns the factors of
    given raw spectra, should they be needed to undo it.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.spectra import EdgeStepNormaliser
    >>> e = np.linspace(-20, 450, 941)
    >>> mu = np.where(e > 0, 3.0 - 1e-3 * e + 1e-6 * e**2, 0.1)
    >>> Y = EdgeStepNormaliser(e, e0=0.0).fit_transform(mu[None, :])
    >>> round(float(Y[0, np.searchsorted(e, 0.0) + 1]), 3)
    1.0
    """

    _parameter_constraints: dict = {
        "energies": ["array-like"],
        "e0": [Real, "array-like", None],
        "fit_range": ["array-like"],
        "flatten": ["boolean"],
    }

    def __init__(self, energies, e0=None, fit_range=(100, 400), flatten=False):
        self.energies = energies
        self.e0 = e0
        self.fit_range = fit_range
        self.flatten = flatten

    def _fit(self, X):
        self._fit_range()
        X = self._check_X(X, reset=True)
        self._fit_mask(self._edges(X))

    def _transform(self, X):
        e0 = self._edges(X)
        coef = self._quadratics(X, e0)
        out = X / coef[:, :1]
        if self.flatten:
            rel = self.energies_[None, :] - e0[:, None]
            q = coef[:, :1] + coef[:, 1:2] * rel + coef[:, 2:3] * rel**2
            out += np.where(rel > 0, 1.0 - q / coef[:, :1], 0.0)
        return out

    def edge_steps(self, X):
        """The edge step ``q(E0)`` of each spectrum.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_points)
            Raw spectra on ``energies``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return self._quadratics(X, self._edges(X))[:, 0]

    def _fit_range(self):
        bounds = np.asarray(self.fit_range, dtype=float).reshape(-1)
        if bounds.size != 2 or not np.all(np.isfinite(bounds)) or bounds[0] >= bounds[1]:
            raise ValueError(
                f"EdgeStepNormaliser: fit_range must be two finite energies (lo, hi) with "
                f"lo < hi, relative to E0, got {self.fit_range!r}"
            )
        return float(bounds[0]), float(bounds[1])

    def _fit_mask(self, e0):
        """Points of each sample inside fit_range; ValueError when too few."""
        lo, hi = self._fit_range()
        rel = self.energies_[None, :] - e0[:, None]
        mask = (rel >= lo) & (rel <= hi)
        reach = rel[:, -1]
        short = (reach < hi - 1e-9 * (hi - lo)) | (mask.sum(axis=1) < 3)
        if np.any(short):
            i = int(np.argmax(short))
            raise ValueError(
                f"EdgeStepNormaliser: fit_range={self.fit_range!r} needs spectra up to "
                f"E0 + {hi:g} eV with 3 or more points in the range, but sample {i} ends at "
                f"E0 + {reach[i]:.6g} eV (E0={e0[i]:.6g}); for short spectra give a fit_range "
                "within the data, e.g. (30, 60)"
            )
        return mask, rel

    def _quadratics(self, X, e0):
        """Coefficients (c0, c1, c2) of q in powers of E - E0, one row per sample."""
        mask, rel = self._fit_mask(e0)
        coef = np.empty((X.shape[0], 3))
        if np.all(e0 == e0[0]):
            A = np.vander(rel[0, mask[0]], 3, increasing=True)
            coef[:] = np.linalg.lstsq(A, X[:, mask[0]].T, rcond=None)[0].T
        else:
            for i in range(X.shape[0]):
                A = np.vander(rel[i, mask[i]], 3, increasing=True)
                coef[i] = np.linalg.lstsq(A, X[i, mask[i]], rcond=None)[0]
        bad = ~(coef[:, 0] > 0)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(
                f"EdgeStepNormaliser: sample {i}: edge step q(E0)={coef[i, 0]:.6g} is not "
                "positive; check e0 and fit_range"
            )
        return coef

    def _output_energies(self):
        return self.energies_
