"""Prediction and screening on a Dask cluster.

``pip install "xanesnet-sk[dask]"``; see :mod:`wacsf.dask` for the partitioning.
:func:`predict`: a bag of structures in, a lazy array of spectra out.  The
fitted model (a single net or a deep ensemble) is sent to the cluster once
and every partition is predicted by one task, rows in input order; an error
names the partition and the structure's index in the whole input.
:func:`screen`: :func:`xanesnet_sk.screen` with each partition of candidates
read, featurised, predicted and scored by one task on a
``dask.distributed`` cluster; only the scores (and each partition's few best
spectra) come back.
"""

import inspect

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .screening import (
    _aligned_chunks,
    _best,
    _candidate_partitions,
    _join,
    _prepare,
    _read_partition,
)
from .screening import screen as _local_screen

# Imports inside functions: dask ([dask]) and the site-averaging code (torch) only when
# used.

__all__ = ["predict", "screen"]


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


# ---------------------------------------------------------------- screening


def _screen_partition(setup, description, offset):
    """One partition of a screening: read its candidates, featurise, predict and score them
    in the chunks a local run uses; only the scores and the best ``top_k`` come back."""
    parts = list(setup.score_stream(_aligned_chunks(_read_partition(description), offset,
                                                    setup.chunk_size)))
    return _join(parts, setup.top_k) if parts else None


def _client(client):
    try:
        from distributed import get_client
    except ImportError:
        raise ImportError('xanesnet_sk.dask.screen needs dask.distributed: pip install '
                          '"xanesnet-sk[dask]"') from None
    if client is not None:
        return client
    try:
        return get_client()
    except ValueError:
        raise ValueError("xanesnet_sk.dask.screen needs a dask.distributed Client: start one "
                         "(Client('tcp://HOST:8786'), or Client() for a local cluster) or "
                         "pass client=") from None


def screen(model, candidates, measured, *, client=None, partition_size=2000,
           max_in_flight=None, progress=False, **options):
    """:func:`xanesnet_sk.screen` on a Dask cluster, one task per partition of candidates.

    The measurement is read, normalised and aligned here, once; the model and
    the prepared measurement go to every worker once.  Each task reads its
    partition's candidates (a directory's files, an ase database's rows and a
    trajectory's frames are read on the worker; other inputs are read here
    and sent a partition at a time), featurises, predicts and scores them,
    and sends back only their scores and its ``top_k`` best spectra.  At
    most ``max_in_flight`` partitions are submitted at a time, so neither
    side ever holds more than a few partitions of structures.

    The result is that of :func:`xanesnet_sk.screen` with the same options:
    each partition is cut into chunks at the multiples of ``chunk_size`` of
    the whole input, so with ``partition_size`` a multiple of ``chunk_size``
    every chunk (and every batch a net predicts) is the one a local run
    predicts, and the ranking is the same to the last bit; otherwise a
    net's float32 rounding may differ in the last digits.  Errors are those
    of a local run (a candidate without the absorbing element is named).

    Parameters
    ----------
    model, candidates, measured
        As for :func:`xanesnet_sk.screen`.
    client : distributed.Client or None, default=None
        The cluster; None: the current client (``distributed.get_client()``).
    partition_size : int, default=2000
        Candidates per task.
    max_in_flight : int or None, default=None
        Partitions submitted at a time; None: twice the cluster's threads
        (at least 2).
    progress : bool, default=False
        Show a progress bar of candidates.
    **options
        Any other keyword argument of :func:`xanesnet_sk.screen` (``e0``,
        ``broadening``, ``metric``, ``top_k``, ``chunk_size``, ``wacsf``,
        ``absorber_element``, ...).

    Returns
    -------
    ScreenResult

    Raises
    ------
    ValueError
        No client; ``partition_size`` or ``max_in_flight`` below 1; and
        every error of :func:`xanesnet_sk.screen`.
    TypeError
        An option :func:`xanesnet_sk.screen` does not take.
    """
    from tqdm.auto import tqdm

    signature = inspect.signature(_local_screen)  # one definition of the defaults
    unknown = sorted(set(options) - set(signature.parameters))
    if unknown:
        raise TypeError(f"screen() got an unexpected keyword argument {unknown[0]!r}")
    bound = signature.bind(model, candidates, measured, **options)
    bound.apply_defaults()
    options = {k: v for k, v in bound.arguments.items()
               if k not in ("model", "candidates", "measured", "progress")}
    for name, value in (("partition_size", partition_size), ("max_in_flight", max_in_flight)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    client = _client(client)
    from distributed import as_completed

    setup = _prepare(model, measured, **options)
    if max_in_flight is None:
        workers = client.scheduler_info().get("workers", {}).values()
        max_in_flight = max(2, 2 * sum(int(w.get("nthreads", 1)) for w in workers))
    shared = client.scatter(setup, broadcast=True, hash=False)
    sources = _candidate_partitions(candidates, partition_size)
    pending, done, best = as_completed(), {}, []
    order = {}

    def submit():
        for offset, description in sources:
            future = client.submit(_screen_partition, shared, description, offset, pure=False)
            order[future.key] = len(order)
            pending.add(future)
            return True
        return False

    bar = tqdm(desc="screening", unit="candidate") if progress else None
    try:
        for _ in range(max_in_flight):
            if not submit():
                break
        for future in pending:
            part = future.result()
            if part is not None:
                best = _best(best + part.top, setup.top_k)
                part.top = []
                done[order[future.key]] = part
                if bar is not None:
                    bar.update(len(part))
            future.release()
            submit()
    except BaseException:
        for future in list(pending.futures):
            future.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
    parts = [done[k] for k in sorted(done)]
    if parts:
        parts[0].top = best
    return setup.result(parts)
