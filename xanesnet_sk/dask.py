"""Prediction on a Dask cluster: a bag of structures in, a lazy array of spectra out.

``pip install "xanesnet-sk[dask]"``; see :mod:`wacsf.dask` for the partitioning.
The fitted model (a single net or a deep ensemble) is sent to the cluster
once and every partition is predicted by one task, rows in input order; an
error names the partition and the structure's index in the whole input.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

# Imports inside functions: dask ([dask]) and the site-averaging code (torch) only when
# used.

__all__ = ["predict"]


def _predict_partition(items, model, index, absorber_element, offset=None):
    from wacsf.dask import partition_error

    items = list(items)
    try:
        if absorber_element is not None:
            from .sites import predict_site_spectra

            return predict_site_spectra(model, items, absorber_element).spectra
        return np.asarray(model.predict(items), dtype=float).reshape(len(items), -1)
    except Exception as exc:
        raise partition_error(exc, index, items, offset) from exc


def _n_outputs(model):
    """The fitted model's output size (its spectra's length), or None when it does not say.

    Looks through a pipeline's last step, a ``TransformedTargetRegressor``'s
    ``regressor_`` and an ensemble's first member.
    """
    try:
        check_is_fitted(model)
    except Exception as exc:  # NotFittedError, or a TypeError for a non-estimator
        raise ValueError(f"predict needs a fitted model: {exc}") from None
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    for _ in range(8):  # a few layers of wrapping at most
        n = getattr(last, "n_outputs_", None)
        if n is not None:
            return int(n)
        members = getattr(last, "estimators_", None)
        inner = members[0] if members else getattr(last, "regressor_", None)
        if inner is None:
            return None
        last = inner
    return None


def predict(model, structures, npartitions=None, partition_size=2000, absorber_element=None):
    """Spectra of a bag of structures as a lazy ``dask.array.Array``.

    Parameters
    ----------
    model : fitted estimator
        A fitted :func:`~xanesnet_sk.make_xanesnet_pipeline`, with one net
        or a deep ensemble (``n_ensemble`` > 1: the members' mean is
        predicted), or any fitted regressor whose ``predict`` takes
        structures.
    structures : dask.bag.Bag, sequence of ase.Atoms or paths, or a directory
        See :func:`wacsf.dask.as_bag`.
    npartitions, partition_size : see :func:`wacsf.dask.as_bag`
    absorber_element : str, int or None, default=None
        Predict every atom of this element and give each structure the mean
        of its sites' spectra (:func:`~xanesnet_sk.predict_site_spectra`).

    Returns
    -------
    spectra : dask.array.Array of shape (n_structures, n_points)
        One chunk per partition, rows in input order (``n_points`` is NaN
        until computed for a model that does not record its output size).

    Raises
    ------
    ValueError
        For a model that is not fitted, and for the partitioning errors of
        :func:`wacsf.dask.as_bag`.
    """
    from wacsf.dask import _dask, _partitions

    dask, da, _ = _dask()  # without dask: names the extra
    n_points = _n_outputs(model)
    parts, offsets = _partitions(structures, npartitions, partition_size)
    shared = dask.delayed(model, pure=True)
    blocks = [
        da.from_delayed(
            dask.delayed(_predict_partition, pure=True)(part, shared, k, absorber_element,
                                                        offsets[k]),
            shape=(np.nan, np.nan if n_points is None else n_points), dtype=np.float64,
        )
        for k, part in enumerate(parts)
    ]
    return da.concatenate(blocks, axis=0, allow_unknown_chunksizes=n_points is None)
