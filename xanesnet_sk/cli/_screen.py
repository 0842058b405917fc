"""``xanesnet-sk screen``: rank candidate structures against a measured spectrum."""

import numpy as np

from ._common import CLIError, StagedOutputs, add_output_option, output_dir, refuse_existing
from ._model import TRUST_NOTE, check_direction, model_energies, model_featuriser

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["add_screen_command", "add_measured_options", "model_grid", "prepare_cli_measured",
           "measured_for_inverse"]


def add_measured_options(parser, required=False):
    """``--measured FILE``, ``--e0``, ``--shift``, the column and normalisation options."""
    group = parser.add_argument_group("measured spectrum (XDI or text; normalised with "
                                      "xraylarch: pip install \"xanesnet-sk[experiment]\")")
    group.add_argument("--measured", required=required, metavar="FILE",
                       help="the measured spectrum: an XDI file (.xdi) or columns of text")
    group.add_argument("--e0", type=float, metavar="EV",
                       help="the measured edge energy (eV) when known, on the scale of the "
                            "model's grid zero (e.g. 7112 for an Fe K edge calibrated on the "
                            "foil); default: the file's Scan.edge_energy, else found as Larch "
                            "finds it (maximum of dmu/dE)")
    group.add_argument("--shift", type=float, default=0.0, metavar="EV",
                       help="added to E0 when aligning onto the model's grid (default 0)")
    group.add_argument("--model-e0", type=float, metavar="EV",
                       help="for a model whose grid is absolute (trained on absolute "
                            "energies): the energy of its edge (default: its first energy + "
                            "15 eV, XANESNET's grid starting 15 eV below the edge)")
    for name, what in (("energy", "energy"), ("mu", "mu"), ("i0", "I0 (with --it-column: "
                                                           "mu = ln(I0/It))"), ("it", "It")):
        group.add_argument(f"--{name}-column", metavar="NAME|INDEX",
                           help=f"the {what} column, by name or 0-based index")
    group.add_argument("--flatten", action="store_true",
                       help="compare with Larch's flattened spectrum, not 'norm'")
    return group


def model_grid(model, meta, report, model_e0=None):
    """The model's edge-relative energy grid (eV), from its sidecar (or XANESNET's)."""

    energies = np.asarray(model_energies(model, meta), dtype=float)
    if energies[0] > 0:  # an absolute grid: the training spectra's energies
        edge = float(energies[0] + 15.0) if model_e0 is None else float(model_e0)
        report.say(f"screen: the model's grid is absolute ({energies[0]:g} to "
                   f"{energies[-1]:g} eV); its edge taken at {edge:g} eV (--model-e0)")
        energies = energies - edge
    elif model_e0 is not None:
        raise CLIError("--model-e0 is for a model whose grid is absolute; this model's grid is "
                       "relative to the edge already")
    return energies


def prepare_cli_measured(args, grid):
    """Read and normalise ``--measured`` onto ``grid``; CLIError (one line) on failure."""
    from ..measured import prepare_measured, read_measured

    try:
        spectrum = read_measured(args.measured, energy=args.energy_column, mu=args.mu_column,
                                 i0=args.i0_column, it=args.it_column)
        return prepare_measured(spectrum, grid, e0=args.e0, shift=args.shift,
                                flatten=args.flatten)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except FileNotFoundError as exc:
        raise CLIError(f"--measured: {exc}") from None


def measured_for_inverse(args, report, model, meta):
    """``predict --inverse --measured FILE``: ([the file], [its spectrum on the model's grid])."""
    from pathlib import Path

    if args.xanes is not None:
        raise CLIError("give --xanes DIR or --measured FILE, not both")
    grid = model_grid(model, meta, report, args.model_e0)
    prepared = prepare_cli_measured(args, grid)
    report.say(f"predict --inverse: {prepared.measured.source}: E0 {prepared.e0:.2f} eV, edge "
               f"step {prepared.edge_step:.4g}; normalised and aligned onto the model's grid")
    return [Path(args.measured)], [prepared.mu]


