"""``xanesnet-sk predict`` and ``xanesnet-sk evaluate``: use a saved model."""

import numpy as np

from ._common import (
    CLIError,
    StagedOutputs,
    add_output_option,
    check_names,
    output_dir,
    refuse_existing,
)
from ._data import add_data_options, load_data, load_model
from ._energy import grid_mismatch
from ._featurise import (
    add_absorber_element_option,
    add_on_missing_absorber_option,
    on_missing_absorber,
)
from ._model import TRUST_NOTE, check_direction, last_step, model_energies, model_featuriser

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

#: What the help of every verb that loads a model says about pickles.
__all__ = ["add_predict_command", "add_evaluate_command", "predict_data", "predict_spectra",
           "evaluate"]


# ------------------------------------------------------------------ shared


def _check_features(rest, meta, X, data):
    """CLIError when ``X`` does not fit the model (length, or names when both are known)."""
    expected = getattr(rest, "n_features_in_", None)
    if expected is not None and _element_input(rest) is not None:
        expected -= 1  # the absorber's atomic number, appended by predict
    if expected is None:
        expected = meta.get("n_features")
    if expected is not None and X.shape[1] != expected:
        raise CLIError(
            f"{data.source}: {X.shape[1]} features per sample, but the model expects "
            f"{expected}; featurise with the wACSF parameters the model was trained with "
            f"(see its .json sidecar)")
    names, trained = data.feature_names, meta.get("feature_names")
    if names is not None and trained is not None and list(names) != list(trained):
        k = next((i for i, (a, b) in enumerate(zip(names, trained)) if a != b),
                 min(len(names), len(trained)))
        if k >= min(len(names), len(trained)):
            raise CLIError(f"{data.source}: {len(names)} feature names but the model was "
                           f"trained on {len(trained)}")
        raise CLIError(f"{data.source}: feature {k} is {names[k]!r} but the model was trained "
                       f"on {trained[k]!r}: the features were made with other wACSF parameters")
    _check_wacsf_params(meta, data)


#: wACSF parameters that change how features are computed, not what they are.
_NOT_FEATURE_PARAMS = {"chunk_size", "backend", "n_jobs", "progress", "on_missing_absorber"}


def _check_wacsf_params(meta, data):
    """CLIError when the wACSF parameters recorded with features differ from the model's.

    Feature names carry eta, mu, lambda and zeta but not, e.g., the weights,
    the absorber, the G4 pair convention or the cutoff; the parameters the
    features file records (``featurise`` writes them) are compared with the
    model's, each side completed with WACSFTransformer's defaults.
    """
    import json

    from wacsf import WACSFTransformer

    from ._featurise import portable_params

    trained, given = meta.get("wacsf_params"), data.wacsf_params
    if not isinstance(trained, dict) or not isinstance(given, dict):
        return
    defaults = portable_params(WACSFTransformer().get_params())

    def complete(params):
        return json.loads(json.dumps({**defaults, **params}, default=str))

    trained, given = complete(trained), complete(given)
    for key in sorted((set(trained) | set(given)) - _NOT_FEATURE_PARAMS):
        if trained.get(key) != given.get(key):
            raise CLIError(f"{data.source}: the features were made with the wACSF parameter "
                           f"{key}={given.get(key)!r}, but the model was trained on features "
                           f"with {key}={trained.get(key)!r}; featurise again with the "
                           "model's parameters (see its .json sidecar)")


def _check_energy_grid(model, meta, data):
    """CLIError when the data's energy grid is not the model's (length, or values)."""
    if data.energies is None:
        return
    ours = np.asarray(data.energies, dtype=float).reshape(-1)
    theirs = model_energies(model, meta)
    if ours.size != theirs.size:
        raise CLIError(f"{data.source}: the spectra have {ours.size} energy points but the model "
                       f"predicts {theirs.size}")
    problem = grid_mismatch(ours, theirs)
    if problem:
        raise CLIError(f"{data.source}: {problem}: resample the spectra onto the model's grid "
                       "(its .json sidecar has it)")


def is_ensemble(model):
    """Whether ``model`` ends in a deep ensemble of at least 2 nets (it has error bars)."""
    import sys

    # a loaded ensemble imported xanesnet_sk.ensemble; without it (and torch) there is none
    ensemble = sys.modules.get("xanesnet_sk.ensemble")
    last = last_step(model)
    return (ensemble is not None and isinstance(last, ensemble.DeepEnsembleRegressor)
            and last.n_ensemble > 1)


