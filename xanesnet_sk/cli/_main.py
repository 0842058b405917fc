"""The ``xanesnet-sk`` parser and :func:`main`: every verb registered, errors in one line."""

import argparse
import sys

from ._common import CLIError, Reporter, common_parent

__all__ = ["main", "build_parser"]

PROG = "xanesnet-sk"

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
        Exit status: 0 success, 1 failure, 2 bad command line, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    report = Reporter(quiet=getattr(args, "quiet", False))
    try:
        args.func(args, report)  # a verb's return value is for the demo, not the exit
    except KeyboardInterrupt:
        print(f"{PROG} {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "traceback", False):
            raise
        kind = "" if _expected(exc) else f"{type(exc).__name__}: "
        hint = "" if _expected(exc) else " (rerun with --traceback for details)"
        print(f"{PROG} {args.verb}: error: {kind}{_one_line(exc)}{hint}", file=sys.stderr)
        return 1
    return 0

