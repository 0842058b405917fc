"""Spectra of structures with several absorbing sites.

A measured K-edge spectrum of a material is the arithmetic mean of the
spectra of every absorbing atom of that element (on a common energy grid).
A model learns *site* spectra, one per absorbing atom (the rows that
``WACSFTransformer(absorber_element=...)`` makes), and predicts a
structure's spectrum as the mean of its sites' predictions:

>>> from ase.build import bulk
>>> from xanesnet_sk import make_synthetic_xanes, make_xanesnet_pipeline, predict_site_spectra
>>> data = make_synthetic_xanes(n_samples=60, random_state=0)
>>> model = make_xanesnet_pipeline(random_state=0, max_epochs=5).fit(data.structures, data.spectra)
>>> wustite = bulk("FeO", "rocksalt", a=4.3).repeat((2, 1, 1))
>>> result = predict_site_spectra(model, [wustite], absorber_element="Fe")
>>> result.spectra.shape, result.sites.tolist()
((1, 226), [[0, 0], [0, 2]])

Averaging is of spectra, never of features (SPEC: "Sites").  When only
structure-level (already averaged) spectra exist, :class:`SiteAveragedRegressor`
learns the site network through the average: its loss compares the mean of
a structure's site predictions with the structure's spectrum.
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetRegressor
from torch import nn

from wacsf import WACSFTransformer

from .model import XANESNetModule, XANESNetRegressor

__all__ = ["SiteSpectra", "site_average", "predict_site_spectra", "SiteAveragedRegressor",
           "SiteMeanModule"]


@dataclass
class SiteSpectra:
    """Site-averaged and per-site spectra of a list of structures.

    Attributes
    ----------
    spectra : ndarray of shape (n_structures_with_sites, n_points)
        The mean over each structure's sites: its predicted K-edge spectrum.
    structures : ndarray of shape (n_structures_with_sites,), int
        The index (in the input) of the structure of each row of
        ``spectra``; every structure unless some had no site and were
        skipped (``on_missing_absorber="skip"``).
    site_spectra : ndarray of shape (n_sites, n_points)
        One spectrum per absorbing site.
    sites : ndarray of shape (n_sites, 2), int
        (structure index, atom index) of each row of ``site_spectra``.
    n_sites : ndarray of shape (n_structures_with_sites,), int
        Number of sites averaged in each row of ``spectra``.
    """

    spectra: np.ndarray
    structures: np.ndarray
    site_spectra: np.ndarray
    sites: np.ndarray
    n_sites: np.ndarray


def site_average(site_spectra, sites):
    """Mean spectrum of every structure over its sites.

    Parameters
    ----------
    site_spectra : array-like of shape (n_sites, n_points)
        One row per site, e.g. the predictions for the rows of
        ``WACSFTransformer(absorber_element=...).transform``.
    sites : array-like of shape (n_sites, 2) or (n_sites,), int
        The ``sites_`` of that transform (structure index, atom index), or
        the structure index of each row alone.

    Returns
    -------
    spectra : ndarray of shape (n_structures_with_sites, n_points)
        Means, in increasing structure index.
    structures : ndarray of shape (n_structures_with_sites,), int
        The structure index of each row.
    counts : ndarray of shape (n_structures_with_sites,), int
        Sites per structure.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk import site_average
    >>> mean, which, counts = site_average(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
    ...                                    np.array([[0, 0], [0, 3], [2, 1]]))
    >>> mean.tolist(), which.tolist(), counts.tolist()
    ([[2.0, 3.0], [5.0, 6.0]], [0, 2], [2, 1])
    """
    values = np.asarray(site_spectra, dtype=float)
    sites = np.asarray(sites)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"site_spectra must be 2-D (sites, points), got shape {values.shape}")
    owner = sites[:, 0] if sites.ndim == 2 else sites
    if owner.shape != (values.shape[0],) or not np.issubdtype(owner.dtype, np.integer):
        raise ValueError(
            f"sites must give one integer structure index per row of site_spectra "
            f"({values.shape[0]} rows), got shape {sites.shape} of {sites.dtype}"
        )
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        raise ValueError(f"site_spectra row {bad} (structure {int(owner[bad])}) is not finite")
    structures, inverse, counts = np.unique(owner, return_inverse=True, return_counts=True)
    sums = np.zeros((structures.size, values.shape[1]))
    np.add.at(sums, inverse, values)
    return sums / counts[:, None], structures, counts


def predict_site_spectra(model, structures, absorber_element=None, *, wacsf=None,
                         on_missing_absorber="raise"):
    """Predict every absorbing site of every structure, and each structure's mean spectrum.

    Parameters
    ----------
    model : fitted estimator
        A fitted :func:`~xanesnet_sk.make_xanesnet_pipeline` that starts
        with a ``WACSFTransformer`` (its parameters are used, with
        ``absorber_element`` set), or any fitted regressor on wACSF
        features together with ``wacsf``.  It should have learned site
        spectra of the element (one absorbing atom per training sample).
    structures : sequence of ase.Atoms or paths
        Molecules, clusters or periodic structures.
    absorber_element : str, int or None, default=None
        The absorbing element (symbol or atomic number); ``None`` takes the
        featuriser's own ``absorber_element``.
    wacsf : WACSFTransformer or None, default=None
        The featuriser, for a ``model`` that takes features; it must have
        the parameters the model was trained with.
    on_missing_absorber : {"raise", "skip"}, default="raise"
        A structure without an atom of the element: an error naming it, or
        left out with a warning (``SiteSpectra.structures`` says which rows
        remain).

    Returns
    -------
    SiteSpectra
    """
    first = model.steps[0][1] if isinstance(model, Pipeline) else None
    if isinstance(first, WACSFTransformer):
        if wacsf is not None:
            raise ValueError("the model featurises structures itself: leave wacsf=None")
        featuriser, rest = first, model[1:]
    elif wacsf is None:
        raise ValueError(
            "this model takes wACSF features: pass wacsf=WACSFTransformer(...) with the "
            "parameters it was trained with"
        )
    else:
        featuriser, rest = wacsf, model
    featuriser = clone(featuriser)
    if absorber_element is not None:
        featuriser.set_params(absorber=0, absorber_element=absorber_element)
    elif featuriser.absorber_element is None:
        raise ValueError(
            "say which element absorbs: absorber_element='Fe' (symbol or atomic number)"
        )
    featuriser.set_params(on_missing_absorber=on_missing_absorber)
    X = featuriser.fit_transform(structures)
    sites = featuriser.sites_
    per_site = np.asarray(rest.predict(X), dtype=float).reshape(len(X), -1)
    spectra, which, counts = site_average(per_site, sites)
    return SiteSpectra(spectra, which, per_site, sites, counts)


# ---------------------------------------------------------------- learning from averages


class SiteMeanModule(nn.Module):
    """A site network whose output for a structure is the mean over its sites.

    Input ``X`` of shape (batch, max_sites, n_features): each structure's
    site features, padded with NaN rows.  The inner module (by default
    :class:`~xanesnet_sk.model.XANESNetModule`) maps every real site row to
    a spectrum; the output is each structure's mean of those, shape (batch,
    n_outputs).  Batch normalisation sees the real rows only.

    Parameters
    ----------
    n_features, n_outputs : int
        Sizes of one site's features and of a spectrum.
    inner : type of torch.nn.Module, default=XANESNetModule
        The site network class; gets ``n_features``, ``n_outputs`` and
        ``**inner_params``.
    **inner_params
        Its further parameters (``hidden_sizes``, ``dropout``, ...).
    """

    def __init__(self, n_features, n_outputs, inner=XANESNetModule, **inner_params):
        super().__init__()
        self.site_net = inner(n_features=n_features, n_outputs=n_outputs, **inner_params)

    def forward(self, X):
        """Mean site prediction per structure, shape (batch, n_outputs)."""
        real = ~torch.isnan(X[:, :, 0])
        flat = self.site_net(X[real])
        owner = torch.nonzero(real, as_tuple=True)[0]
        sums = torch.zeros(X.shape[0], flat.shape[1], dtype=flat.dtype, device=flat.device)
        sums.index_add_(0, owner, flat)
        return sums / real.sum(dim=1, keepdim=True).clamp(min=1).to(flat.dtype)


class _SiteMeanNet(XANESNetRegressor):
    """XANESNetRegressor over padded (structures, sites, features) input.

    Its ``module`` is :class:`SiteMeanModule` and ``module__inner`` the site
    network; when that is :class:`~xanesnet_sk.model.XANESNetModule` (or a
    subclass) it gets this net's ``hidden_sizes``, ``dropout`` and
    ``batch_norm``, as a plain :class:`~xanesnet_sk.model.XANESNetRegressor`
    gives them to its module.
    """

    def _uses_own_module(self):
        """True when the *site* network is not XANESNetModule (nor a subclass)."""
        inner = getattr(self, "module__inner", XANESNetModule)
        return not (isinstance(inner, type) and issubclass(inner, XANESNetModule))

    def _probe_input(self):
        return torch.zeros(2, 1, self.n_features_in_)

    def _validate_fit_data(self, X, y, reset):
        X = np.ascontiguousarray(X, dtype=np.float32)
        y = np.ascontiguousarray(np.asarray(y, dtype=np.float32).reshape(len(y), -1))
        if reset:
            self.n_features_in_ = X.shape[2]
            self.n_outputs_ = y.shape[1]
            self.y_ndim_ = 2
        if self.batch_norm and not self._uses_own_module():
            sites = (~np.isnan(X[:, :, 0])).sum(axis=1)
            if int(sites.sum()) < 2:
                raise ValueError("Batch normalisation needs at least 2 training sites.")
            if self.batch_size == 1 and int(sites.min()) < 2:
                raise ValueError(
                    "batch_size=1 with batch_norm=True: a batch is one structure, and batch "
                    "normalisation cannot train on a structure with a single site; set "
                    "batch_norm=False or batch_size >= 2"
                )
        return X, y

    def predict(self, X):
        """Site-averaged predictions of padded input, float64."""
        self.check_is_fitted(["module_", "n_features_in_"])
        with self._threads():
            y = NeuralNetRegressor.predict(self, np.ascontiguousarray(X, dtype=np.float32))
        return np.asarray(y, dtype=np.float64)

    def predict_flat(self, X):
        """One prediction per site row of a 2-D feature array, float64."""
        self.check_is_fitted(["module_", "n_features_in_"])
        self.module_.eval()
        with self._threads(), torch.no_grad():
            out = self.module_.site_net(torch.as_tensor(np.asarray(X, dtype=np.float32),
                                                        device=self.device))
        return out.cpu().numpy().astype(np.float64)


def _padded(features, sites):
    """(n_structures_with_sites, max_sites, n_features) with NaN padding, and the structures."""
    structures, inverse, counts = np.unique(sites[:, 0], return_inverse=True,
                                            return_counts=True)
    order = np.argsort(inverse, kind="stable")
    slot = np.arange(len(sites)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = np.full((structures.size, int(counts.max()), features.shape[1]), np.nan,
                  dtype=np.float32)
    out[inverse[order], slot] = features[order]
    return out, structures


class SiteAveragedRegressor(RegressorMixin, BaseEstimator):
    """Learn site spectra from structure-level spectra: the loss sees the site average.

    A measured (or already averaged) K-edge spectrum of a material is the
    mean over its absorbing sites.  This estimator featurises every site of
    the element (``WACSFTransformer(absorber_element=...)``), standardises
    the site features, and trains a net whose output for a structure is the
    *mean of its site predictions* (:class:`SiteMeanModule`), so the MSE
    loss compares that mean with the structure's spectrum.  It learns site
    spectra without ever seeing one; ``predict`` gives structure spectra and
    :meth:`predict_sites` the per-site ones.

    ``X`` is a list of structures and ``y`` one spectrum per structure, so
    ``GridSearchCV`` and ``cross_val_score`` split structures, as they must.

    Parameters
    ----------
    wacsf : WACSFTransformer or None, default=None
        The featuriser; its ``absorber_element`` must be set.  ``None``:
        ``WACSFTransformer(absorber_element=absorber_element)``.
    net : XANESNetRegressor or None, default=None
        The net's parameters (``hidden_sizes``, ``lr``, ``max_epochs``, ...),
        tunable as ``net__<name>``; its ``module`` is the *site* network.
        ``None``: ``XANESNetRegressor()``.
    absorber_element : str or int, default="Fe"
        Used when ``wacsf`` is None.
    standardize_targets : bool, default=True
        Standardise each energy point of ``y`` (the mean over sites commutes
        with this affine map, so the site net learns in standardised units).

    Attributes
    ----------
    wacsf_ : WACSFTransformer
    scaler_ : StandardScaler
        Of the site features.
    target_scaler_ : StandardScaler or None
    net_ : XANESNetRegressor
        The fitted net (its ``module_`` a :class:`SiteMeanModule`).
    n_sites_ : ndarray of int
        Sites per training structure.

    Examples
    --------
    >>> from xanesnet_sk import SiteAveragedRegressor, XANESNetRegressor
    >>> from wacsf import WACSFTransformer
    >>> model = SiteAveragedRegressor(
    ...     wacsf=WACSFTransformer(absorber_element="Fe", n_g2=8, n_g4=16),
    ...     net=XANESNetRegressor(hidden_sizes=(64,), max_epochs=50, random_state=0))
    """

    def __init__(self, wacsf=None, net=None, absorber_element="Fe", standardize_targets=True):
        self.wacsf = wacsf
        self.net = net
        self.absorber_element = absorber_element
        self.standardize_targets = standardize_targets

    def _featuriser(self):
        if self.wacsf is None:
            return WACSFTransformer(absorber_element=self.absorber_element)
        wacsf = clone(self.wacsf)
        if wacsf.absorber_element is None:
            raise ValueError("SiteAveragedRegressor needs a wacsf with absorber_element set "
                             "(the element whose sites are averaged)")
        return wacsf

    def fit(self, X, y):
        """Train on structures ``X`` and their site-averaged spectra ``y``.

        Parameters
        ----------
        X : sequence of ase.Atoms or paths
        y : array-like of shape (n_structures, n_points)

        Returns
        -------
        self
        """
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 2 or not np.all(np.isfinite(y)):
            raise ValueError(f"y must be a finite 2-D array of spectra, got shape {y.shape}"
                             + ("" if y.ndim != 2 else " with NaN or infinite values"))
        self.wacsf_ = self._featuriser().set_params(on_missing_absorber="raise")
        features = self.wacsf_.fit_transform(X)
        sites = self.wacsf_.sites_
        n_structures = int(sites[-1, 0]) + 1
        if n_structures != len(y):
            raise ValueError(f"X holds {n_structures} structures but y {len(y)} spectra")
        self.scaler_ = StandardScaler().fit(features)
        self.target_scaler_ = StandardScaler().fit(y) if self.standardize_targets else None
        target = self.target_scaler_.transform(y) if self.target_scaler_ is not None else y
        padded, _ = _padded(self.scaler_.transform(features), sites)
        self.n_sites_ = np.bincount(sites[:, 0])
        base = self.net if self.net is not None else XANESNetRegressor()
        params = base.get_params(deep=False)
        params.update(module=SiteMeanModule, module__inner=params["module"])
        self.net_ = _SiteMeanNet(**params)
        self.net_.fit(padded, target)
        self.n_features_in_ = features.shape[1]
        return self

    def _site_features(self, X):
        check_is_fitted(self, "net_")
        wacsf = self.wacsf_.set_params(on_missing_absorber="raise")
        features = wacsf.transform(X)
        return self.scaler_.transform(features), wacsf.sites_

    def _unscale(self, values):
        return values if self.target_scaler_ is None else self.target_scaler_.inverse_transform(
            values)

    def predict(self, X):
        """The site-averaged spectrum of every structure, shape (n_structures, n_points)."""
        features, sites = self._site_features(X)
        padded, _ = _padded(features, sites)
        return self._unscale(self.net_.predict(padded))

    def predict_sites(self, X):
        """Per-site and site-averaged spectra of ``X``, as a :class:`SiteSpectra`."""
        features, sites = self._site_features(X)
        per_site = self._unscale(self.net_.predict_flat(features))
        spectra, which, counts = site_average(per_site, sites)
        return SiteSpectra(spectra, which, per_site, sites, counts)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.multi_output = True
        tags.non_deterministic = True
        return tags
