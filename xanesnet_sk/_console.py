"""When to show progress: a person watching standard error, in the main process."""

import multiprocessing
import sys

__all__ = ["watched"]


def watched(stream=None):
    """Whether ``stream`` (default ``sys.stderr``) is a terminal or a Jupyter kernel's
    output, in the main process (not a worker of joblib, multiprocessing or Dask)."""
    stream = sys.stderr if stream is None else stream
    if multiprocessing.parent_process() is not None:
        return False
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return "ipykernel" in sys.modules
