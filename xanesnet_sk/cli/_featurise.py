"""``xanesnet-sk featurise``: wACSF of a directory of structures, to .npz or .csv."""

import json
import warnings
from pathlib import Path

import numpy as np

from ._common import (
    CLIError,
    StagedOutputs,
    add_output_option,
    check_names,
    existing_dir,
    output_file,
    refuse_existing,
)

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["add_featurise_command", "add_wacsf_options", "wacsf_params", "make_wacsf",
           "absorber_element_arg", "add_absorber_element_option",
           "add_on_missing_absorber_option", "on_missing_absorber", "site_names", "cli_hint"]


def absorber_element_arg(text):
    """``--absorber-element``: an element symbol, or an atomic number."""
    return int(text) if text.strip().isdigit() else text.strip()


def add_absorber_element_option(parser, help):
    """Add ``--absorber-element ELEMENT`` (symbol or atomic number) to ``parser``."""
    parser.add_argument("--absorber-element", type=absorber_element_arg, metavar="ELEMENT",
                        help=help)


def add_on_missing_absorber_option(parser):
    """``--on-missing-absorber {raise,skip}`` (with ``--absorber-element``)."""
    parser.add_argument("--on-missing-absorber", choices=["raise", "skip"], default=None,
                        help="with --absorber-element: a structure without an atom of the "
                             "element is an error naming it (raise, the default) or is left "
                             "out, with a note (skip)")


def on_missing_absorber(args):
    """The ``--on-missing-absorber`` choice, refused without ``--absorber-element``."""
    choice = getattr(args, "on_missing_absorber", None)
    if choice is not None and getattr(args, "absorber_element", None) is None:
        raise CLIError("--on-missing-absorber applies to --absorber-element ELEMENT; give the "
                       "element, or leave the option out")
    return choice or "raise"


#: CLI option -> WACSFTransformer parameter.
_WACSF_OPTIONS = {
    "r_cut": "r_cut",
    "n_g2": "n_g2",
    "n_g4": "n_g4",
    "absorber": "absorber",
    "absorber_element": "absorber_element",
    "on_missing_absorber": "on_missing_absorber",
    "backend": "backend",
    "n_jobs": "n_jobs",
}


def add_wacsf_options(parser):
    """Add the wACSF options (``--r-cut``, ``--n-g2``, ...) to ``parser``; all default to None."""
    group = parser.add_argument_group(
        "wACSF options (override the config's 'wacsf' section; defaults: the paper's)")
    group.add_argument("--r-cut", type=float, metavar="ANGSTROM",
                       help="cutoff radius r_c (default 6.0)")
    group.add_argument("--n-g2", type=int, metavar="N",
                       help="number of radial G2 functions (default 32)")
    group.add_argument("--n-g4", type=int, metavar="N",
                       help="number of angular G4 functions, divisible by |lambdas|*|zetas| "
                            "(default 64)")
    group.add_argument("--absorber", type=int, metavar="INDEX",
                       help="index of the absorbing atom in every structure (default: the "
                            "index a structure's extended-xyz file records as absorber=N, "
                            "else 0)")
    add_absorber_element_option(group, "featurise every atom of this element (symbol such as "
                                       "Fe, or atomic number), one row per site named "
                                       "<structure>_<atom>, periodic structures included")
    add_on_missing_absorber_option(group)
    group.add_argument("--backend", choices=["auto", "numba", "cuda", "numpy"],
                       help="wACSF backend (default auto: CUDA if a GPU is there, else Numba)")
    group.add_argument("--n-jobs", type=int, metavar="N",
                       help="CPU threads of the Numba backend (default: all cores)")
    return group


def wacsf_params(args, config_section=None):
    """WACSFTransformer parameters: the config's ``wacsf`` section, then the CLI options."""
    params = dict(config_section or {})
    for option, param in _WACSF_OPTIONS.items():
        value = getattr(args, option, None)
        if value is not None:
            params[param] = value
    return params


def make_wacsf(params, progress=False):
    """A validated WACSFTransformer from ``params``; bad values raise CLIError in one line."""
    from wacsf import WACSFTransformer

    try:
        wacsf = WACSFTransformer(progress=progress, **params)
        wacsf.fit()
    except (TypeError, ValueError) as exc:
        raise CLIError(f"wACSF parameters: {exc}{_option_of(str(exc))}") from exc
    return wacsf


def _option_of(message):
    """`` (option --n-g4, or the config's wacsf.n_g4)`` for the first wACSF parameter with a
    command-line option that ``message`` names, else ''."""
    import re

    for option, param in _WACSF_OPTIONS.items():
        if re.search(rf"(?<![\w-]){param}(?!\w)", message):
            flag = "--" + option.replace("_", "-")
            return f" (set by {flag}, or the config's wacsf.{param})"
    return ""


def portable_params(params):
    """The JSON-safe subset of wACSF parameters (callables and other objects dropped)."""
    safe = {}
    for key, value in params.items():
        if key in ("backend", "n_jobs", "progress"):
            continue
        try:
            json.dumps(value)
        except TypeError:
            continue
        safe[key] = value
    return safe


