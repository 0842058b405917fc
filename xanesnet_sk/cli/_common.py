"""The command line's reporting layer, shared options and checks.

Everything the CLI prints goes through :class:`Reporter` (stdout, silenced by
``--quiet``; progress bars on stderr) or through :func:`xanesnet_sk.cli.main`'s
one-line error message; library modules never print.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
from pathlib import Path

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = [
    "CLIError",
    "Reporter",
    "common_parent",
    "existing_dir",
    "existing_file",
    "output_dir",
    "output_file",
    "refuse_existing",
    "safe_name",
    "check_names",
    "StagedOutputs",
    "add_overwrite_option",
    "add_output_option",
    "add_cv_options",
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


#: Directories the current verb created (deepest last), removed again if it fails.
_created_dirs = []


def output_dir(path, option):
    """Create the output directory ``path`` (and parents); CLIError if it cannot be.

    The directories created are recorded, so that a verb that fails removes
    them again (:func:`remove_created_dirs`) when they are still empty.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {str(path)!r} exists and is not a directory")
    missing = []
    for parent in [path, *path.parents]:
        if parent.exists():
            break
        missing.append(parent)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{option} {str(path)!r}: cannot create directory ({exc.strerror})") from exc
    _created_dirs.extend(reversed(missing))
    return path


def forget_created_dirs():
    """Start a verb: no directory created yet."""
    _created_dirs.clear()


def remove_created_dirs():
    """Remove the directories this verb created that are empty (a failed run's), deepest
    first; directories holding anything are kept."""
    for path in reversed(_created_dirs):
        with contextlib.suppress(OSError):
            path.rmdir()  # only succeeds on an empty directory
    _created_dirs.clear()


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
    import numpy as np  # here, not at import: the command line starts without numpy

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


# ------------------------------------------------------------------ safe outputs
#
# A run that did not do what was asked must leave nothing that looks finished:
# every output is written under a temporary name beside its final one and
# renamed into place only when the whole verb has succeeded; an existing file
# is replaced only with --overwrite; names taken from data are plain file names.

#: Longest file name (without suffix) made from a sample name.
MAX_NAME = 200


