"""``--init-from MODEL`` of ``learn`` and ``validate``: start from a fitted model (fine-tuning)."""

import numpy as np

from ._common import CLIError

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["add_init_options", "init_from_pipeline", "fitted_for_saving"]


def add_init_options(parser):
    """Register ``--init-from`` and ``--resample`` on a ``learn`` / ``validate`` parser."""
    group = parser.add_argument_group("transfer learning")
    group.add_argument("--init-from", metavar="MODEL",
                       help="fine-tune this fitted model (from 'learn') on the data instead of "
                            "training from scratch (xanesnet_sk.FineTunedRegressor with its "
                            "defaults; --epochs sets the fine-tuning epochs); the data must "
                            "have the model's descriptor parameters and energy grid")
    group.add_argument("--resample", action="store_true",
                       help="with --init-from: interpolate the spectra onto the model's energy "
                            "grid when the grids differ (default: a grid mismatch is an error)")


def init_from_pipeline(args, data, report):
    """The estimator to fit for ``--init-from``, or None without it.

    Checks the model against ``data`` (direction, descriptor parameters,
    feature count, energy grid) and, with ``--resample``, puts ``data.y``
    onto the model's grid in place.  A model whose first step is the wACSF
    featuriser stays so: ``Pipeline([("wacsf", ...), ("model",
    FineTunedRegressor(rest))])``, so that ``validate`` featurises once.
    """
    if getattr(args, "init_from", None) is None:
        if getattr(args, "resample", False):
            raise CLIError("--resample needs --init-from MODEL")
        return None
    from sklearn.pipeline import Pipeline

    from ..inverse import direction_of
    from ..transfer import FineTunedRegressor
    from ._data import load_model
    from ._training import split_featuriser

    try:
        model, meta = load_model(args.init_from)
    except CLIError as exc:
        raise CLIError(str(exc).replace("--model", "--init-from", 1)) from None
    source = f"--init-from {args.init_from}"
    if direction_of(model) == "inverse":
        raise CLIError(f"{source}: an inverse model (spectra -> structure) cannot be fine-tuned "
                       "into a forward one; pass a model from 'learn' without --inverse")
    if getattr(args, "ensemble", 1) != 1:
        raise CLIError("--ensemble cannot be combined with --init-from: the model's own "
                       "members are fine-tuned")
    wacsf, rest = split_featuriser(model)
    _check_descriptors(source, meta, wacsf, data)
    _check_grid(source, meta, data, args.resample, report)
    kwargs = {"random_state": args.seed}
    if args.epochs is not None:
        kwargs["max_epochs"] = args.epochs
    if wacsf is not None:
        if data.kind != "structures":
            raise CLIError(f"{source}: the model featurises structures (wACSF inside) but the "
                           f"data ({data.source}) are precomputed features; pass --xyz "
                           "--xanes")
        return Pipeline([("wacsf", wacsf), ("model", FineTunedRegressor(rest, **kwargs))])
    if data.kind == "structures":
        raise CLIError(f"{source}: the model takes precomputed features but the data "
                       f"({data.source}) are structures; pass a --data features file")
    n_in = getattr(rest, "n_features_in_", None)
    if n_in is not None and data.X.shape[1] != n_in:
        raise CLIError(f"{source}: the model takes {n_in} features but {data.source} has "
                       f"{data.X.shape[1]}; compute them with the model's wACSF parameters")
    return FineTunedRegressor(rest, **kwargs)


def fitted_for_saving(estimator):
    """The fine-tuned pipeline inside ``estimator`` (what ``learn`` saves)."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        tuned = estimator.steps[-1][1].estimator_
        return Pipeline(estimator.steps[:-1] + [("model", tuned)]) \
            if not isinstance(tuned, Pipeline) else Pipeline(estimator.steps[:-1] + tuned.steps)
    return estimator.estimator_


def _check_descriptors(source, meta, wacsf, data):
    """CLIError when features made with other wACSF parameters meet the model."""
    if wacsf is not None or data.kind == "structures":
        return  # the model's own featuriser makes the features
    theirs, ours = meta.get("wacsf_params"), data.wacsf_params
    if theirs is None or ours is None:
        return
    from ._featurise import portable_params

    ours = portable_params(ours)
    differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    if differ:
        key = differ[0]
        raise CLIError(f"{source}: descriptor parameters differ from {data.source}'s "
                       f"({key}: model {theirs.get(key)!r}, data {ours.get(key)!r}"
                       f"{'' if len(differ) == 1 else f', and {len(differ) - 1} more'}); "
                       "featurise the data with the model's parameters")


def _check_grid(source, meta, data, resample, report):
    """CLIError on an energy-grid mismatch, or resample ``data.y`` onto the model's grid."""
    model_e = meta.get("energies")
    n_model = meta.get("n_points") or (len(model_e) if model_e is not None else None)
    if model_e is None:
        if n_model is not None and data.y.shape[1] != n_model:
            raise CLIError(f"{source}: the model predicts {n_model} energy points but "
                           f"{data.source} has {data.y.shape[1]}")
        return
    model_e = np.asarray(model_e, dtype=float)
    data_e = None if data.energies is None else np.asarray(data.energies, dtype=float)
    same = data_e is not None and data_e.shape == model_e.shape and np.allclose(
        data_e, model_e, rtol=0, atol=1e-3)
    if same:
        return
    if data_e is None:
        if data.y.shape[1] == len(model_e):
            return
        raise CLIError(f"{source}: the model predicts {len(model_e)} energy points but "
                       f"{data.source} has {data.y.shape[1]} (and no energies to resample)")
    if not resample:
        raise CLIError(f"{source}: energy grids differ: model {_describe(model_e)}, "
                       f"{data.source} {_describe(data_e)}; pass --resample to interpolate the "
                       "spectra onto the model's grid")
    if model_e[0] < data_e.min() - 1e-6 or model_e[-1] > data_e.max() + 1e-6:
        raise CLIError(f"{source}: cannot resample: the model's grid {_describe(model_e)} "
                       f"reaches beyond {data.source}'s {_describe(data_e)}")
    order = np.argsort(data_e)
    data.y = np.stack([np.interp(model_e, data_e[order], row[order]) for row in data.y])
    data.energies = model_e
    report.say(f"resampled the spectra onto the model's grid {_describe(model_e)}")


def _describe(energies):
    return f"{len(energies)} points {energies[0]:g}..{energies[-1]:g} eV"
