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

Averaging is of spectra, never of features (SPEC: "Sites").
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["SiteSpectra", "site_average", "predict_site_spectra"]


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
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from wacsf import WACSFTransformer

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
