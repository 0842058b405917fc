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
computed until the user asks.  Paths are made absolute before they are sent
(a worker's working directory is not the client's), and an error in a
partition names the structure by its index in the whole input, as a local
``transform`` of the same list would.
"""

import os
import re
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.base import clone

from ._readers import is_structure_file

# Imports inside functions: dask, an optional extra ([dask]), only when used.

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


def _positive_int(value, name):
    """``value`` as an int if it is an integer >= 1 (a bool is not), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _absolute(item):
    """A path item made absolute (workers may run elsewhere); anything else as it is."""
    if isinstance(item, (str, os.PathLike)):
        return os.path.abspath(os.fspath(item))
    return item


def _items(structures):
    """The list of structures (or absolute paths) that ``structures`` names."""
    if isinstance(structures, (str, os.PathLike)):
        path = Path(structures).absolute()
        if path.is_dir():
            structures = sorted(str(p) for p in path.iterdir()
                                if p.is_file() and is_structure_file(p))
            if not structures:
                raise ValueError(f"no structure files in directory {str(path)!r}")
        else:
            structures = [str(path)]
    items = [_absolute(item) for item in structures]
    if not items:
        raise ValueError("no structures to featurise")
    return items


def _partition_size(n_items, npartitions, partition_size):
    """Structures per partition: ``ceil(n / npartitions)``, or ``partition_size``."""
    if npartitions is not None:
        return -(-n_items // _positive_int(npartitions, "npartitions"))
    return _positive_int(partition_size, "partition_size")


def as_bag(structures, npartitions=None, partition_size=2000):
    """A ``dask.bag.Bag`` of structures (``ase.Atoms`` or paths).

    Parameters
    ----------
    structures : dask.bag.Bag, str, path-like or sequence
        A bag is returned as it is; a directory becomes the list of its
        structure files; a sequence of ``ase.Atoms`` or paths is partitioned.
        Paths are made absolute.
    npartitions : int or None
        Number of partitions of a sequence (at most this many; every
        partition but the last holds ``ceil(n / npartitions)`` structures);
        ``None``: partitions of ``partition_size``.
    partition_size : int, default=2000
        Structures per partition when ``npartitions`` is None.

    Returns
    -------
    dask.bag.Bag

    Raises
    ------
    ValueError
        For ``npartitions`` or ``partition_size`` below 1 (or not an
        integer), and for an empty input.
    """
    _, _, db = _dask()
    if isinstance(structures, db.Bag):
        return structures
    items = _items(structures)
    size = _partition_size(len(items), npartitions, partition_size)
    return db.from_sequence(items, partition_size=size)


def _partitions(structures, npartitions, partition_size):
    """(delayed partitions, input offset of each or None) of a bag or a sequence."""
    _, _, db = _dask()
    if isinstance(structures, db.Bag):
        parts = structures.to_delayed()
        return parts, [None] * len(parts)
    items = _items(structures)
    size = _partition_size(len(items), npartitions, partition_size)
    parts = db.from_sequence(items, partition_size=size).to_delayed()
    return parts, [k * size for k in range(len(parts))]


_STRUCTURE = re.compile(r"\bstructure (\d+)\b")


def partition_error(exc, index, items, offset):
    """``exc`` again, its message naming partition ``index`` and every structure by its
    index in the whole input (``offset`` + its index in the partition; ``offset`` None:
    unknown, for a user's bag)."""
    first = items[0] if items else None
    where = f" (first item {str(first)!r})" if isinstance(first, (str, os.PathLike)) else ""
    text = str(exc)
    if offset is None:
        head = f"partition {index}{where}"
    else:
        text = _STRUCTURE.sub(lambda m: f"structure {int(m.group(1)) + offset}", text)
        last = offset + max(len(items), 1) - 1
        head = f"partition {index} (input structures {offset}-{last}){where}"
    try:
        error = type(exc)(f"{head}: {text}")
    except Exception:  # an exception type that takes other arguments
        error = RuntimeError(f"{head}: {type(exc).__name__}: {text}")
    return error


def _featurise_partition(items, transformer, index, offset=None):
    """Features of one partition; an error names the partition and the structure."""
    items = list(items)
    try:
        t = clone(transformer).set_params(progress=False)
        return np.asarray(t.fit_transform(items))
    except Exception as exc:
        raise partition_error(exc, index, items, offset) from exc


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
    parts, offsets = _partitions(structures, npartitions, partition_size)
    n_features = int(transformer.get_feature_names_out().size)
    dtype = np.dtype(getattr(transformer, "dtype", "float64"))
    shared = dask.delayed(transformer, pure=True)  # sent to the cluster once
    blocks = [
        da.from_delayed(
            dask.delayed(_featurise_partition, pure=True)(part, shared, k, offsets[k]),
            shape=(np.nan, n_features), dtype=dtype,
        )
        for k, part in enumerate(parts)
    ]
    return da.concatenate(blocks, axis=0)
