"""XANESNET rebuilt the scikit-learn way: structures in, K-edge XANES spectra out."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
