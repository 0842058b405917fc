"""XANESNET rebuilt the scikit-learn way: structures in, K-edge XANES spectra out."""

# Imports inside functions: the public names are imported on first use (see _LAZY).

__version__ = "0.1.0.dev0"

# The public names are imported on first use (PEP 562), not with the package:
# ``import xanesnet_sk`` (and the command line's start-up) stays fast and
# loads torch, numba and scikit-learn only when a name that needs them is used.
_LAZY = {
    "XanesDataset": "datasets",
    "load_dataset": "datasets",
    "load_npz": "datasets",
    "load_v_dataset": "datasets",
    "make_synthetic_xanes": "datasets",
    "save_dataset": "datasets",
    "DeepEnsembleRegressor": "ensemble",
    "FirstShell": "inverse",
    "make_inverse_pipeline": "inverse",
    "Spectrum": "io",
    "read_spectrum": "io",
    "write_spectrum": "io",
    "delta_e": "metrics",
    "delta_mu": "metrics",
    "delta_mu_summary": "metrics",
    "make_delta_mu_scorer": "metrics",
    "make_spectral_error_scorer": "metrics",
    "relative_spectral_error": "metrics",
    "DerivativeLoss": "model",
    "TensorBatchIterator": "model",
    "XANESNetModule": "model",
    "XANESNetRegressor": "model",
    "make_xanesnet_pipeline": "pipeline",
    "screen": "screening",
    "FineTunedRegressor": "transfer",
    "CorrelationFilter": "selection",
    "feature_variance": "selection",
    "SiteAveragedRegressor": "sites",
    "SiteSpectra": "sites",
    "predict_site_spectra": "sites",
    "site_average": "sites",
    "ArctanBroadening": "spectra",
    "EdgeStepNormaliser": "spectra",
    "LorentzianBroadening": "spectra",
    "Resampler": "spectra",
    "detect_edge": "spectra",
    "xanesnet_grid": "spectra",
}


def __getattr__(name):
    """Import a public name's module on first use (and a submodule by its name)."""
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


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
    "screen",
]
