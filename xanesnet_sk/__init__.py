"""XANESNET rebuilt the scikit-learn way: structures in, K-edge XANES spectra out."""

__version__ = "0.1.0.dev0"

from .datasets import (  # noqa: E402
    XanesDataset,
    load_dataset,
    load_npz,
    load_v_dataset,
    make_synthetic_xanes,
    save_dataset,
)
from .io import Spectrum, read_spectrum, write_spectrum  # noqa: E402
from .spectra import (  # noqa: E402
    ArctanBroadening,
    EdgeStepNormaliser,
    LorentzianBroadening,
    Resampler,
    detect_edge,
    xanesnet_grid,
)

__all__ = [
    "__version__",
    "XanesDataset",
    "load_dataset",
    "load_npz",
    "load_v_dataset",
    "make_synthetic_xanes",
    "save_dataset",
    "Spectrum",
    "read_spectrum",
    "write_spectrum",
    "ArctanBroadening",
    "EdgeStepNormaliser",
    "LorentzianBroadening",
    "Resampler",
    "detect_edge",
    "xanesnet_grid",
]