def reports_std(model, absorber_element=None):
    """Whether predictions come with error bars: an ensemble's (of site averages too)."""
    return is_ensemble(model)


def predict_data(model, meta, data, report, absorber_element=None, with_std=False,
                 on_missing_absorber="raise"):
    """The :class:`~xanesnet_sk.cli._predict.Predicted` of ``data`` (structures or features).

    With ``absorber_element`` (structures only), every atom of that element
    is predicted and each structure's spectrum is the mean over its sites;
    ``with_std`` adds an ensemble's standard deviation.
    """
    from ._predict import Predicted, predict_structures
    from ._training import split_featuriser

    if data.kind == "structures":
        wacsf, rest = _featuriser_for(model, meta)
        try:
            return predict_structures(rest, wacsf.set_params(progress=not report.quiet),
                                      data.X, absorber_element, with_std, on_missing_absorber)
        except ValueError as exc:
            from ._featurise import cli_hint

            raise CLIError(f"{data.source}: {cli_hint(str(exc))}") from exc
    rest = split_featuriser(model)[1]
    elements = _element_input(rest)
    if absorber_element is not None and elements is None:
        raise CLIError("--absorber-element needs structures (--xyz DIR, or an .npz of "
                       "structures), not precomputed features: sites are found in structures")
    X = np.asarray(data.X, dtype=float)
    _check_features(rest, meta, X, data)
    if elements is not None:  # a universal model: the features' absorber is an input
        X = _features_with_element(X, elements, absorber_element, meta)
    rows = np.arange(len(X))
    if with_std:
        mean, std = rest.predict(X, return_std=True)
        return Predicted(_as_rows(mean, len(X)), _as_rows(std, len(X)), rows)
    return Predicted(_as_rows(rest.predict(X), len(X)), None, rows)


def _element_input(rest):
    """The atomic numbers of a universal model (several absorbing elements), else None."""
    import sys

    transfer = sys.modules.get("xanesnet_sk.transfer")  # loaded with any universal model
    return None if transfer is None else transfer.element_input(rest)


def _features_with_element(X, elements, absorber_element, meta):
    """Features with the ``--absorber-element``'s atomic number as a last column."""
    from ..transfer import add_element_column
    from ._universal import atomic_number

    known = ", ".join(meta.get("absorber_elements") or [str(z) for z in elements])
    if absorber_element is None:
        raise CLIError(f"the model predicts for several absorbing elements ({known}): give "
                       "the absorber of these precomputed features with --absorber-element "
                       "SYMBOL")
    z = atomic_number(absorber_element, "--absorber-element")
    if z not in elements:
        raise CLIError(f"--absorber-element {absorber_element}: the model was trained on {known} "
                       "absorbers only")
    return add_element_column(X, z)


def _as_rows(values, n):
    return np.asarray(values, dtype=float).reshape(n, -1)


def predict_spectra(model, meta, data, report, absorber_element=None):
    """Predicted spectra of ``data`` (structures or features), shape (n_samples, n_points);
    with ``absorber_element``, each structure's mean over its sites."""
    return predict_data(model, meta, data, report, absorber_element).spectra


def _featuriser_for(model, meta):
    """(WACSFTransformer, the rest) of a model that is to featurise structures, with the
    rest's feature count checked against the featuriser's."""
    wacsf, rest = model_featuriser(model, meta, "give those features with --data")
    n_features, made = getattr(rest, "n_features_in_", None), wacsf.get_feature_names_out().size
    if n_features is not None and _element_input(rest) is not None:
        n_features -= 1  # the absorber's atomic number, appended to the wACSF
    if n_features is None:
        n_features = meta.get("n_features")
    if n_features is not None and made != n_features:
        raise CLIError(f"the model expects {n_features} features, but its wACSF make {made}; "
                       "its .json sidecar's wacsf_params do not match it")
    return wacsf, rest



def _add_model_data_output(parser, need_spectra, output_help):
    """``--model``, the data options and ``--output DIR`` (with ``--overwrite``)."""
    parser.add_argument("--model", required=True, metavar="MODEL",
                        help="model file written by 'xanesnet-sk learn' (a joblib pickle: "
                             "load only models you made or trust)")
    add_data_options(parser, need_spectra=need_spectra)
    add_output_option(parser, "DIR", output_help)


# ------------------------------------------------------------------ predict


