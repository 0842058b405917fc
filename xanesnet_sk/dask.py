"""Prediction on a Dask cluster: a bag of structures in, a lazy array of spectra out.

``pip install "xanesnet-sk[dask]"``; see :mod:`wacsf.dask` for the partitioning.
The fitted model is sent to the cluster once and every partition is
predicted by one task, rows in input order.
"""

import os

import numpy as np

__all__ = ["predict"]


def _predict_partition(items, model, index, absorber_element):
    items = list(items)
    try:
        if absorber_element is not None:
            from .sites import predict_site_spectra

            return predict_site_spectra(model, items, absorber_element).spectra
        return np.asarray(model.predict(items), dtype=float).reshape(len(items), -1)
    except Exception as exc:
        first = items[0] if items else None
        where = f" (first item {first!r})" if isinstance(first, (str, os.PathLike)) else ""
        raise type(exc)(f"partition {index}{where}: {exc}") from exc


def _n_outputs(model):
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    last = getattr(last, "regressor_", last)
    n = getattr(last, "n_outputs_", None)
    if n is None:
        raise ValueError("predict needs a fitted model (its output size is unknown)")
    return int(n)


def predict(model, structures, npartitions=None, partition_size=2000, absorber_element=None):
    """Spectra of a bag of structures as a lazy ``dask.array.Array``.

    Parameters
    ----------
    model : fitted estimator
        A fitted :func:`~xanesnet_sk.make_xanesnet_pipeline` (or any fitted
        regressor whose ``predict`` takes structures).
    structures : dask.bag.Bag, sequence of ase.Atoms or paths, or a directory
        See :func:`wacsf.dask.as_bag`.
    npartitions, partition_size : see :func:`wacsf.dask.as_bag`
    absorber_element : str, int or None, default=None
        Predict every atom of this element and give each structure the mean
        of its sites' spectra (:func:`~xanesnet_sk.predict_site_spectra`).

    Returns
    -------
    spectra : dask.array.Array of shape (n_structures, n_points)
        One chunk per partition, rows in input order.
    """
    from wacsf.dask import as_bag

    bag = as_bag(structures, npartitions, partition_size)  # without dask: names the extra
    import dask
    import dask.array as da

    n_points = _n_outputs(model)
    shared = dask.delayed(model, pure=True)
    blocks = [
        da.from_delayed(
            dask.delayed(_predict_partition, pure=True)(part, shared, k, absorber_element),
            shape=(np.nan, n_points), dtype=np.float64,
        )
        for k, part in enumerate(bag.to_delayed())
    ]
    return da.concatenate(blocks, axis=0)
