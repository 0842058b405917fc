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
from .ensemble import DeepEnsembleRegressor  # noqa: E402
from .inverse import FirstShell, make_inverse_pipeline  # noqa: E402
from .io import Spectrum, read_spectrum, write_spectrum  # noqa: E402
from .metrics import (  # noqa: E402
    delta_e,
    delta_mu,
    delta_mu_summary,
    make_delta_mu_scorer,
    make_spectral_error_scorer,
    relative_spectral_error,
)
from .model import (  # noqa: E402
    DerivativeLoss,
    TensorBatchIterator,
    XANESNetModule,
    XANESNetRegressor,
)
from .pipeline import make_xanesnet_pipeline  # noqa: E402
from .selection import CorrelationFilter, feature_variance  # noqa: E402
from .sites import (  # noqa: E402
    SiteAveragedRegressor,
    SiteSpectra,
    predict_site_spectra,
    site_average,
)
from .spectra import (  # noqa: E402
    ArctanBroadening,
    EdgeStepNormaliser,
    LorentzianBroadening,
    Resampler,
    detect_edge,
    xanesnet_grid,
)
from .transfer import FineTunedRegressor  # noqa: E402

__all__ = [
    "__version__",
    "XANESNetRegressor",
    "XANESNetModule",
    "TensorBatchIterator",
    "make_xanesnet_pipeline",
    "DeepEnsembleRegressor",
    "FineTunedRegressor",
    "DerivativeLoss",
    "make_inverse_pipeline",
    "FirstShell",
    "CorrelationFilter",
    "feature_variance",
    "delta_mu",
    "delta_mu_summary",
    "relative_spectral_error",
    "delta_e",
    "make_delta_mu_scorer",
    "make_spectral_error_scorer",
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
    "SiteSpectra",
    "SiteAveragedRegressor",
    "predict_site_spectra",
    "site_average",
]