def add_featurise_command(subparsers, parent):
    """Register ``featurise`` on ``subparsers``."""
    parser = subparsers.add_parser(
        "featurise", parents=[parent],
        help="compute wACSF features of structures (molecules or periodic)",
        description="Compute wACSF feature vectors [G1, G2..., G4...] of the absorbing atom of "
                    "every structure in a directory, with their parameter-carrying names, "
                    "and write them to an .npz (x, feature_names, names, wacsf_params) or a "
                    ".csv (one row per structure).")
    parser.add_argument("--xyz", required=True, metavar="DIR",
                        help="directory of structure files: .xyz (element symbol or atomic "
                             "number in the first column), extended xyz, CIF, POSCAR")
    add_output_option(parser, "FILE", "output file, .npz or .csv; an existing one is kept "
                                      "unless --overwrite")
    parser.add_argument("--config", metavar="YAML",
                        help="YAML file whose 'wacsf' section sets the wACSF parameters")
    add_wacsf_options(parser)
    from ._dask import add_scheduler_options

    add_scheduler_options(parser)
    parser.set_defaults(func=run_featurise)
    return parser


def run_featurise(args, report):
    """Featurise ``--xyz`` and write ``--output``."""
    from .._config import load_config
    from ._data import read_structure_files, structure_files, structure_name

    on_missing_absorber(args)  # refused without --absorber-element
    if getattr(args, "scheduler", None):
        return _run_featurise_on_cluster(args, report)
    out = output_file(args.output, "--output", suffixes=(".npz", ".csv"))
    refuse_existing([out], args.overwrite)
    xyz = existing_dir(args.xyz, "--xyz")
    config = load_config(args.config) if args.config else {}
    params = wacsf_params(args, config.get("wacsf"))
    wacsf = make_wacsf(params, progress=not report.quiet)
    files = structure_files(xyz)
    stems = check_names([structure_name(p) for p in files], f"--xyz {str(xyz)!r}")
    try:
        structures = read_structure_files([str(p) for p in files])
    except ValueError as exc:
        raise CLIError(f"--xyz: {exc}") from None
    report.say(f"featurise: {len(structures)} structures from {xyz}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            x = wacsf.transform(structures)
    except ValueError as exc:
        raise CLIError(cli_hint(str(exc))) from exc
    for warning in caught:
        report.say(f"note: {cli_hint(str(warning.message))}")
    sites = wacsf.sites_
    names = site_names(stems, sites) if wacsf.absorber_element is not None else stems
    feature_names = np.asarray(wacsf.get_feature_names_out(), dtype=str)
    with StagedOutputs(args.overwrite) as staged:
        write_features(staged.path(out), x, feature_names, np.array(names, dtype=str),
                       portable_params(wacsf.get_params()), sites=sites)
    report.say(f"  {x.shape[0]} x {x.shape[1]} wACSF (backend {wacsf.backend_})")
    report.wrote("features", out)


def site_names(names, sites):
    """``<structure>_<atom>``: the name of every site row (``sites``: structure, atom)."""
    return [f"{names[s]}_{atom}" for s, atom in np.asarray(sites).reshape(-1, 2)]


#: Library hints (keyword arguments) and the command-line option that does the same.
_CLI_HINTS = {
    "on_missing_absorber='skip' leaves such structures out":
        "give --on-missing-absorber skip to leave such structures out",
}


def cli_hint(message):
    """A library error message with its keyword-argument hints given as CLI options."""
    for library, cli in _CLI_HINTS.items():
        message = message.replace(library, cli)
    return message.replace("absorber_element=", "--absorber-element ")


def _run_featurise_on_cluster(args, report):
    """``featurise --scheduler``: one ``part-NNNNN.npz`` per partition under ``--output DIR``."""
    from .._config import load_config
    from ._common import output_dir
    from ._dask import connect, featurise_partitions
    from ._data import structure_files, structure_name

    if Path(args.output).suffix.lower() in (".npz", ".csv"):
        raise CLIError("--output: with --scheduler, give a directory; each partition is "
                       "written to DIR/part-NNNNN.npz")
    xyz = existing_dir(args.xyz, "--xyz").absolute()  # the workers' directory is not ours
    config = load_config(args.config) if args.config else {}
    params = wacsf_params(args, config.get("wacsf"))
    wacsf = make_wacsf(params)
    files = structure_files(xyz)
    stems = check_names([structure_name(p) for p in files], f"--xyz {str(args.xyz)!r}")
    n_parts = -(-len(files) // args.partition_size)
    finals = [Path(args.output) / f"part-{k:05d}.npz" for k in range(n_parts)]
    refuse_existing(finals, args.overwrite)
    client = connect(args.scheduler, report)  # before anything is written
    try:
        out = output_dir(args.output, "--output")
        feature_names = np.asarray(wacsf.get_feature_names_out(), dtype=str)
        report.say(f"featurise: {len(files)} structure files from {xyz} in {n_parts} "
                   "partitions")
        rows = [0]
        with StagedOutputs(args.overwrite) as staged:
            def write(k, x, sites):
                names = (site_names(stems, sites) if wacsf.absorber_element is not None
                         else stems[k * args.partition_size:k * args.partition_size + len(x)])
                write_features(staged.path(finals[k]), x, feature_names,
                               np.array(names, dtype=str), portable_params(wacsf.get_params()),
                               sites=sites)
                rows[0] += len(x)

            featurise_partitions(client, [str(f) for f in files], wacsf, args.partition_size,
                                 write, report)
    finally:
        client.close()
    report.say(f"  {rows[0]} x {feature_names.size} wACSF")
    report.wrote(f"features ({n_parts} partitions)", out)


def write_features(path, x, feature_names, names, params, sites=None):
    """Write features to ``.npz`` (with names, parameters and sites) or ``.csv``."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        extra = {} if sites is None else {"sites": np.asarray(sites, dtype=np.int64)}
        np.savez(path, x=x, feature_names=feature_names, names=names,
                 wacsf_params=np.array(json.dumps(params)), **extra)
    else:
        import pandas as pd

        frame = pd.DataFrame(x, index=pd.Index(names, name="structure"), columns=feature_names)
        frame.to_csv(path, float_format="%.10g")
