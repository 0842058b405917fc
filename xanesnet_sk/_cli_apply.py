"""``xanesnet-sk predict`` and ``xanesnet-sk evaluate``: use a saved model."""

import numpy as np

from ._cli_common import CLIError, output_dir
from ._cli_data import add_data_options, load_data, load_model
from ._cli_featurise import absorber_element_arg

__all__ = ["add_predict_command", "add_evaluate_command", "predict_spectra", "evaluate"]


# ------------------------------------------------------------------ shared


def _model_energies(model, meta):
    """The model's energy grid: from its sidecar, else XANESNET's grid of its output size."""
    if meta.get("energies") is not None:
        return np.asarray(meta["energies"], dtype=float)
    from .spectra import xanesnet_grid

    n_points = meta.get("n_points") or getattr(_last_step(model), "n_outputs_", 226)
    return xanesnet_grid(int(n_points))


def _last_step(model):
    steps = getattr(model, "steps", None)
    last = steps[-1][1] if steps else model
    return getattr(last, "regressor_", last)


def _features_for(model, meta, data, report):
    """(featuriser-free part of the model, feature matrix of ``data``) with the length checked."""
    from ._cli_featurise import make_wacsf
    from ._cli_fit import featurise_once, split_featuriser

    wacsf, rest = split_featuriser(model)
    if data.kind == "structures":
        if wacsf is None:
            params = meta.get("wacsf_params")
            if params is None:
                raise CLIError("this model was trained on precomputed features whose wACSF "
                               "parameters are unknown: give those features with --data")
            wacsf = make_wacsf(params)
        X = featurise_once(wacsf, data.X, report)
    else:
        X = np.asarray(data.X, dtype=float)
    _check_features(rest, meta, X, data)
    return rest, X


def _check_features(rest, meta, X, data):
    """CLIError when ``X`` does not fit the model (length, or names when both are known)."""
    expected = getattr(rest, "n_features_in_", meta.get("n_features"))
    if expected is not None and X.shape[1] != expected:
        raise CLIError(
            f"{data.source}: {X.shape[1]} features per sample, but the model expects "
            f"{expected}; featurise with the wACSF parameters the model was trained with "
            f"(see its .json sidecar)")
    names, trained = data.feature_names, meta.get("feature_names")
    if names is not None and trained is not None and list(names) != list(trained):
        k = next(i for i, (a, b) in enumerate(zip(names, trained)) if a != b)
        raise CLIError(f"{data.source}: feature {k} is {names[k]!r} but the model was trained "
                       f"on {trained[k]!r}: the features were made with other wACSF parameters")


def predict_spectra(model, meta, data, report, absorber_element=None):
    """Predicted spectra of ``data`` (structures or features), shape (n_samples, n_points).

    With ``absorber_element``, every atom of that element is predicted and
    each structure's spectrum is the mean over its sites; the
    :class:`~xanesnet_sk.sites.SiteSpectra` is then returned as well.
    """
    if absorber_element is None:
        rest, X = _features_for(model, meta, data, report)
        return np.asarray(rest.predict(X), dtype=float).reshape(len(X), -1)
    return _predict_sites(model, meta, data, report, absorber_element)


def _predict_sites(model, meta, data, report, absorber_element):
    from ._cli_featurise import make_wacsf
    from ._cli_fit import split_featuriser
    from .sites import predict_site_spectra

    if data.kind != "structures":
        raise CLIError("--absorber-element needs structures (--xyz DIR, or an .npz of "
                       "structures), not precomputed features: sites are found in structures")
    wacsf, rest = split_featuriser(model)
    if wacsf is None:
        params = meta.get("wacsf_params")
        if params is None:
            raise CLIError("this model was trained on precomputed features whose wACSF "
                           "parameters are unknown, so it cannot featurise the sites")
        wacsf = make_wacsf(params)
    wacsf = wacsf.set_params(progress=not report.quiet)
    n_features, made = getattr(rest, "n_features_in_", None), wacsf.get_feature_names_out().size
    if n_features is not None and made != n_features:
        raise CLIError(f"the model expects {n_features} features, but its wACSF make {made}")
    try:
        result = predict_site_spectra(rest, data.X, absorber_element, wacsf=wacsf)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    report.say(f"predict: {len(result.sites)} {absorber_element} sites in "
               f"{len(result.structures)} structures (site spectra averaged per structure)")
    return result.spectra, result


# ------------------------------------------------------------------ predict


def add_predict_command(subparsers, parent):
    """Register ``predict``."""
    parser = subparsers.add_parser(
        "predict", parents=[parent], help="predict spectra of new structures",
        description="Predict the spectrum of every structure with a model saved by 'learn' "
                    "and write one spectrum file per structure (FDMNES layout: energy and mu "
                    "columns, read back by xanesnet_sk.io.read_spectrum), optionally with a "
                    "PNG plot each.")
    parser.add_argument("--model", required=True, metavar="MODEL",
                        help="model file written by 'xanesnet-sk learn'")
    add_data_options(parser, need_spectra=False)
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="directory for the spectra (<name>.txt) and plots (<name>.png)")
    parser.add_argument("--plot", action="store_true", help="also write one PNG per spectrum")
    parser.add_argument("--absorber-element", type=absorber_element_arg, metavar="ELEMENT",
                        help="predict every atom of this element (symbol such as Fe, or atomic "
                             "number) in every structure, periodic ones included, and write "
                             "each structure's spectrum as the mean over its sites (the "
                             "measured K-edge spectrum); the per-site spectra go to "
                             "DIR/sites/<name>_<atom>.txt. The model should have learned "
                             "site spectra of that element")
    parser.set_defaults(func=run_predict)
    return parser


