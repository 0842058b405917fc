"""Backend choice: which kernel runs, and with how many CPU threads.

Every backend exposes ``wacsf_features(positions, weights, offsets,
absorbers, r_cut, g2_eta, g2_mu, g4_eta, g4_mu, lambdas, zetas, pair_scale,
out)`` over the packed layout of :mod:`wacsf._structures`.  ``numba.cuda``
is imported only when the CUDA backend is asked for or probed.
"""

import contextlib
import functools
import os

# Imports inside functions: each backend (numba.cuda above all) only when it is chosen,
# so that 'import wacsf' loads no CUDA.

__all__ = ["resolve", "get_kernel", "num_threads", "cuda_available", "AUTO_CUDA_MIN_STRUCTURES"]

#: ``backend="auto"`` sends a batch to the GPU from this many structures on;
#: below it, the host-device transfer and launch cost more than they save.
AUTO_CUDA_MIN_STRUCTURES = 2000

_CUDA_HELP = (
    'install the CUDA extra (pip install "xanesnet-sk[cuda]") on a machine with an '
    "NVIDIA GPU, or set NUMBA_ENABLE_CUDASIM=1 before Python starts to use the "
    "(slow) CUDA simulator; or use backend='numba'"
)


@functools.lru_cache(maxsize=1)
def cuda_available():
    """Whether the CUDA backend can run here (a GPU, or the simulator).

    Set ``WACSF_DISABLE_CUDA=1`` to make ``backend="auto"`` ignore the GPU.
    """
    if os.environ.get("WACSF_DISABLE_CUDA", "") not in ("", "0"):
        return False
    try:
        from numba import cuda
    except Exception:  # numba built without CUDA support
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False


def _simulated():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")


def resolve(backend, n_structures):
    """The concrete backend for ``backend`` ("auto" resolved) and a batch size."""
    if backend == "auto":
        if (
            n_structures >= AUTO_CUDA_MIN_STRUCTURES
            and not _simulated()
            and cuda_available()
        ):
            return "cuda"
        return "numba"
    if backend == "cuda" and not cuda_available():
        raise ValueError(
            f"backend='cuda' was asked for, but no CUDA GPU is usable here: {_CUDA_HELP}"
        )
    return backend


def get_kernel(backend, dtype="float64"):
    """The ``wacsf_features`` entry point of a concrete backend."""
    if backend == "numba":
        from . import _cpu

        return _cpu.wacsf_features
    if backend == "numpy":
        from . import _reference

        return _reference.wacsf_features
    if backend == "cuda":
        from . import _cuda

        return functools.partial(_cuda.wacsf_features, dtype=dtype)
    raise ValueError(f"unknown backend {backend!r}; choose 'auto', 'numba', 'cuda' or 'numpy'")


@contextlib.contextmanager
def num_threads(backend, n_jobs):
    """Set Numba's thread count for the block, restoring it even on error."""
    if backend != "numba" or n_jobs is None or n_jobs == -1:
        yield
        return
    import numba

    if n_jobs == 0:
        raise ValueError("n_jobs=0 means no threads; use None or -1 for all, or a positive count")
    n = min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)
