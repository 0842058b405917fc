"""``xanesnet-sk demo``: the whole workflow, end to end, on built-in synthetic data.

The demo writes synthetic Fe complexes and spectra
(:func:`xanesnet_sk.datasets.make_synthetic_xanes`) as ``.xyz`` and spectrum
files, then runs the real verbs on them, printing each command line so it can
be repeated by hand: ``featurise`` -> ``validate`` -> ``learn`` -> ``predict``
(held-out structures) -> ``evaluate``.  It ends with the headline numbers
(median delta mu against a mean-spectrum baseline) and where every output went.
"""

import functools
import time

import numpy as np

from ._common import (
    CLIError,
    Reporter,
    add_cv_options,
    add_output_option,
    output_dir,
)

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["add_demo_command", "run_demo"]


def add_demo_command(subparsers, parent, parse):
    """Register ``demo``; ``parse`` (argv -> Namespace) is the parser its steps run through."""
    parser = subparsers.add_parser(
        "demo", parents=[parent], help="end-to-end run on built-in synthetic data (start here)",
        description="End-to-end run on synthetic Fe complexes (made up: smooth spectra that "
                    "depend on geometry, not physics): write them as files, featurise, "
                    "cross-validate, learn, predict held-out structures and evaluate, with "
                    "every command printed.  About a minute on two cores.")
    add_output_option(parser, "DIR", "directory for all outputs (default ./xanesnet-demo)",
                      required=False, default="xanesnet-demo")
    parser.add_argument("--n-samples", type=int, default=500, metavar="N",
                        help="synthetic complexes, 20%% of them held out (default 500)")
    parser.add_argument("--epochs", type=int, default=200, metavar="N",
                        help="training epochs of every fit (default 200)")
    add_cv_options(parser, folds=3, repeats=2)
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="seed of the data, the split and the nets (default 0)")
    parser.set_defaults(func=functools.partial(run_demo, parse=parse))
    return parser


def run_demo(args, report, parse):
    """Generate data, run the verbs on it (argv parsed by ``parse``), summarise."""
    if args.n_samples < 20:
        raise CLIError(f"--n-samples must be at least 20, got {args.n_samples}")
    start = time.perf_counter()
    if args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    out = output_dir(args.output, "--output")
    if any(out.iterdir()) and not getattr(args, "overwrite", False):
        raise CLIError(f"--output {str(out)!r} is not empty; give --overwrite to replace a "
                       "previous demo's files there (or choose another directory)")
    report.say(f"xanesnet-sk demo: synthetic data (NOT real physics) -> {out}")
    paths = _write_data(out, args.n_samples, args.seed, report)
    results = _run_verbs(out, paths, args, report, parse)
    _summarise(results, paths, out, time.perf_counter() - start, report)
    return results


def _write_data(out, n_samples, seed, report):
    """Synthetic structures and spectra as files, split into training and held-out sets."""
    from sklearn.model_selection import train_test_split

    from ..datasets import make_synthetic_xanes
    from ..io import write_spectrum

    report.say(f"\n[1/6] {n_samples} synthetic Fe complexes and spectra "
               "(make_synthetic_xanes)")
    data = make_synthetic_xanes(n_samples=n_samples, random_state=seed)
    train, test = train_test_split(np.arange(len(data)), test_size=0.2, random_state=seed)
    paths = {}
    for part, rows in (("train", train), ("heldout", test)):
        for kind in ("xyz", "xanes"):
            paths[part, kind] = output_dir(out / "data" / part / kind, "--output")
            for old in paths[part, kind].iterdir():  # a previous run's files
                old.unlink()
        for i in rows:
            name = data.names[i]
            _write_xyz(paths[part, "xyz"] / f"{name}.xyz", data.structures[i])
            write_spectrum(paths[part, "xanes"] / f"{name}.txt", data.energies, data.spectra[i])
    report.say(f"  {len(train)} for training, {len(test)} held out")
    report.wrote("synthetic data", out / "data")
    return paths


def _write_xyz(path, atoms):
    """A plain xyz file: count, comment, symbol x y z."""
    lines = [str(len(atoms)), atoms.info.get("geometry", "")]
    lines += [f"{s} {x:.6f} {y:.6f} {z:.6f}"
              for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run_verbs(out, paths, args, report, parse):
    """Run featurise, validate, learn, predict and evaluate; return their results."""
    train = ["--xyz", str(paths["train", "xyz"]), "--xanes", str(paths["train", "xanes"])]
    held = ["--xyz", str(paths["heldout", "xyz"]), "--xanes", str(paths["heldout", "xanes"])]
    model = str(out / "model.joblib")
    fit = ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    again = ["--overwrite"] if getattr(args, "overwrite", False) else []
    steps = [
        ("featurise", "wACSF of the training structures (a fresh install compiles the "
                      "Numba kernels first: ~20 s)",
         ["featurise", "--xyz", str(paths["train", "xyz"]), "--output", str(out / "features.npz"),
          *again]),
        ("validate", f"{args.repeats} x {args.splits}-fold cross-validation",
         ["validate", *train, "--splits", str(args.splits), "--repeats", str(args.repeats),
          "--output", str(out / "validation.csv"), *fit, *again]),
        ("learn", "fit on all training data",
         ["learn", *train, "--output", model, *fit, *again]),
        ("predict", "spectra of the held-out structures",
         ["predict", "--model", model, "--xyz", str(paths["heldout", "xyz"]),
          "--output", str(out / "predictions"), *again]),
        ("evaluate", "the model on the held-out set",
         ["evaluate", "--model", model, *held, "--output", str(out / "evaluation"), *again]),
    ]
    results = {}
    for k, (verb, what, argv) in enumerate(steps, start=2):
        report.say(f"\n[{k}/6] {what}\n  $ xanesnet-sk {' '.join(argv)}")
        results[verb] = _run_verb(argv, report, parse)
    return results


def _run_verb(argv, report, parse):
    """Parse ``argv`` with ``parse`` (the real parser's) and run the verb into ``report``."""
    args = parse(argv)
    sub = Reporter(quiet=report.quiet, stream=report.stream)
    result = args.func(args, sub)
    report.outputs.extend(sub.outputs)
    return result


def _summarise(results, paths, out, seconds, report):
    """Headline numbers and the list of outputs."""
    table = results["validate"].set_index("fold")
    summary = results["evaluate"].set_index("metric")["value"]
    cv, cv_base = table.loc["overall", "median"], table.loc["overall", "baseline_median"]
    med, q1, q3 = (summary[f"delta_mu {s} (%)"] for s in ("median", "q1", "q3"))
    base = summary["baseline delta_mu median (%)"]
    report.say(f"\ndemo finished in {seconds:.0f} s.  Headline (synthetic data):")
    report.say(f"  cross-validation: median delta mu {cv:.2f} %  "
               f"(mean-spectrum baseline {cv_base:.2f} %)")
    report.say(f"  held-out set:     median delta mu {med:.2f} % [IQR {q1:.2f}-{q3:.2f}]  "
               f"(mean-spectrum baseline {base:.2f} %)")
    report.say(f"  peak positions:   mean |delta E| {summary['delta_E mean |dE| (eV)']:.2f} eV, "
               f"hit rate {summary['peak hit rate (%)']:.0f} %")
    verdict = "beats" if med < base else "does NOT beat"
    report.say(f"  the model {verdict} the trivial baseline by a factor "
               f"{base / max(med, 1e-12):.1f}")
    report.say(f"\noutputs under {out}:")
    for label, path in report.outputs:
        report.say(f"  {label:<22} {path}")