def add_predict_command(subparsers, parent):
    """Register ``predict``."""
    parser = subparsers.add_parser(
        "predict", parents=[parent], help="predict spectra of new structures",
        description="Predict the spectrum of every structure with a model saved by 'learn' "
                    "and write one spectrum file per structure (FDMNES layout: energy and mu "
                    "columns, read back by xanesnet_sk.io.read_spectrum), optionally with a "
                    "PNG plot each; a deep-ensemble model also writes "
                    "<name>_std.txt, its calibrated standard deviation.  A structure's name "
                    "is its file's stem (not a name stored inside the file).  Names with a "
                    "path separator, and duplicates, are refused.  " + TRUST_NOTE)
    _add_model_data_output(parser, False, "directory for the spectra (<name>.txt) and plots "
                                          "(<name>.png); existing files are kept unless "
                                          "--overwrite")
    parser.add_argument("--plot", action="store_true", help="also write one PNG per spectrum")
    parser.add_argument("--inverse", action="store_true",
                        help="with a model from 'learn --inverse': read the spectra of --xanes "
                             "DIR and write the predicted descriptors, one row per spectrum, "
                             "to OUTPUT/descriptors.csv")
    parser.add_argument("--xanes", metavar="DIR",
                        help="with --inverse: directory of spectrum files (.txt/.dat, on the "
                             "model's energy grid)")
    add_absorber_element_option(
        parser, "predict every atom of this element (symbol such as Fe, or atomic number) in "
                "every structure, periodic ones included, and write each structure's spectrum "
                "as the mean over its sites (the measured K-edge spectrum); the per-site "
                "spectra go to DIR/sites/<name>_<atom>.txt (an ensemble's std: "
                "<name>_std.txt, the members' spread of their site means). The model should "
                "have learned site spectra of that element")
    add_on_missing_absorber_option(parser)
    from ._dask import add_scheduler_options
    from ._screen import add_measured_options

    add_scheduler_options(parser)
    add_measured_options(parser)  # predict --inverse --measured FILE
    parser.set_defaults(func=run_predict)
    return parser


def run_predict(args, report):
    """Predict and write one spectrum (and plot) per structure."""
    from ..io import write_spectrum
    from ..plots import plot_spectrum

    model, meta = load_model(args.model)
    _note_interrupted(meta, report)
    if args.inverse:
        from ._inverse import run_predict_inverse

        return run_predict_inverse(args, report, model, meta)

    if getattr(args, "measured", None) is not None:
        raise CLIError("--measured is for 'predict --inverse'; to rank structures against a "
                       "measured spectrum use 'xanesnet-sk screen'")
    check_direction(model, inverse=False)
    if args.xanes is not None:
        raise CLIError("--xanes is for 'predict --inverse' (spectra in); a forward model "
                       "predicts from --xyz or --data")
    missing = on_missing_absorber(args)
    data = load_data(args, report, need_spectra=False)
    names = check_names(data.names, data.source)
    out = output_dir(args.output, "--output")
    with_std = reports_std(model, args.absorber_element)
    suffixes = (".txt", ".png") if args.plot else (".txt",)
    if with_std:
        suffixes += ("_std.txt",)
    refuse_existing([out / f"{name}{suffix}" for name in names for suffix in suffixes],
                    args.overwrite)
    if getattr(args, "scheduler", None):
        result = _predict_on_cluster(args, model, meta, data, report, with_std, missing)
    else:
        result = predict_data(model, meta, data, report, args.absorber_element, with_std,
                              missing)
    names = [names[i] for i in result.rows]
    site_files = []
    if result.sites is not None:
        site_files = [out / "sites" / f"{data.names[s]}_{atom}.txt" for s, atom in result.sites]
        site_files += [p.with_name(f"{p.stem}_std.txt") for p in site_files] if with_std else []
        refuse_existing(site_files, args.overwrite)
        skipped = len(data) - len(result.rows)
        report.say(f"predict: {len(result.sites)} {args.absorber_element} sites in "
                   f"{len(result.rows)} structures (site spectra averaged per structure)"
                   + (f"; {skipped} structures without {args.absorber_element} skipped "
                      "(--on-missing-absorber skip)" if skipped else ""))
    y_pred = result.spectra
    energies = model_energies(model, meta)
    if energies.size != y_pred.shape[1]:
        raise CLIError(f"--model: the sidecar's energy grid has {energies.size} points but the "
                       f"model predicts {y_pred.shape[1]}")
    bad = ~np.isfinite(y_pred).all(axis=1)
    if with_std:
        bad |= ~np.isfinite(result.std).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise CLIError(f"the model predicts NaN or inf for {int(bad.sum())} of {len(bad)} "
                       f"structures (first: {names[i]!r}); nothing written")
    report.say(f"predict: {len(names)} spectra ({y_pred.shape[1]} points) from {data.source}")
    y_std = result.std if with_std else [None] * len(y_pred)
    with StagedOutputs(args.overwrite) as staged:
        for name, spectrum, std in report.progress(list(zip(names, y_pred, y_std)),
                                                   desc="writing", unit="spectrum"):
            write_spectrum(staged.path(out / f"{name}.txt"), energies, spectrum)
            if std is not None:
                write_spectrum(staged.path(out / f"{name}_std.txt"), energies, std)
            if args.plot:
                plot_spectrum(energies, spectrum, title=name, std=std,
                              path=staged.path(out / f"{name}.png"))
        if result.sites is not None:
            output_dir(out / "sites", "--output")
            site_values = list(result.site_spectra)
            if with_std:
                site_values += list(result.site_std)
            for path, spectrum in zip(site_files, site_values):
                write_spectrum(staged.path(path), energies, spectrum)
    report.wrote(f"{len(names)} spectra" + (" with their std (NAME_std.txt)" if with_std else "")
                 + (" and plots" if args.plot else ""), out)
    if result.sites is not None:
        report.wrote(f"{len(result.sites)} site spectra", out / "sites")