def add_screen_command(subparsers, parent):
    """Register ``screen``."""
    from ._featurise import add_absorber_element_option

    parser = subparsers.add_parser(
        "screen", parents=[parent], help="rank candidate structures against a measured spectrum",
        description="Featurise every candidate structure (streamed in chunks), predict its "
                    "spectrum with a forward model (with the ensemble's std when it has one), "
                    "and rank the candidates by the distance between the measured spectrum "
                    "(normalised with Larch's pre_edge and aligned onto the model's grid) and "
                    "each prediction: delta mu (%%) after a least-squares scale, or a chi2 "
                    "using the ensemble's std and the measurement's noise.  Writes "
                    "OUTPUT/ranking.csv (rank, name, score, delta_mu, chi2, scale, mean_std, "
                    "n_sites, index; rank 1 the best), OUTPUT/top_candidates.png and "
                    "OUTPUT/measured.txt (the normalised measurement on the model's grid).  "
                    + TRUST_NOTE)
    parser.add_argument("--model", required=True, metavar="MODEL",
                        help="forward model written by 'xanesnet-sk learn'")
    parser.add_argument("--candidates", required=True, metavar="DIR|FILE|TRAJ",
                        help="the candidate structures: a directory of structure files, one "
                             "multi-frame file or trajectory (.traj), or an ase database (.db)")
    add_measured_options(parser, required=True)
    add_output_option(parser, "DIR", "directory for ranking.csv, top_candidates.png and "
                                     "measured.txt; existing files are kept unless --overwrite")
    add_absorber_element_option(
        parser, "average the predictions of every atom of this element (symbol or atomic "
                "number) in each candidate, as a measured spectrum of a material is")
    parser.add_argument("--broadening", type=float, metavar="EV",
                        help="Lorentzian FWHM (eV) applied to the predictions to match the "
                             "measurement's resolution (default: none)")
    parser.add_argument("--metric", choices=["delta_mu", "chi2"], default="delta_mu",
                        help="what 'score' ranks by (default delta_mu)")
    parser.add_argument("--no-scale", action="store_true",
                        help="compare predictions as they are, without the least-squares "
                             "scale per candidate")
    parser.add_argument("--top-k", type=int, default=5, metavar="K",
                        help="candidates drawn over the measurement (default 5)")
    parser.add_argument("--chunk-size", type=int, default=4096, metavar="N",
                        help="candidates featurised and predicted at a time (default 4096)")
    parser.add_argument("--n-jobs", type=int, metavar="N",
                        help="featuriser threads (default: the model's setting)")
    from ._dask import add_scheduler_options

    add_scheduler_options(
        parser, partition_size=None,
        partition_help="candidates per Dask task, at least 1 (default: --chunk-size)",
    ).description = (
        "each partition of candidates is read (a directory's files, a database's rows, a "
        "trajectory's frames: on the worker), featurised, predicted and scored by one task; "
        "only the scores come back, and ranking.csv is the local run's (to the last bit "
        "when --partition-size is a multiple of --chunk-size)")
    parser.set_defaults(func=run_screen)
    return parser


def run_screen(args, report):
    """Screen ``--candidates`` against ``--measured``; write the ranking and the plot."""
    from ..screening import screen
    from ._data import load_model

    for option, value in (("--top-k", args.top_k), ("--chunk-size", args.chunk_size)):
        if value < 1:
            raise CLIError(f"{option} must be at least 1, got {value}")
    from pathlib import Path

    out = Path(args.output)
    files = {"ranking": out / "ranking.csv", "plot": out / "top_candidates.png",
             "measured": out / "measured.txt"}
    refuse_existing(files.values(), args.overwrite)
    model, meta = load_model(args.model)
    check_direction(model, inverse=False)
    grid = model_grid(model, meta, report, args.model_e0)
    prepared = prepare_cli_measured(args, grid)
    report.say(f"screen: {prepared.measured.source}: E0 {prepared.e0:.2f} eV, edge step "
               f"{prepared.edge_step:.4g}, noise {prepared.noise:.2g} (normalised)")
    wacsf, rest = model_featuriser(model, meta, "so it cannot featurise the candidates")
    options = dict(energies=grid, wacsf=wacsf, absorber_element=args.absorber_element,
                   broadening=args.broadening, metric=args.metric, scale=not args.no_scale,
                   top_k=args.top_k, chunk_size=args.chunk_size, n_jobs=args.n_jobs,
                   progress=not report.quiet)
    try:
        if getattr(args, "scheduler", None):
            result = _screen_on_cluster(args, report, rest, prepared, options)
        else:
            result = screen(rest, args.candidates, prepared, **options)
    except FileNotFoundError as exc:
        raise CLIError(f"--candidates: {exc}") from None
    from ..io import write_spectrum

    output_dir(args.output, "--output")  # made only now: a failed screen leaves nothing
    with StagedOutputs(args.overwrite) as staged:
        result.ranking.to_csv(staged.path(files["ranking"]), index=False, float_format="%.6g")
        result.plot(path=staged.path(files["plot"]))
        write_spectrum(staged.path(files["measured"]), grid, prepared.mu)
    best = result.ranking.iloc[0]
    report.say(f"screen: {len(result.ranking)} candidates; best {best['name']} "
               f"({args.metric} {best['score']:.4g})")
    for label, path in files.items():
        report.wrote(label, path)
    return result


def _screen_on_cluster(args, report, rest, prepared, options):
    """``screen --scheduler``: :func:`xanesnet_sk.dask.screen`, the same computation as a
    local run, partition by partition on the cluster; the files are written here."""
    from ..dask import screen as screen_on_cluster
    from ._dask import connect

    client = connect(args.scheduler, report)
    try:
        return screen_on_cluster(rest, args.candidates, prepared, client=client,
                                 partition_size=args.partition_size or args.chunk_size,
                                 **options)
    finally:
        client.close()
