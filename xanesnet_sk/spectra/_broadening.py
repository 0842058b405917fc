"""Lorentzian broadening transformers; public through :mod:`xanesnet_sk.spectra`."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ._core import SpectraTransformer, arctan_width, convolution_matrix


class _Broadening(SpectraTransformer):
    """Lorentzian convolution with width ``self._widths(E)``, as one matrix."""

    def _fit(self, X):
        self._check_X(X, reset=True)
        self.matrix_ = convolution_matrix(self.energies_, self._widths, self.e_fermi)

    def _transform(self, X):
        return X @ self.matrix_.T

    def _output_energies(self):
        return self.energies_


class LorentzianBroadening(_Broadening):
    """Fixed-width Lorentzian convolution of spectra (paper section II.C).

    ``mu_c(E_i) = sum_j L(E_j - E_i; G) mu(E_j) dE`` with
    ``L(x; G) = (1/pi) (G/2) / (x**2 + (G/2)**2)``, evaluated as described in
    :func:`convolution_matrix`.  No ``inverse_transform``: deconvolution is
    ill-posed.

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Energies (eV) of the spectra's columns, strictly increasing; need not
        be uniform.
    width : float, default=1.0
        Lorentzian FWHM G (eV); the paper picks it per edge (its Table S1).
    e_fermi : float or None, default=None
        Fermi level (same energy scale as ``energies``): mu is set to 0 below
        it before the convolution.  None keeps all of mu.

    Attributes
    ----------
    energies_ : ndarray of shape (n_points,)
        The validated grid.
    matrix_ : ndarray of shape (n_points, n_points)
        The linear map applied by ``transform`` (``X @ matrix_.T``).
    n_features_in_ : int
        Number of energy points seen in ``fit``.

    See Also
    --------
    ArctanBroadening : Energy-dependent width.

    Notes
    -----
    Truncating the kernel at 50 widths loses about ``1/(50 pi)`` (0.6 %) of a
    flat spectrum's level near the ends of the data, as in XANESNET.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.spectra import LorentzianBroadening
    >>> e = np.linspace(-20, 20, 401)
    >>> X = np.zeros((1, 401)); X[0, 200] = 1 / 0.1   # unit-area delta at 0 eV
    >>> Y = LorentzianBroadening(e, width=2.0).fit_transform(X)
    >>> round(float(Y[0, 200]), 4), round(1 / np.pi, 4)   # peak = 2 / (pi G)
    (0.3183, 0.3183)
    """

    _parameter_constraints: dict = {
        "energies": ["array-like"],
        "width": [Interval(Real, 0, None, closed="neither")],
        "e_fermi": [Real, None],
    }

    def __init__(self, energies, width=1.0, e_fermi=None):
        self.energies = energies
        self.width = width
        self.e_fermi = e_fermi

    def _widths(self, energies):
        return np.full(np.shape(energies), float(self.width))


class ArctanBroadening(_Broadening):
    """Convolution with the energy-dependent (arctangent) Lorentzian width.

    ``mu_c(E_i) = sum_j L(E_j - E_i; G(E_j)) mu(E_j) dE`` with the width at the
    source energy E_j::

        G(E) = G_hole + G_max * (1/2 + (1/pi) arctan((pi/3) (G_max/E_l) (x - 1/x**2)))
        x = (E - E_F) / E_c

    (XANESNET's defaults), evaluated as in :func:`convolution_matrix` with mu
    set to 0 below E_F.  No ``inverse_transform``: deconvolution is ill-posed.

    The width belongs to the source energy E_j, so the kernel seen by one
    output energy is not normalised where G varies: broad kernels from far
    above the edge add weight just above it (a unit step overshoots to about
    1.09 a few eV above the edge and settles near 0.94 at +60 eV).

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Energies relative to the edge (eV), strictly increasing.  E_F, E_c
        and E_l are on this relative scale: for absolute data pass
        ``energies - e0``.
    gamma_hole : float, default=1.0
        Core-hole width G_hole (eV), the width at and below E_F.
    gamma_max : float, default=15.0
        Maximum extra width G_max (eV), reached far above the edge.
    e_fermi : float, default=-1.0
        Fermi level E_F (eV, relative).
    e_c : float, default=30.0
        Centre of the arctangent E_c (eV).
    e_l : float, default=30.0
        Width of the arctangent E_l (eV).

    Attributes
    ----------
    energies_ : ndarray of shape (n_points,)
        The validated grid.
    matrix_ : ndarray of shape (n_points, n_points)
        The linear map applied by ``transform``.
    n_features_in_ : int
        Number of energy points seen in ``fit``.

    See Also
    --------
    LorentzianBroadening : Fixed width.
    arctan_width : G(E) alone.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.spectra import ArctanBroadening, xanesnet_grid
    >>> e = xanesnet_grid()
    >>> X = np.where(e > 0, 1.0, 0.0)[None, :]   # a step edge
    >>> Y = ArctanBroadening(e).fit_transform(X)
    >>> Y.shape, round(float(Y[0, 0]), 2), round(float(Y[0, -1]), 2)
    ((1, 226), 0.06, 0.95)
    """

    _parameter_constraints: dict = {
        "energies": ["array-like"],
        "gamma_hole": [Interval(Real, 0, None, closed="neither")],
        "gamma_max": [Interval(Real, 0, None, closed="left")],
        "e_fermi": [Real],
        "e_c": [Interval(Real, 0, None, closed="neither")],
        "e_l": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, energies, gamma_hole=1.0, gamma_max=15.0, e_fermi=-1.0, e_c=30.0, e_l=30.0):
        self.energies = energies
        self.gamma_hole = gamma_hole
        self.gamma_max = gamma_max
        self.e_fermi = e_fermi
        self.e_c = e_c
        self.e_l = e_l

    def _widths(self, energies):
        return arctan_width(
            energies, self.gamma_hole, self.gamma_max, self.e_fermi, self.e_c, self.e_l
        )