def _predict_on_cluster(args, model, meta, data, report, with_std, missing):
    """``predict --scheduler``: the same computation as a local run, partition by partition
    on the cluster; the files are written here."""
    from sklearn.base import clone

    from ._dask import connect, predict_on_cluster

    if data.kind != "structures":
        raise CLIError("--scheduler predicts from structures (--xyz), not from features "
                       "(--data with 'x'); predict features without --scheduler")
    wacsf, rest = _featuriser_for(model, meta)
    wacsf = clone(wacsf).set_params(progress=False)  # no progress bars on the workers
    client = connect(args.scheduler, report)
    try:
        return predict_on_cluster(client, rest, wacsf, data.X, args.partition_size, report,
                                  args.absorber_element, with_std, missing)
    finally:
        client.close()


def _note_interrupted(meta, report):
    """Say so when the model's training was cut short (saved with --save-on-interrupt)."""
    if meta.get("interrupted"):
        report.say(f"note: this model's training was interrupted after "
                   f"{meta.get('epochs_completed', '?')} of {meta.get('epochs_requested', '?')} "
                   "epochs (saved with --save-on-interrupt)")


# ------------------------------------------------------------------ evaluate


def add_evaluate_command(subparsers, parent):
    """Register ``evaluate``."""
    parser = subparsers.add_parser(
        "evaluate", parents=[parent], help="delta mu / delta E of a saved model on data",
        description="Evaluate a saved model on structures with known spectra: per-spectrum "
                    "delta mu (%) against a mean-spectrum baseline, peak-position errors "
                    "delta E with the hit rate, tables (CSV and printed), a delta mu histogram "
                    "and a peak parity plot as in the XANESNET paper's Figs. 11 and 12.  The "
                    "data must be on the model's energy grid.  " + TRUST_NOTE)
    _add_model_data_output(parser, True, "directory for the tables and plots; existing files "
                                         "are kept unless --overwrite")
    add_absorber_element_option(
        parser, "compare each structure's spectrum with the mean of the predicted spectra of "
                "every atom of this element (symbol or atomic number) in it, as a measured "
                "K-edge spectrum is")
    parser.set_defaults(func=run_evaluate)
    return parser


def run_evaluate(args, report):
    """Evaluate and write tables and plots."""

    model, meta = load_model(args.model)
    check_direction(model, inverse=False)
    _note_interrupted(meta, report)
    data = load_data(args, report)
    out = output_dir(args.output, "--output")
    refuse_existing(_evaluate_files(out, reports_std(model, args.absorber_element)).values(),
                    args.overwrite)
    report.say(f"evaluate: {len(data)} spectra from {data.source}")
    summary = evaluate(model, meta, data, out, report, overwrite=args.overwrite,
                       absorber_element=args.absorber_element)
    report.table(summary.set_index("metric"), title="evaluation:", floatfmt="{:.4g}")
    return summary