def run_predict(args, report):
    """Predict and write one spectrum (and plot) per structure."""
    from .io import write_spectrum
    from .plots import plot_spectrum

    model, meta = load_model(args.model)
    data = load_data(args, report, need_spectra=False)
    out = output_dir(args.output, "--output")
    sites = None
    if args.absorber_element is not None:
        y_pred, sites = predict_spectra(model, meta, data, report, args.absorber_element)
    else:
        y_pred = predict_spectra(model, meta, data, report)
    energies = _model_energies(model, meta)
    if energies.size != y_pred.shape[1]:
        raise CLIError(f"--model: the sidecar's energy grid has {energies.size} points but the "
                       f"model predicts {y_pred.shape[1]}")
    names = list(data.names) if sites is None else [data.names[i] for i in sites.structures]
    report.say(f"predict: {len(names)} spectra ({y_pred.shape[1]} points) from {data.source}")
    for name, spectrum in report.progress(list(zip(names, y_pred)), desc="writing",
                                          unit="spectrum"):
        write_spectrum(out / f"{name}.txt", energies, spectrum)
        if args.plot:
            plot_spectrum(energies, spectrum, title=name, path=out / f"{name}.png")
    report.wrote(f"{len(names)} spectra" + (" and plots" if args.plot else ""), out)
    if sites is not None:
        site_dir = out / "sites"
        site_dir.mkdir(exist_ok=True)
        for (s, atom), spectrum in zip(sites.sites, sites.site_spectra):
            write_spectrum(site_dir / f"{data.names[s]}_{atom}.txt", energies, spectrum)
        report.wrote(f"{len(sites.sites)} site spectra", site_dir)


# ------------------------------------------------------------------ evaluate


def add_evaluate_command(subparsers, parent):
    """Register ``evaluate``."""
    parser = subparsers.add_parser(
        "evaluate", parents=[parent], help="delta mu / delta E of a saved model on data",
        description="Evaluate a saved model on structures with known spectra: per-spectrum "
                    "delta mu (%%) against a mean-spectrum baseline, peak-position errors "
                    "delta E with the hit rate, tables (CSV and printed), a delta mu histogram "
                    "and a peak parity plot as in the XANESNET paper's Figs. 11 and 12.")
    parser.add_argument("--model", required=True, metavar="MODEL",
                        help="model file written by 'xanesnet-sk learn'")
    add_data_options(parser)
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="directory for the tables and plots")
    parser.add_argument("--absorber-element", type=absorber_element_arg, metavar="ELEMENT",
                        help="compare each structure's spectrum with the mean of the predicted "
                             "spectra of every atom of this element (symbol or atomic number) "
                             "in it, as a measured K-edge spectrum is")
    parser.set_defaults(func=run_evaluate)
    return parser


def run_evaluate(args, report):
    """Evaluate and write tables and plots."""
    model, meta = load_model(args.model)
    data = load_data(args, report)
    out = output_dir(args.output, "--output")
    report.say(f"evaluate: {len(data)} spectra from {data.source}")
    summary = evaluate(model, meta, data, out, report,
                       absorber_element=args.absorber_element)
    report.table(summary.set_index("metric"), title="evaluation:", floatfmt="{:.4g}")
    return summary


def evaluate(model, meta, data, out, report, absorber_element=None):
    """Predict ``data``, write the tables and plots to ``out``; return the summary table.

    With ``absorber_element``, a structure's prediction is the mean over its sites.
    """
    from ._cli_report import delta_mu, peak_pairs, spectrum_table, summary_table
    from .plots import plot_dmu_histogram, plot_peak_parity, plot_spectra_examples

    if absorber_element is None:
        y_pred = predict_spectra(model, meta, data, report)
    else:
        y_pred = predict_spectra(model, meta, data, report, absorber_element)[0]
    if data.y.shape != y_pred.shape:
        raise CLIError(f"{data.source}: spectra have {data.y.shape[1]} points but the model "
                       f"predicts {y_pred.shape[1]}")
    energies = _model_energies(model, meta)
    dmu = delta_mu(data.y, y_pred)
    mean_spectrum = meta.get("mean_spectrum")
    baseline = np.broadcast_to(np.asarray(mean_spectrum if mean_spectrum is not None
                                          else data.y.mean(axis=0)), data.y.shape)
    dmu_base = delta_mu(data.y, baseline)
    pairs, per_peaks, stats = peak_pairs(data.y, y_pred, energies)
    files = {
        "per-spectrum table": out / "spectra.csv", "summary": out / "summary.csv",
        "matched peaks": out / "peaks.csv", "delta mu histogram": out / "dmu_histogram.png",
        "peak parity plot": out / "peak_parity.png", "example spectra": out / "examples.png",
    }
    spectrum_table(data.names, dmu, dmu_base, per_peaks).to_csv(
        files["per-spectrum table"], index=False, float_format="%.5g")
    summary = summary_table(dmu, dmu_base, stats)
    summary.to_csv(files["summary"], index=False, float_format="%.5g")
    pairs.assign(name=[data.names[i] for i in pairs["spectrum"]]).to_csv(
        files["matched peaks"], index=False, float_format="%.5g")
    plot_dmu_histogram(dmu, path=files["delta mu histogram"])
    plot_peak_parity(pairs["e_target"], pairs["e_predict"], path=files["peak parity plot"])
    plot_spectra_examples(energies, data.y, y_pred, dmu, names=data.names,
                          path=files["example spectra"])
    for label, path in files.items():
        report.wrote(label, path)
    return summary
