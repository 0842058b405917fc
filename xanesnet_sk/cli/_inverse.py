"""``learn --inverse`` and ``predict --inverse``: spectra in, structure descriptors out."""

import numpy as np

from ._common import CLIError, StagedOutputs, output_dir, refuse_existing
from ._model import check_direction

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["run_learn_inverse", "run_predict_inverse"]



def _targets(data, config, report):
    """(descriptor matrix, names): wACSF features of the structures, or the data's features."""
    if data.kind == "structures":
        from wacsf import WACSFTransformer

        from ._training import featurise_once

        wacsf = WACSFTransformer(**config["wacsf"])
        features = featurise_once(wacsf, data.X, report)
        return features, [str(n) for n in wacsf.get_feature_names_out()]
    X = np.asarray(data.X, dtype=float)
    names = getattr(data, "feature_names", None)
    names = [str(n) for n in names] if names is not None and len(names) == X.shape[1] else [
        f"feature_{i}" for i in range(X.shape[1])]
    return X, names


def run_learn_inverse(args, report, out, config, data, callbacks):
    """Fit the inverse pipeline (spectra -> wACSF features) and save it."""
    from ..inverse import make_inverse_pipeline
    from ._data import save_model
    from ._training import fit_pipeline, net_params

    targets, names = _targets(data, config, report)
    try:
        pipeline = make_inverse_pipeline(random_state=args.seed, n_ensemble=args.ensemble,
                                         **net_params(config, args.epochs))
    except (TypeError, ValueError) as exc:
        raise CLIError(f"configuration: {exc}") from exc
    report.say(f"learn --inverse: {len(data)} spectra ({data.y.shape[1]} points) to "
               f"{targets.shape[1]} descriptors, from {data.source}")
    fit_pipeline(pipeline, data.y, targets, report, callbacks=callbacks)
    pred = pipeline.predict(data.y[:8])
    if not np.all(np.isfinite(pred)):
        raise CLIError("training diverged: the inverse model predicts NaN or inf; no model saved")
    meta = {
        "direction": "inverse", "input": "spectra", "energies": data.energies,
        "n_points": int(data.y.shape[1]), "target_names": names, "n_train": len(data),
        "training_data": data.source, "seed": args.seed, "config": config,
    }
    save_model(out, pipeline, meta, report, overwrite=args.overwrite)


#: ``predict`` options that a forward prediction uses and ``--inverse`` does not.
_FORWARD_ONLY = {"xyz": "--xyz", "data": "--data", "absorber_element": "--absorber-element",
                 "on_missing_absorber": "--on-missing-absorber", "scheduler": "--scheduler",
                 "plot": "--plot"}


def run_predict_inverse(args, report, model, meta):
    """Predict descriptors for the spectra of ``--xanes DIR``; write DIR/descriptors.csv."""
    import pandas as pd

    check_direction(model, inverse=True)
    given = [flag for key, flag in _FORWARD_ONLY.items() if getattr(args, key, None)]
    if given:
        raise CLIError(f"{given[0]} is not used by 'predict --inverse', which reads spectra "
                       "(--xanes DIR or --measured FILE) and writes descriptors; leave it out")
    if getattr(args, "measured", None) is not None:
        from ._screen import measured_for_inverse

        files, spectra = measured_for_inverse(args, report, model, meta)
    else:
        files, spectra = _read_xanes(args, report, meta)
    try:
        pred = model.predict(np.vstack(spectra))
    except ValueError as exc:
        raise CLIError(f"--xanes: {exc}; nothing written") from None
    out = output_dir(args.output, "--output")
    final = out / "descriptors.csv"
    refuse_existing([final], args.overwrite)
    names = meta.get("target_names") or [f"target_{i}" for i in range(pred.shape[1])]
    table = pd.DataFrame(np.asarray(pred).reshape(len(files), -1), columns=names)
    table.insert(0, "name", [p.stem for p in files])
    with StagedOutputs(args.overwrite) as staged:
        table.to_csv(staged.path(final), index=False, float_format="%.6g")
    report.wrote(f"{len(files)} rows of {len(names)} predicted descriptors", final)


def _read_xanes(args, report, meta):
    """(files, spectra) of ``--xanes DIR``, each on the model's grid."""
    from ..io import read_spectrum
    from ._common import existing_dir
    from ._energy import grid_mismatch

    if args.xanes is None:
        raise CLIError("predict --inverse needs --xanes DIR (the spectra) or --measured FILE")
    xanes = existing_dir(args.xanes, "--xanes")
    files = sorted(p for p in xanes.iterdir() if p.suffix.lower() in (".txt", ".dat"))
    if not files:
        raise CLIError(f"--xanes {xanes}: no .txt or .dat spectrum files")
    energies = np.asarray(meta.get("energies") or [], dtype=float)
    spectra = []
    for path in report.progress(files, desc="reading", unit="spectrum"):
        try:
            spectrum = read_spectrum(path)
        except ValueError as exc:
            raise CLIError(f"--xanes: {exc}; nothing written") from None
        problem = grid_mismatch(spectrum.energies, energies) if energies.size else None
        if problem:
            raise CLIError(f"{path.name}: {problem}; resample the spectrum onto the model's "
                           "grid (its .json sidecar has it); nothing written")
        spectra.append(spectrum.mu)
    return files, spectra
