"""What ``predict`` (and ``evaluate``) compute for a list of structures, here or on a worker.

One function, :func:`predict_structures`, makes every number that
``predict`` writes: the spectra, an ensemble's standard deviation, and with
``--absorber-element`` the per-site spectra.  A local run calls it once; a
``--scheduler`` run calls it on the cluster once per partition and joins the
partitions, so the two write the same files with the same content.

With ``--absorber-element``, a structure's spectrum is the mean over its
sites; for an ensemble, each member's site spectra are averaged first, and
the standard deviation is the members' spread of those averages (ddof=1)
times the ensemble's calibration factor ``std_scale_`` (fitted on site
spectra), the same rule as ``DeepEnsembleRegressor.predict(return_std=True)``
for one site per structure.
"""

import warnings
from dataclasses import dataclass

import numpy as np

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["Predicted", "predict_structures", "predict_partition", "join"]


@dataclass
class Predicted:
    """The predictions of a list of structures.

    Attributes
    ----------
    spectra : ndarray of shape (n_rows, n_points)
        One row per structure kept (every structure, unless some without an
        absorbing atom were skipped).
    std : ndarray of shape (n_rows, n_points) or None
        An ensemble's calibrated standard deviation of ``spectra``.
    rows : ndarray of shape (n_rows,), int
        The input index of the structure of each row.
    site_spectra, site_std : ndarray of shape (n_sites, n_points) or None
        With an absorbing element: one spectrum (and std) per site.
    sites : ndarray of shape (n_sites, 2), int, or None
        (input structure index, atom index) of each site.
    """

    spectra: np.ndarray
    std: np.ndarray | None
    rows: np.ndarray
    site_spectra: np.ndarray | None = None
    site_std: np.ndarray | None = None
    sites: np.ndarray | None = None

    def shifted(self, offset):
        """The same predictions with structure indices moved by ``offset`` (a partition's
        first input index)."""
        sites = None if self.sites is None else self.sites + np.array([offset, 0])
        return Predicted(self.spectra, self.std, self.rows + offset, self.site_spectra,
                         self.site_std, sites)


def _ensemble_parts(rest):
    """(preprocessing or None, the deep ensemble) of the model's non-featurising part."""
    steps = getattr(rest, "steps", None)
    if steps:
        pre = rest[:-1] if len(steps) > 1 else None
        return pre, steps[-1][1]
    return None, rest


def _member_site_average(rest, X, sites):
    """(site mean, site std, structure mean, structure std, structures) of an ensemble."""
    from ..sites import site_average

    pre, ensemble = _ensemble_parts(rest)
    Xt = pre.transform(X) if pre is not None else X
    members = np.asarray(ensemble.predict_members(Xt), dtype=float)
    members = members.reshape(members.shape[0], members.shape[1], -1)
    scale = float(ensemble.std_scale_)
    averaged = []
    for member in members:
        spectra, structures, _ = site_average(member, sites)
        averaged.append(spectra)
    averaged = np.stack(averaged)
    return (members.mean(axis=0), members.std(axis=0, ddof=1) * scale,
            averaged.mean(axis=0), averaged.std(axis=0, ddof=1) * scale, structures)


def predict_structures(rest, wacsf, structures, absorber_element=None, with_std=False,
                       on_missing_absorber="raise"):
    """Predict ``structures`` with the model ``rest`` on the features of ``wacsf``.

    Parameters
    ----------
    rest : fitted estimator
        The model without its featuriser (its preprocessing and net, or an
        ensemble of nets).
    wacsf : WACSFTransformer
        The model's featuriser (its parameters; it is cloned).
    structures : list of ase.Atoms
    absorber_element : str, int or None, default=None
        Predict every atom of this element; a structure's spectrum is the
        mean over its sites.
    with_std : bool, default=False
        Also the ensemble's standard deviation (``rest`` must end in a
        ``DeepEnsembleRegressor`` of at least 2 members).
    on_missing_absorber : {"raise", "skip"}, default="raise"
        A structure without an atom of ``absorber_element``: an error, or
        left out (``Predicted.rows`` says which remain).

    Returns
    -------
    Predicted
    """
    from sklearn.base import clone

    from ..sites import site_average

    featuriser = clone(wacsf)
    if absorber_element is not None:
        featuriser.set_params(absorber=0, absorber_element=absorber_element,
                              on_missing_absorber=on_missing_absorber)
    with warnings.catch_warnings():  # skipped structures are counted by the caller
        warnings.filterwarnings("ignore", message=".*skipped.*", category=UserWarning)
        X = featuriser.fit_transform(structures)
    X = with_element_column(rest, X, featuriser.sites_, structures)
    if len(X) == 0:  # every structure skipped (a partition may be all such)
        empty = np.zeros((0, 0))
        return Predicted(empty, empty if with_std else None, np.zeros(0, dtype=np.int64),
                         empty, empty if with_std else None, np.zeros((0, 2), dtype=np.int64))
    if absorber_element is None:
        rows = np.arange(len(X))
        if with_std:
            mean, std = rest.predict(X, return_std=True)
            return Predicted(_rows(mean, len(X)), _rows(std, len(X)), rows)
        return Predicted(_rows(rest.predict(X), len(X)), None, rows)
    sites = np.asarray(featuriser.sites_, dtype=np.int64).reshape(-1, 2)
    if with_std:
        site_mean, site_std, spectra, std, which = _member_site_average(rest, X, sites)
        return Predicted(spectra, std, which, site_mean, site_std, sites)
    site_mean = _rows(rest.predict(X), len(X))
    spectra, which, _ = site_average(site_mean, sites)
    return Predicted(spectra, None, which, site_mean, None, sites)


def with_element_column(rest, X, sites, structures):
    """``X`` with the absorber's atomic number appended when ``rest`` is a universal model
    (:func:`~xanesnet_sk.transfer.element_input`), read from each row's absorbing atom."""
    import sys

    transfer = sys.modules.get("xanesnet_sk.transfer")  # loaded with any universal model
    if transfer is None or transfer.element_input(rest) is None or len(X) == 0:
        return X
    sites = np.asarray(sites, dtype=np.int64).reshape(-1, 2)
    z = [structures[s].numbers[a] for s, a in sites]
    return transfer.add_element_column(X, z)


def _rows(values, n):
    return np.asarray(values, dtype=float).reshape(n, -1)


def predict_partition(rest, wacsf, structures, index, offset, absorber_element=None,
                      with_std=False, on_missing_absorber="raise"):
    """:func:`predict_structures` of partition ``index`` (a cluster task), structure indices
    counted in the whole input (``offset``: the partition's first)."""
    from wacsf.dask import partition_error

    structures = list(structures)
    try:
        result = predict_structures(rest, wacsf, structures, absorber_element, with_std,
                                    on_missing_absorber)
    except Exception as exc:
        raise partition_error(exc, index, structures, offset) from exc
    return result.shifted(offset)


def join(parts):
    """One :class:`Predicted` of partitions' results, in input order (partitions whose
    structures were all skipped add nothing)."""
    parts = [p for p in parts if len(p.rows)] or list(parts)[:1]

    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    return Predicted(cat("spectra"), cat("std"), cat("rows"), cat("site_spectra"),
                     cat("site_std"), cat("sites"))
