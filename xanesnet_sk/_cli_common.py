"""The command line's reporting layer, shared options and checks.

Everything the CLI prints goes through :class:`Reporter` (stdout, silenced by
``--quiet``; progress bars on stderr) or through :func:`xanesnet_sk.cli.main`'s
one-line error message; library modules never print.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np

__all__ = [
    "CLIError",
    "Reporter",
    "common_parent",
    "existing_dir",
    "existing_file",
    "output_dir",
    "output_file",
]


class CLIError(Exception):
    """A user-facing failure; ``main`` prints its message as one line, exit status 1."""


class Reporter:
    """What a verb tells the user: messages, tables, output paths and progress bars.

    Parameters
    ----------
    quiet : bool, default=False
        Print nothing but errors and show no progress bars.
    stream : file-like, default=None
        Where messages go; None means ``sys.stdout`` at the time of printing.
    """

    def __init__(self, quiet=False, stream=None):
        self.quiet = quiet
        self.stream = stream
        self.outputs = []

    def say(self, text=""):
        """Print ``text`` unless quiet."""
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def table(self, frame, title=None, floatfmt="{:.3f}"):
        """Print a pandas DataFrame as a plain-text table under ``title``."""
        if self.quiet:
            return
        if title:
            self.say(title)
        if frame.index.name is not None:  # a named index becomes the first column
            frame = frame.reset_index()
        self.say(frame.to_string(float_format=floatfmt.format, index=False))

    def wrote(self, label, path):
        """Record (and announce) an output file or directory."""
        self.outputs.append((label, Path(path)))
        self.say(f"  wrote {label}: {path}")

    def progress(self, iterable=None, total=None, desc=None, unit="it"):
        """A tqdm progress bar (on stderr), disabled when quiet."""
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=self.quiet,
                    leave=False, dynamic_ncols=True)


def common_parent():
    """A parent parser with the options every verb takes (``--quiet``, ``--traceback``)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("general options")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing but errors; no progress bars")
    group.add_argument("--traceback", action="store_true",
                       help="on error, show the full Python traceback instead of one line "
                            "(for bug reports)")
    return parent


def existing_dir(path, option):
    """``Path(path)`` if it is a directory, else a CLIError naming ``option``."""
    path = Path(path)
    if not path.is_dir():
        what = "is a file, not a directory" if path.exists() else "does not exist"
        raise CLIError(f"{option} {str(path)!r} {what}")
    return path


def existing_file(path, option, suffixes=None):
    """``Path(path)`` if it is a file (with one of ``suffixes``), else a CLIError."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.exists() else "does not exist"
        raise CLIError(f"{option} {str(path)!r} {what}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise CLIError(f"{option} {str(path)!r}: expected a {'/'.join(suffixes)} file")
    return path


def output_dir(path, option):
    """Create the output directory ``path`` (and parents); CLIError if it cannot be."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {str(path)!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{option} {str(path)!r}: cannot create directory ({exc.strerror})") from exc
    return path


def output_file(path, option, suffixes=None):
    """Check an output file's suffix and create its parent directory."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise CLIError(
            f"{option} {str(path)!r}: the file name must end in {' or '.join(suffixes)}"
        )
    if path.is_dir():
        raise CLIError(f"{option} {str(path)!r} is a directory; give a file name")
    output_dir(path.parent, option)
    return path


def write_json(path, payload):
    """Write ``payload`` as indented JSON (NumPy scalars and arrays converted)."""

    def default(value):
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return repr(value)

    Path(path).write_text(json.dumps(payload, indent=2, default=default) + "\n",
                          encoding="utf-8")