def add_overwrite_option(parser):
    """Add ``--overwrite`` (replace existing output files) to ``parser``."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (default: refuse, "
                             "naming the first one)")


def add_output_option(parser, metavar, help, required=True, default=None):
    """Add ``--output`` (what the verb writes, described by ``help``) and ``--overwrite``."""
    parser.add_argument("--output", required=required, default=default, metavar=metavar,
                        help=help)
    add_overwrite_option(parser)


def add_cv_options(parser, folds=5, repeats=5, flag="--splits", note=""):
    """Add the repeated k-fold split: ``flag`` (folds per repeat) and ``--repeats``."""
    parser.add_argument(flag, type=int, default=folds, metavar="K",
                        help=f"folds per repeat (default {folds})")
    parser.add_argument("--repeats", type=int, default=repeats, metavar="R",
                        help=f"repeats of the k-fold split (default {repeats}{note})")


def refuse_existing(paths, overwrite, option="--output"):
    """CLIError naming the first of ``paths`` that exists, unless ``overwrite``.

    A path that exists as a directory is refused even with ``overwrite``.
    """
    for path in paths:
        path = Path(path)
        if path.is_dir():
            raise CLIError(f"{option}: {str(path)!r} is a directory; it would be replaced by a "
                           "file")
        if path.exists() and not overwrite:
            raise CLIError(f"{option}: {str(path)!r} already exists; give --overwrite to "
                           "replace it (or choose another output)")


def safe_name(name, what="sample name"):
    """``name`` if it is a plain file name (no directories, no control characters), else CLIError.

    Names taken from data (file stems, an npz's ``names``) become output file
    names; one like ``../../x`` or ``a/b`` would write outside the output
    directory, so it is refused rather than rewritten (a rewritten name could
    collide with another sample's).
    """
    text = str(name)
    bad = None
    if text.strip() in ("", ".", ".."):
        bad = "is empty or a directory name"
    elif any(sep in text for sep in ("/", "\\")):
        bad = "contains a path separator"
    elif any(ord(c) < 32 or ord(c) == 127 for c in text):
        bad = "contains a control character"
    elif text != text.strip():
        bad = "starts or ends with white space"
    elif text.startswith("."):
        bad = "starts with '.' (a hidden file)"
    elif len(text.encode("utf-8")) > MAX_NAME:
        bad = f"is longer than {MAX_NAME} bytes"
    if bad:
        raise CLIError(f"{what} {text!r} {bad}: it cannot be used as an output file name")
    return text


def check_names(names, source):
    """Every name safe and no two equal (ignoring case, as some file systems do)."""
    seen = {}
    for i, name in enumerate(names):
        safe_name(name, what=f"{source}: sample {i} name")
        key = str(name).casefold()
        if key in seen:
            raise CLIError(f"{source}: samples {seen[key]} and {i} have the same name "
                           f"{str(name)!r} (ignoring case): their output files would overwrite "
                           "each other")
        seen[key] = i
    return [str(n) for n in names]


def partial_name(final, pid):
    """The temporary name under which process ``pid`` writes ``final``."""
    final = Path(final)
    return final.with_name(f".{final.stem}.partial-{pid}{final.suffix}")


def _running(pid):
    """Whether a process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists, owned by someone else (or we cannot tell: keep its file)
    return True


def remove_stale_partials(final):
    """Remove temporary files of ``final`` left by processes that no longer run."""
    final = Path(final)
    pattern = re.compile(rf"\.{re.escape(final.stem)}\.partial-(\d+){re.escape(final.suffix)}")
    with contextlib.suppress(OSError):
        for path in final.parent.glob(f".{glob_escape(final.stem)}.partial-*"):
            match = pattern.fullmatch(path.name)
            if match is None:
                continue
            pid = int(match.group(1))
            if pid != os.getpid() and not _running(pid):
                with contextlib.suppress(OSError):
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()


def glob_escape(text):
    """``text`` with glob's special characters escaped."""
    import glob

    return glob.escape(text)


class StagedOutputs:
    """Output files written under temporary names and renamed into place together.

    ``path(final)`` returns the temporary name to write ``final`` to (hidden,
    beside it, with the same suffix so that writers that go by the suffix
    behave); :meth:`commit` renames every temporary file to its final name;
    :meth:`discard` (also on any exception inside ``with``) removes them.
    Existing final files are refused unless ``overwrite``.

    Parameters
    ----------
    overwrite : bool, default=False
    option : str, default="--output"
        Named in error messages.
    """

    def __init__(self, overwrite=False, option="--output"):
        self.overwrite = overwrite
        self.option = option
        self._pending = {}  # final -> temporary

    def path(self, final):
        """The temporary name to write ``final`` to (its existence is checked first).

        Temporary files of ``final`` that an earlier run left (it was killed
        before it could remove them: ``kill -9``, a power cut) are removed;
        those of a process that still runs are left alone.
        """
        final = Path(final)
        if final in self._pending:
            raise CLIError(f"{self.option}: {str(final)!r} would be written twice")
        refuse_existing([final], self.overwrite, self.option)
        remove_stale_partials(final)
        temp = partial_name(final, os.getpid())
        self._pending[final] = temp
        return temp

    def commit(self):
        """Rename every temporary file to its final name; return the final names."""
        refuse_existing(list(self._pending), self.overwrite, self.option)
        missing = [t for t in self._pending.values() if not t.exists()]
        if missing:
            raise CLIError(f"internal: output {str(missing[0])!r} was not written")
        done = []
        for final, temp in self._pending.items():
            os.replace(temp, final)
            done.append(final)
        self._pending = {}
        return done

    def discard(self):
        """Remove the temporary files written so far."""
        for temp in self._pending.values():
            with contextlib.suppress(OSError):
                if temp.is_dir():
                    shutil.rmtree(temp)
                else:
                    temp.unlink()
        self._pending = {}

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()
        return False
