"""``xanesnet-sk predict`` and ``xanesnet-sk evaluate``: use a saved model."""

import numpy as np

from ._cli_common import CLIError, output_dir
from ._cli_data import add_data_options, load_data, load_model

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


def predict_spectra(model, meta, data, report):
    """Predicted spectra of ``data`` (structures or features), shape (n_samples, n_points)."""
    rest, X = _features_for(model, meta, data, report)
    return np.asarray(rest.predict(X), dtype=float).reshape(len(X), -1)


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
    parser.set_defaults(func=run_predict)
    return parser


def run_predict(args, report):
    """Predict and write one spectrum (and plot) per structure."""
    from .io import write_spectrum
    from .plots import plot_spectrum

    model, meta = load_model(args.model)
    data = load_data(args, report, need_spectra=False)
    out = output_dir(args.output, "--output")
    y_pred = predict_spectra(model, meta, data, report)
    energies = _model_energies(model, meta)
    if energies.size != y_pred.shape[1]:
        raise CLIError(f"--model: the sidecar's energy grid has {energies.size} points but the "
                       f"model predicts {y_pred.shape[1]}")
    report.say(f"predict: {len(data)} spectra ({y_pred.shape[1]} points) from {data.source}")
    for name, spectrum in report.progress(list(zip(data.names, y_pred)), desc="writing",
                                          unit="spectrum"):
        write_spectrum(out / f"{name}.txt", energies, spectrum)
        if args.plot:
            plot_spectrum(energies, spectrum, title=name, path=out / f"{name}.png")
    report.wrote(f"{len(data)} spectra" + (" and plots" if args.plot else ""), out)


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
    parser.set_defaults(func=run_evaluate)
    return parser


def run_evaluate(args, report):
    """Evaluate and write tables and plots."""
    model, meta = load_model(args.model)
    data = load_data(args, report)
    out = output_dir(args.output, "--output")
    report.say(f"evaluate: {len(data)} spectra from {data.source}")
    summary = evaluate(model, meta, data, out, report)
    report.table(summary.set_index("metric"), title="evaluation:", floatfmt="{:.4g}")
    return summary


def evaluate(model, meta, data, out, report):
    """Predict ``data``, write the tables and plots to ``out``; return the summary table."""
    from ._cli_report import delta_mu, peak_pairs, spectrum_table, summary_table
    from .plots import plot_dmu_histogram, plot_peak_parity, plot_spectra_examples

    y_pred = predict_spectra(model, meta, data, report)
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