def _evaluate_files(out, with_std=False):
    files = {
        "per-spectrum table": out / "spectra.csv", "summary": out / "summary.csv",
        "matched peaks": out / "peaks.csv", "delta mu histogram": out / "dmu_histogram.png",
        "peak parity plot": out / "peak_parity.png", "example spectra": out / "examples.png",
    }
    if with_std:
        files.update({"predicted std": out / "std.csv",
                      "calibration plot": out / "calibration.png",
                      "std against error": out / "std_vs_error.png"})
    return files


def _uncertainty_outputs(y, y_pred, y_std, dmu, table, summary, temp):
    """An ensemble's error bars: the std table, coverage rows and the two plots."""
    import pandas as pd
    from scipy.stats import spearmanr

    from ..ensemble import calibration_curve, coverage
    from ..plots import plot_calibration, plot_std_vs_error

    mean_std = y_std.mean(axis=1)
    table["mean_std"] = mean_std
    pd.DataFrame(y_std, index=pd.Index(table["name"], name="name")).to_csv(
        temp["predicted std"], float_format="%.5g")
    expected, observed = calibration_curve(y, y_pred, y_std)
    plot_calibration(expected, observed, path=temp["calibration plot"])
    plot_std_vs_error(mean_std, dmu, path=temp["std against error"])
    finite = np.isfinite(dmu)
    rows = pd.DataFrame([
        ("points within 2 std (%)", 100.0 * coverage(y, y_pred, y_std)),
        ("Spearman(mean std, delta_mu)",
         float(spearmanr(mean_std[finite], dmu[finite]).statistic)),
    ], columns=["metric", "value"])
    return pd.concat([summary, rows], ignore_index=True)


def evaluate(model, meta, data, out, report, overwrite=False, absorber_element=None):
    """Predict ``data``, write the tables and plots to ``out``; return the summary table.

    Every file is written under a temporary name and renamed into place when
    all are done; an existing file is replaced only with ``overwrite``.  With
    ``absorber_element``, a structure's prediction is the mean over its sites.
    """
    from ..plots import plot_dmu_histogram, plot_peak_parity, plot_spectra_examples
    from ._report import delta_mu, peak_pairs, spectrum_table, summary_table

    _check_energy_grid(model, meta, data)
    result = predict_data(model, meta, data, report, absorber_element,
                          with_std=reports_std(model, absorber_element))
    y_pred, y_std = result.spectra, result.std
    if data.y.shape != y_pred.shape:
        raise CLIError(f"{data.source}: spectra have {data.y.shape[1]} points but the model "
                       f"predicts {y_pred.shape[1]}")
    energies = model_energies(model, meta)
    dmu = delta_mu(data.y, y_pred)
    mean_spectrum = meta.get("mean_spectrum")
    baseline = np.broadcast_to(np.asarray(mean_spectrum if mean_spectrum is not None
                                          else data.y.mean(axis=0)), data.y.shape)
    dmu_base = delta_mu(data.y, baseline)
    n_bad = int(np.sum(~np.isfinite(dmu)))
    if n_bad:
        report.say(f"note: {n_bad} of {dmu.size} predicted spectra contain NaN or inf: their "
                   "delta mu is NaN, counted in the summary and left out of its quartiles")
    pairs, per_peaks, stats = peak_pairs(data.y, y_pred, energies)
    files = _evaluate_files(out, with_std=y_std is not None)
    with StagedOutputs(overwrite) as staged:
        temp = {label: staged.path(path) for label, path in files.items()}
        table = spectrum_table(data.names, dmu, dmu_base, per_peaks)
        summary = summary_table(dmu, dmu_base, stats)
        if y_std is not None:
            summary = _uncertainty_outputs(data.y, y_pred, y_std, dmu, table, summary, temp)
        table.to_csv(temp["per-spectrum table"], index=False, float_format="%.5g")
        summary.to_csv(temp["summary"], index=False, float_format="%.5g")
        pairs.assign(name=[data.names[i] for i in pairs["spectrum"]]).to_csv(
            temp["matched peaks"], index=False, float_format="%.5g")
        plot_dmu_histogram(dmu, path=temp["delta mu histogram"])
        plot_peak_parity(pairs["e_target"], pairs["e_predict"], path=temp["peak parity plot"])
        plot_spectra_examples(energies, data.y, y_pred, dmu, names=data.names,
                              path=temp["example spectra"], std=y_std)
    for label, path in files.items():
        report.wrote(label, path)
    return summary
