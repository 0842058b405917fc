"""The ``xanesnet-sk`` parser and :func:`main`: every verb registered, errors in one line."""

import argparse
import contextlib
import signal
import sys
import threading

from ._common import CLIError, Reporter, common_parent, forget_created_dirs, remove_created_dirs

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["main", "build_parser"]

PROG = "xanesnet-sk"

#: Exit status of a run stopped by SIGTERM (128 + 15, as the shell reports it).
TERMINATED = 128 + signal.SIGTERM
#: Exit status of a run stopped by Ctrl-C (SIGINT).
INTERRUPTED = 130


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that a verb cleans up as on Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated


@contextlib.contextmanager
def _sigterm_raises():
    """While inside: SIGTERM raises :class:`Terminated` (in the main thread only, where
    Python runs signal handlers); the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _UsageError(Exception):
    """A bad command line (argparse's complaint), reported in one line."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become one-line ``_UsageError``s, not usage dumps."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def build_parser():
    """The ``xanesnet-sk`` argument parser with every verb registered.

    Returns
    -------
    argparse.ArgumentParser
    """
    from .. import __version__
    from ._analysis import add_analysis_commands
    from ._apply import add_evaluate_command, add_predict_command
    from ._demo import add_demo_command
    from ._featurise import add_featurise_command
    from ._fit import add_learn_command, add_validate_command
    from ._screen import add_screen_command

    parser = _Parser(
        prog=PROG,
        description="XANESNET the scikit-learn way: wACSF features of an absorbing atom in, "
                    "K-edge XANES spectra out.  Start with 'xanesnet-sk demo'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    parent = common_parent()
    add_demo_command(subparsers, parent, parse=parser.parse_args)  # the demo runs verbs
    add_featurise_command(subparsers, parent)
    add_learn_command(subparsers, parent)
    add_validate_command(subparsers, parent)
    add_predict_command(subparsers, parent)
    add_evaluate_command(subparsers, parent)
    add_analysis_commands(subparsers, parent)
    add_screen_command(subparsers, parent)
    return parser


def _one_line(exc):
    """The exception's message on one line."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if isinstance(exc, KeyError) and text.startswith("'"):
        text = f"missing key {text}"
    return text or type(exc).__name__


def _expected(exc):
    """True for failures caused by the input (bad paths, data, parameters), not bugs."""
    from .._config import ConfigError

    return isinstance(exc, (CLIError, ConfigError, OSError, ValueError, TypeError, KeyError))


def main(argv=None):
    """Run ``xanesnet-sk`` with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, default=None
        The command line without the program name.

    Returns
    -------
    int
        Exit status: 0 success, 1 failure, 2 bad command line, 130 interrupted
        (Ctrl-C), 143 terminated (SIGTERM).  An interrupted, terminated or
        failed run removes its temporary files and the (empty) directories it
        created.
    """
    forget_created_dirs()
    verb = None
    try:
        with _sigterm_raises():
            try:
                parser = build_parser()
                args = parser.parse_args(argv)
            except _UsageError as exc:
                print(exc, file=sys.stderr)
                return 2
            except SystemExit as exc:  # --help and --version
                return exc.code if isinstance(exc.code, int) else 0
            verb = args.verb
            status = _run(args)
    except KeyboardInterrupt:
        status = _stopped(verb, "interrupted", INTERRUPTED)
    except Terminated:
        status = _stopped(verb, "terminated (SIGTERM)", TERMINATED)
    if status:
        remove_created_dirs()
    forget_created_dirs()
    return status


def _stopped(verb, what, status):
    print(f"{PROG}{f' {verb}' if verb else ''}: {what}", file=sys.stderr)
    return status


def _run(args):
    """Run the verb of ``args``; 0, or 1 with one line on stderr (a traceback with
    ``--traceback``)."""
    report = Reporter(quiet=getattr(args, "quiet", False))
    try:
        args.func(args, report)  # a verb's return value is for the demo, not the exit
    except Exception as exc:
        if getattr(args, "traceback", False):
            remove_created_dirs()
            raise
        kind = "" if _expected(exc) else f"{type(exc).__name__}: "
        hint = "" if _expected(exc) else " (rerun with --traceback for details)"
        print(f"{PROG} {args.verb}: error: {kind}{_one_line(exc)}{hint}", file=sys.stderr)
        return 1
    return 0
