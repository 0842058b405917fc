"""Spectrum preprocessing as scikit-learn transformers (paper section II.C).

Every transformer here takes spectra as an array of shape
``(n_samples, n_points)`` whose columns are the energies given by the
``energies`` constructor parameter (an array does not carry its grid).  They
can run up front or as the ``transformer`` of
:class:`~sklearn.compose.TransformedTargetRegressor` when they can invert
(only :class:`Resampler` with known edges can).

- :class:`LorentzianBroadening`, :class:`ArctanBroadening`: convolution with a
  fixed-width or an energy-dependent Lorentzian.  Deconvolution is ill-posed
  (it amplifies noise without bound), so neither defines ``inverse_transform``.
- :class:`Resampler`: linear interpolation onto ``E0 + linspace(-15, 60, 226)``.
- :class:`EdgeStepNormaliser`: divide by the edge step of a post-edge
  quadratic.

Helpers: :func:`xanesnet_grid`, :func:`detect_edge`, :func:`arctan_width`,
:func:`lorentzian`.
"""

from ._broadening import ArctanBroadening, LorentzianBroadening
from ._core import arctan_width, convolution_matrix, detect_edge, lorentzian, xanesnet_grid
from ._edge import EdgeStepNormaliser, Resampler

__all__ = [
    "ArctanBroadening",
    "EdgeStepNormaliser",
    "LorentzianBroadening",
    "Resampler",
    "arctan_width",
    "convolution_matrix",
    "detect_edge",
    "lorentzian",
    "xanesnet_grid",
]
