"""wACSF on a Dask cluster: a bag of structures in, a lazy feature array out.

``pip install "xanesnet-sk[dask]"``, then::

    from dask.distributed import Client
    import wacsf.dask

    if __name__ == "__main__":                 # worker processes re-import this module
        client = Client("tcp://scheduler:8786")  # or Client() for a local cluster
        X = wacsf.dask.featurise(paths, WACSFTransformer(absorber_element="Fe"))
        X.to_zarr("features.zarr")             # or X.compute(), da.to_npy_stack(...)

Each partition is featurised by one task with the transformer's own
(Numba) kernels; rows come out in input order, one per structure (or per
site with ``absorber_element``), so the row count of a partition is only
known once it has run (``X.compute_chunk_sizes()`` finds it).  Nothing is
computed until the user asks.
"""

import os

import numpy as np

__all__ = ["featurise", "as_bag"]


def _dask():
    try:
        import dask
        import dask.array as da
        import dask.bag as db
    except ImportError as exc:  # pragma: no cover - exercised where dask is absent
        raise ImportError(
            'wacsf.dask needs dask: pip install "xanesnet-sk[dask]"'
        ) from exc
    return dask, da, db


def as_bag(structures, npartitions=None, partition_size=2000):
    """A ``dask.bag.Bag`` of structures (``ase.Atoms`` or paths).

    Parameters
    ----------
    structures : dask.bag.Bag, str, path-like or sequence
        A bag is returned as it is; a directory becomes the list of its
        structure files; a sequence of ``ase.Atoms`` or paths is partitioned.
    npartitions : int or None
        Number of partitions of a sequence; ``None``: ``ceil(n /
        partition_size)``.
    partition_size : int, default=2000
        Structures per partition when ``npartitions`` is None.
    """
    _, _, db = _dask()
    if isinstance(structures, db.Bag):
        return structures
    if isinstance(structures, (str, os.PathLike)):
        from pathlib import Path

        from ._readers import is_structure_file

        path = Path(structures)
        if path.is_dir():
            structures = sorted(str(p) for p in path.iterdir()
                                if p.is_file() and is_structure_file(p))
            if not structures:
                raise ValueError(f"no structure files in directory {str(path)!r}")
        else:
            structures = [str(path)]
    items = list(structures)
    if not items:
        raise ValueError("no structures to featurise")
    if npartitions is None:
        npartitions = max(1, -(-len(items) // int(partition_size)))
    return db.from_sequence(items, npartitions=min(int(npartitions), len(items)))


def _featurise_partition(items, transformer, index):
    """Features of one partition; an error names the partition and its first item."""
    from sklearn.base import clone

    items = list(items)
    try:
        t = clone(transformer).set_params(progress=False)
        return np.asarray(t.fit_transform(items))
    except Exception as exc:
        first = items[0] if items else None
        where = f" (first item {first!r})" if isinstance(first, (str, os.PathLike)) else ""
        raise type(exc)(f"partition {index}{where}: {exc}") from exc


def featurise(structures, transformer, npartitions=None, partition_size=2000):
    """wACSF of a bag of structures as a lazy ``dask.array.Array``.

    Parameters
    ----------
    structures : dask.bag.Bag, sequence of ase.Atoms or paths, or a directory
        What to featurise (see :func:`as_bag`); a bag's partitions are kept.
    transformer : WACSFTransformer
        The featuriser and its parameters; each task uses a copy.
    npartitions, partition_size : see :func:`as_bag`

    Returns
    -------
    features : dask.array.Array of shape (n_rows, n_features), float
        One chunk per partition, rows in input order; the row count of each
        chunk is unknown (NaN) until computed.

    Examples
    --------
    >>> from ase.build import molecule
    >>> from wacsf import WACSFTransformer
    >>> import wacsf.dask
    >>> X = wacsf.dask.featurise([molecule("H2O"), molecule("CH4"), molecule("NH3")],
    ...                          WACSFTransformer(n_g2=8, n_g4=16), partition_size=2)
    >>> X.numblocks, X.compute(scheduler="synchronous").shape
    ((2, 1), (3, 25))
    """
    dask, da, _ = _dask()
    bag = as_bag(structures, npartitions, partition_size)
    n_features = int(transformer.get_feature_names_out().size)
    dtype = np.dtype(getattr(transformer, "dtype", "float64"))
    shared = dask.delayed(transformer, pure=True)  # sent to the cluster once
    blocks = [
        da.from_delayed(
            dask.delayed(_featurise_partition, pure=True)(part, shared, k),
            shape=(np.nan, n_features), dtype=dtype,
        )
        for k, part in enumerate(bag.to_delayed())
    ]
    return da.concatenate(blocks, axis=0)
