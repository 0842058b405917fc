"""``--scheduler ADDRESS``: run ``featurise`` or ``predict`` on a Dask cluster.

The client connects with a short timeout, so an address that does not answer
is a one-line error within seconds, not a hang.  ``featurise`` writes one
``.npz`` per partition (``DIR/part-00000.npz``, ...; the same keys as a local
``featurise`` ``.npz``, plus ``sites``), each as soon as its partition is
done, so the client holds one partition at a time; ``predict`` gathers the
spectra (small) and writes them as a local run does.
"""

import numpy as np

from ._common import CLIError

__all__ = ["add_scheduler_options", "connect", "featurise_partitions", "predict_on_cluster"]

#: Seconds the client waits for the scheduler before giving up.
CONNECT_TIMEOUT = 5


def add_scheduler_options(parser):
    """``--scheduler`` and ``--partition-size``."""
    group = parser.add_argument_group("Dask cluster (pip install \"xanesnet-sk[dask]\")")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. "
                            "tcp://10.0.0.5:8786, or a scheduler file path ending in .json)")
    group.add_argument("--partition-size", type=int, default=2000, metavar="N",
                       help="structures per Dask task (default 2000)")
    return group


def connect(address, report):
    """A ``distributed.Client`` for ``address``; CLIError within seconds if it does not answer."""
    try:
        from distributed import Client
    except ImportError:
        raise CLIError('--scheduler needs dask: pip install "xanesnet-sk[dask]"') from None
    try:
        if str(address).endswith(".json"):
            client = Client(scheduler_file=str(address), timeout=CONNECT_TIMEOUT)
        else:
            client = Client(str(address), timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(f"--scheduler {address}: no Dask scheduler answered within "
                       f"{CONNECT_TIMEOUT} s ({type(exc).__name__}: {exc})") from None
    n = len(client.scheduler_info().get("workers", {}))
    report.say(f"dask: connected to {address} ({n} workers)")
    return client


def _partitions(items, size):
    if size < 1:
        raise CLIError(f"--partition-size must be at least 1, got {size}")
    return [items[k:k + size] for k in range(0, len(items), size)]


def _featurise_files(paths, transformer, index):
    """One partition: (features, names, sites with input indices) of structure files."""
    from sklearn.base import clone

    from wacsf import read_structures

    try:
        structures = read_structures(paths)
        t = clone(transformer).set_params(progress=False)
        x = t.fit_transform(structures)
    except Exception as exc:
        raise type(exc)(f"partition {index} (first file {str(paths[0])!r}): {exc}") from exc
    names = [a.info.get("name", str(i)) for i, a in enumerate(structures)]
    sites = t.sites_
    if t.absorber_element is not None:
        names = [f"{names[s]}_{atom}" for s, atom in sites]
    return x, np.array(names, dtype=str), sites


def featurise_partitions(client, paths, wacsf, size, write, report):
    """Featurise ``paths`` on the cluster; ``write(k, x, names, sites)`` each partition in turn."""
    from distributed import as_completed

    parts = _partitions(list(paths), size)
    futures = [client.submit(_featurise_files, part, wacsf, k, pure=False)
               for k, part in enumerate(parts)]
    index = {f.key: k for k, f in enumerate(futures)}
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
    done = 0
    bar = report.progress(range(len(parts)), desc="partitions", unit="partition")
    try:
        for future, (x, names, sites) in as_completed(futures, with_results=True):
            k = index[future.key]
            sites = sites + np.array([offsets[k], 0])
            write(k, x, names, sites)
            done += 1
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


def predict_on_cluster(client, model, structures, size, absorber_element=None):
    """Predicted spectra of ``structures`` computed on the cluster, in input order."""
    import xanesnet_sk.dask

    lazy = xanesnet_sk.dask.predict(model, structures, partition_size=size,
                                    absorber_element=absorber_element)
    try:
        return np.asarray(client.compute(lazy).result())
    except Exception as exc:
        raise CLIError(f"predict on the cluster: {exc}") from exc
