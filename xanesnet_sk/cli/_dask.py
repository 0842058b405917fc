"""``--scheduler ADDRESS``: run ``featurise`` or ``predict`` on a Dask cluster.

The client gives the scheduler :data:`CONNECT_TIMEOUT` seconds in all: a
scheduler file that does not appear, an address where nothing listens and
an address where another service (say, a web server) listens are each a
one-line error within seconds, not a hang.  ``featurise`` writes one
``.npz`` per partition (``DIR/part-00000.npz``, ...; the same keys as a local
``featurise`` ``.npz``, plus ``sites``), each as soon as its partition is
done, so the client holds one partition at a time; ``predict`` computes each
partition with the same function as a local run (``_predict``) and writes
the same files.  Paths sent to the workers are absolute.
"""

import json
import time
from pathlib import Path

import numpy as np

from ._common import CLIError

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["add_scheduler_options", "connect", "featurise_partitions", "predict_on_cluster",
           "positive_int"]

#: Seconds the client waits for the scheduler (its file, its answer) before giving up.
CONNECT_TIMEOUT = 5


def positive_int(text):
    """An argparse type: an integer >= 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_scheduler_options(parser, partition_size=2000, partition_help=None):
    """``--scheduler`` and ``--partition-size`` (default ``partition_size``; None: the verb
    resolves it, as ``partition_help`` says)."""
    group = parser.add_argument_group("Dask cluster (pip install \"xanesnet-sk[dask]\")")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. "
                            "tcp://10.0.0.5:8786, or a scheduler file path ending in .json); "
                            f"it must answer within {CONNECT_TIMEOUT} s")
    group.add_argument("--partition-size", type=positive_int, default=partition_size,
                       metavar="N",
                       help=partition_help or "structures per Dask task, at least 1 (default "
                                              f"{partition_size})")
    return group


def _address(option, timeout):
    """The scheduler address ``option`` names: itself, or read from a scheduler file
    (waiting up to ``timeout`` seconds for the file to appear)."""
    if not str(option).endswith(".json"):
        return str(option)
    path = Path(option)
    deadline = time.monotonic() + timeout
    while True:
        try:
            address = json.loads(path.read_text(encoding="utf-8"))["address"]
            if isinstance(address, str) and address:
                return address
            problem = "its 'address' is not a scheduler address"
        except FileNotFoundError:
            problem = "does not exist"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"is not a Dask scheduler file ({type(exc).__name__}: {exc})"
        if time.monotonic() >= deadline:
            raise CLIError(f"--scheduler {option}: the scheduler file {problem} (waited "
                           f"{timeout:g} s); start the scheduler with --scheduler-file "
                           f"{option}, or give its address, tcp://HOST:8786")
        time.sleep(0.1)


def _probe(address, timeout):
    """Connect to ``address`` and complete Dask's handshake within ``timeout`` seconds, or
    raise (``distributed``'s own client waits for the handshake without a time limit)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect as comm_connect

    async def handshake():
        comm = await asyncio.wait_for(comm_connect(address, timeout=timeout), timeout)
        await comm.close()

    # in a thread of its own: main() may be called where an event loop already runs
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, handshake()).result()


def connect(address, report, timeout=None):
    """A ``distributed.Client`` for ``address`` (or a scheduler file); CLIError within
    ``timeout`` seconds (default :data:`CONNECT_TIMEOUT`) and a little more if no Dask
    scheduler answers there."""
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:
        from distributed import Client
    except ImportError:
        raise CLIError('--scheduler needs dask: pip install "xanesnet-sk[dask]"') from None
    start = time.monotonic()
    target = _address(address, timeout)
    left = max(1.0, timeout - (time.monotonic() - start))
    try:
        _probe(target, left)
        client = Client(target, timeout=left)
    except Exception as exc:  # refused, timed out, not Dask's protocol, a bad address
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        where = address if target == str(address) else f"{address} ({target})"
        raise CLIError(f"--scheduler {where}: no Dask scheduler answered within {timeout:g} s "
                       f"({what}); check the address (tcp://HOST:8786) and that the "
                       "scheduler runs") from None
    n = len(client.scheduler_info().get("workers", {}))
    report.say(f"dask: connected to {address} ({n} workers)")
    return client


def _partitions(items, size):
    if size < 1:
        raise CLIError(f"--partition-size must be at least 1, got {size}")
    return [items[k:k + size] for k in range(0, len(items), size)]


def _featurise_files(paths, transformer, index, offset):
    """One partition: (features, sites with input indices) of structure files."""
    from sklearn.base import clone

    from wacsf.dask import partition_error

    from ._data import read_one_structure

    try:
        structures = [read_one_structure(path) for path in paths]
        t = clone(transformer).set_params(progress=False)
        x = t.fit_transform(structures)
    except Exception as exc:
        raise partition_error(exc, index, list(paths), offset) from exc
    return x, np.asarray(t.sites_, dtype=np.int64).reshape(-1, 2) + np.array([offset, 0])


def featurise_partitions(client, paths, wacsf, size, write, report):
    """Featurise ``paths`` on the cluster; ``write(k, x, sites)`` each partition in turn
    (``sites`` with input structure indices)."""
    from distributed import as_completed

    parts = _partitions([str(Path(p).absolute()) for p in paths], size)
    futures = [client.submit(_featurise_files, part, wacsf, k, k * size, pure=False)
               for k, part in enumerate(parts)]
    index = {f.key: k for k, f in enumerate(futures)}
    bar = report.progress(range(len(parts)), desc="partitions", unit="partition")
    try:
        for future, (x, sites) in as_completed(futures, with_results=True):
            write(index[future.key], x, sites)
            if hasattr(bar, "update"):
                bar.update(1)
    except Exception as exc:
        for f in futures:
            f.cancel()
        raise CLIError(f"featurise on the cluster: {exc}") from exc
    finally:
        if hasattr(bar, "close"):
            bar.close()
    return len(parts)


def predict_on_cluster(client, rest, wacsf, structures, size, report, absorber_element=None,
                       with_std=False, on_missing_absorber="raise"):
    """:func:`~xanesnet_sk.cli._predict.predict_structures` of ``structures``, one cluster
    task per partition of ``size``, joined in input order."""
    from ._predict import join, predict_partition

    parts = _partitions(list(structures), size)
    shared_rest, shared_wacsf = client.scatter([rest, wacsf], broadcast=True)
    futures = [client.submit(predict_partition, shared_rest, shared_wacsf, part, k, k * size,
                             absorber_element, with_std, on_missing_absorber, pure=False)
               for k, part in enumerate(parts)]
    bar = report.progress(range(len(parts)), desc="partitions", unit="partition")
    try:
        results = []
        for future in futures:
            results.append(future.result())
            if hasattr(bar, "update"):
                bar.update(1)
    except Exception as exc:
        for f in futures:
            f.cancel()
        raise CLIError(f"predict on the cluster: {exc}") from exc
    finally:
        if hasattr(bar, "close"):
            bar.close()
    return join(results)
