"""``xanesnet-sk learn`` and ``xanesnet-sk validate``: fit and cross-validate the pipeline."""

import os
from pathlib import Path

import numpy as np

from ._common import (
    CLIError,
    StagedOutputs,
    add_cv_options,
    add_output_option,
    output_file,
)
from ._data import add_data_options, load_data, model_output, save_model
from ._training import (  # noqa: F401  (featurise_once re-exported)
    featurise_once,
    fit_pipeline,
    fitted_nets,
    net_params,
    prefix_of,
    split_featuriser,
)
from ._transfer import add_init_options, fitted_for_saving, init_from_pipeline

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["add_learn_command", "add_validate_command", "build_pipeline", "fit_pipeline",
           "cross_validate_dmu", "featurise_once", "check_fit_options", "check_trained"]


# ------------------------------------------------------------------ shared pieces


def add_fit_options(parser, ensemble=True):
    """``--config``, ``--epochs``, ``--seed`` (and ``--ensemble``) for the verbs that train."""
    group = parser.add_argument_group("training")
    group.add_argument("--config", metavar="YAML",
                       help="YAML file with 'wacsf', 'preprocessing' and 'model' sections "
                            "(keys documented in xanesnet_sk._config; unknown keys are errors)")
    group.add_argument("--epochs", type=int, metavar="N",
                       help="training epochs (overrides the config's model.max_epochs; "
                            "default: 300, or enough for 10,000 optimizer steps on small data)")
    group.add_argument("--seed", type=int, metavar="N", default=0,
                       help="random seed for the net (and the folds of validate); default 0")
    if not ensemble:
        return group
    group.add_argument("--ensemble", type=int, metavar="N", default=1,
                       help="train N nets with seeds drawn from --seed (a deep ensemble): "
                            "the model predicts their mean, and predict/evaluate write a "
                            "calibrated standard deviation beside each spectrum; default 1")
    return group


def read_config(args):
    from .._config import load_config, validate_config

    return load_config(args.config) if args.config else validate_config({})


def build_pipeline(config, featurise, seed=None, epochs=None, wacsf_params=None, n_ensemble=1):
    """The XANESNET pipeline configured from a validated config.

    Parameters
    ----------
    config : dict
        Sections ``wacsf``, ``preprocessing``, ``model`` (see ``_config``).
    featurise : bool
        Whether the pipeline starts with a ``WACSFTransformer`` (structures
        in) or takes features.
    seed : int, default=None
        ``random_state`` of the pipeline.
    epochs : int, default=None
        Overrides ``model.max_epochs``.
    wacsf_params : dict, default=None
        Overrides the config's ``wacsf`` section.
    n_ensemble : int, default=1
        Number of nets (``--ensemble``).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from wacsf import WACSFTransformer

    from ..model import XANESNetRegressor
    from ..pipeline import make_xanesnet_pipeline

    try:
        if n_ensemble < 1:
            raise ValueError(f"--ensemble must be at least 1, got {n_ensemble}")
        pipeline = make_xanesnet_pipeline(featurise=featurise, random_state=seed,
                                          n_ensemble=n_ensemble, **config["preprocessing"])
        params = {}
        model = net_params(config, epochs)
        net = prefix_of(pipeline, XANESNetRegressor)
        params.update({net + key: value for key, value in model.items()})
        if featurise:
            step = prefix_of(pipeline, WACSFTransformer)
            wacsf = {**config["wacsf"], **(wacsf_params or {})}
            params.update({step + key: value for key, value in wacsf.items()})
        pipeline.set_params(**params)
        if featurise:
            pipeline.get_params()[step[:-2]].fit()  # validates the wACSF parameters
        pipeline.get_params()[net[:-2]]._check_params()  # and the net's, device included
    except (TypeError, ValueError) as exc:
        raise CLIError(f"configuration: {exc}") from exc
    return pipeline


# ------------------------------------------------------------------ learn


def add_learn_command(subparsers, parent):
    """Register ``learn``."""
    parser = subparsers.add_parser(
        "learn", parents=[parent], help="fit the XANESNET pipeline and save it",
        description="Fit the XANESNET pipeline (wACSF -> feature filters -> scaling -> MLP) "
                    "on structures and spectra, or on precomputed features, and save it with "
                    "joblib, plus a JSON sidecar (MODEL.json: model.joblib.json) with feature "
                    "names, the energy grid, versions and the training-set size.  An "
                    "interrupted run (Ctrl-C) exits with status 130 and saves nothing unless "
                    "--save-on-interrupt.  "
                    "Model files are joblib pickles, and loading one runs code from it: load "
                    "only models you made or trust; a .skops --output is the safe format, "
                    "which loads without running code.  Several data sets (repeat --data, or "
                    "--xyz with --xanes) train one model for all their absorbing elements, "
                    "the element an input of the net (see --element).")
    add_data_options(parser, several=True)
    add_output_option(parser, "MODEL",
                      "model file to write: model.joblib (a pickle) or model.skops (the safe "
                      "format: loading it runs no code; needs skops); not .json, the "
                      "sidecar's name; an existing one is kept unless --overwrite")
    parser.add_argument("--save-on-interrupt", action="store_true",
                        help="on Ctrl-C, save the part-trained model anyway, marked "
                             "\"interrupted\": true in its sidecar (the exit status is still "
                             "130); by default an interrupted run saves nothing")
    add_fit_options(parser)
    parser.add_argument("--inverse", action="store_true",
                        help="learn the inverse model instead: spectra in, the structures' "
                             "wACSF features (or the --data file's features) out "
                             "(xanesnet_sk.inverse.make_inverse_pipeline); use it with "
                             "'predict --inverse --xanes DIR'")
    parser.add_argument("--log-dir", metavar="DIR",
                        help="write TensorBoard logs of the training loss per epoch to DIR "
                             "(skorch's TensorBoard callback; needs pip install "
                             "\"xanesnet-sk[tracking]\"), for TensorBoard to show; with "
                             "--ensemble, one run per member in DIR/member-SEED")
    add_init_options(parser)
    parser.set_defaults(func=run_learn)
    return parser


def check_fit_options(args, config):
    """Check the training options and the configuration before any data is loaded.

    Builds the pipeline once (which validates the wACSF, preprocessing and
    model parameters) so that a bad value fails in seconds, not after
    featurising.
    """
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    build_pipeline(config, True, seed=args.seed, epochs=args.epochs,
                   n_ensemble=getattr(args, "ensemble", 1))


def run_learn(args, report):
    """Fit on the data and save the model."""
    out = model_output(args.output, args.overwrite)
    config = read_config(args)
    check_fit_options(args, config)
    callbacks = tensorboard_callbacks(args.log_dir, args.ensemble)
    sets = getattr(args, "data_sets", None) or []
    if len(sets) > 1:
        return _learn_several(args, report, out, config, callbacks, sets)
    if sets and "element" in sets[0]:
        raise CLIError("--element names the absorbing element of each of several data sets "
                       "(one model for them all); with one data set, leave it out")
    data = load_data(args, report)
    if args.inverse and args.init_from is not None:
        raise CLIError("--init-from cannot be combined with --inverse (fine-tuning is for "
                       "forward models)")
    if args.inverse:
        from ._inverse import run_learn_inverse

        return run_learn_inverse(args, report, out, config, data, callbacks)
    featurise = data.kind == "structures"
    init = init_from_pipeline(args, data, report)
    if init is not None:
        report.say(f"learn: fine-tuning {args.init_from} on {len(data)} samples from "
                   f"{data.source}")
        init.fit(data.X, data.y)
        pipeline = fitted_for_saving(init)
        check_trained(pipeline, data.X, data.y)
        meta = _metadata(pipeline, data, config, args)
        meta["init_from"] = str(args.init_from)
        save_model(out, pipeline, meta, report, overwrite=args.overwrite)
        return
    pipeline = build_pipeline(config, featurise, seed=args.seed, epochs=args.epochs,
                              n_ensemble=args.ensemble)
    report.say(f"learn: {len(data)} samples ({data.kind}) from {data.source}, "
               f"{data.y.shape[1]} energy points")
    try:
        fit_pipeline(pipeline, data.X, data.y, report, callbacks=callbacks)
    except KeyboardInterrupt:
        if args.save_on_interrupt:
            _save_interrupted(out, pipeline, data, config, args, report)
        raise
    check_trained(pipeline, data.X, data.y)
    save_model(out, pipeline, _metadata(pipeline, data, config, args), report,
               overwrite=args.overwrite)


def _learn_several(args, report, out, config, callbacks, sets):
    """``learn`` on several data sets: one model for all their absorbing elements
    (:func:`~xanesnet_sk.cli._universal.several_sets` says how the element is found)."""
    from ..transfer import ElementEncoder
    from ._universal import several_sets

    X, y, meta = several_sets(args, report, config, sets)
    pipeline = build_pipeline(config, False, seed=args.seed, epochs=args.epochs,
                              n_ensemble=args.ensemble)
    pipeline.steps.insert(0, ("element", ElementEncoder(meta["absorber_numbers"])))
    fit_pipeline(pipeline, X, y, report, callbacks=callbacks)
    check_trained(pipeline, X, y)
    save_model(out, pipeline, {**meta, "seed": args.seed}, report, overwrite=args.overwrite)


def tensorboard_callbacks(log_dir, n_ensemble=1):
    """``[("tensorboard", skorch.callbacks.TensorBoard(...))]`` for ``--log-dir``, or ``[]``.

    One net logs into ``log_dir``; an ensemble's members each into
    ``log_dir/member-<seed>`` (their seeds are the ensemble's ``seeds_``), so
    TensorBoard shows them as separate runs.
    """
    if log_dir is None:
        return []
    from ._progress import TensorBoardDir

    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401 (checks tensorboard)
    except ImportError:
        raise CLIError("--log-dir needs TensorBoard: pip install \"xanesnet-sk[tracking]\" "
                       "(or pip install tensorboard)") from None
    path = Path(log_dir)
    if path.exists() and not path.is_dir():
        raise CLIError(f"--log-dir {log_dir}: exists and is not a directory")

    return [("tensorboard", TensorBoardDir(str(path), per_member=n_ensemble > 1))]


def _save_interrupted(out, pipeline, data, config, args, report):
    """``--save-on-interrupt``: save the part-trained pipeline, marked as such, if usable."""
    from ..model import XANESNetRegressor, completed_epochs

    nets = fitted_nets(pipeline, XANESNetRegressor)
    done = completed_epochs(nets[0]) if nets else 0
    if done < 1:
        report.say("interrupted before the first epoch finished: no model saved")
        return
    try:
        check_trained(pipeline, data.X, data.y, interrupted=True)
    except CLIError as exc:
        report.say(f"interrupted, and the part-trained model is unusable ({exc}): not saved")
        return
    meta = _metadata(pipeline, data, config, args)
    meta.update(interrupted=True, epochs_completed=done,
                epochs_requested=int(nets[0].n_epochs_))
    save_model(out, pipeline, meta, report, overwrite=args.overwrite)
    report.say(f"interrupted after {done} of {nets[0].n_epochs_} epochs: the part-trained "
               f"model was saved (--save-on-interrupt), marked \"interrupted\": true in "
               "its sidecar")


def check_trained(pipeline, X, y, interrupted=False):
    """CLIError unless the fitted net has finite weights and training loss and predicts
    finite spectra of the right length."""
    import torch

    from ..model import XANESNetRegressor, completed_epochs

    for net in fitted_nets(pipeline, XANESNetRegressor):
        bad = [name for name, p in net.module_.named_parameters()
               if not torch.isfinite(p).all()]
        if bad:
            raise CLIError(f"training diverged: the net's weights ({bad[0]}) are not finite; "
                           "no model saved (lower the learning rate, model.lr)")
        losses = [row["train_loss"] for row in net.history_ if "train_loss" in row]
        if not interrupted and completed_epochs(net) < 1:
            raise CLIError("the net trained for no epoch; no model saved")
        if losses and not np.isfinite(losses[-1]):
            raise CLIError(f"training diverged: the last training loss is {losses[-1]}; no "
                           "model saved (lower the learning rate, model.lr)")
    head = X[:8] if isinstance(X, list) else np.asarray(X)[:8]
    with np.errstate(all="ignore"):
        pred = np.asarray(pipeline.predict(head), dtype=float).reshape(len(head), -1)
    if pred.shape[1] != np.shape(y)[1]:
        raise CLIError(f"the model predicts {pred.shape[1]} energy points but the spectra have "
                       f"{np.shape(y)[1]}; no model saved")
    if not np.all(np.isfinite(pred)):
        raise CLIError("the trained model predicts NaN or inf; no model saved (lower the "
                       "learning rate, model.lr)")


def _metadata(pipeline, data, config, args):
    """The sidecar of a model fitted on ``data``."""
    from ._featurise import portable_params

    wacsf, rest = split_featuriser(pipeline)
    if wacsf is not None:
        params, origin = portable_params(wacsf.get_params()), "pipeline"
        names = [str(n) for n in wacsf.get_feature_names_out()]
    else:
        params, origin, names = _feature_provenance(data, config)
    n_features = getattr(rest, "n_features_in_", None)
    return {
        "input": data.kind,
        "n_features": None if n_features is None else int(n_features),
        "feature_names": names,
        "wacsf_params": params,
        "wacsf_params_from": origin,
        "energies": data.energies,
        "n_points": int(data.y.shape[1]),
        "mean_spectrum": data.y.mean(axis=0),  # the trivial baseline, for evaluate
        "n_train": len(data),
        "training_data": data.source,
        "seed": args.seed,
        "config": config,
    }


def _feature_provenance(data, config):
    """(wACSF parameters, where they came from, feature names) of precomputed features.

    The data file's own ``wacsf_params`` when it has them; else the config's
    ``wacsf`` section (default: the paper's, as in ``tmqm_k_edge_v.npz``) is
    assumed, provided it gives as many features as the file has.
    """
    from wacsf import WACSFTransformer

    from ._featurise import portable_params

    if data.wacsf_params is not None:
        return data.wacsf_params, "data file", data.feature_names
    try:
        assumed = WACSFTransformer(**config["wacsf"])
        names = [str(n) for n in assumed.get_feature_names_out()]
    except (TypeError, ValueError) as exc:
        raise CLIError(f"configuration: wacsf: {exc}") from exc
    if len(names) != data.X.shape[1]:
        return None, "unknown", data.feature_names
    return portable_params(assumed.get_params()), "config (assumed)", data.feature_names or names


# ------------------------------------------------------------------ validate


def add_validate_command(subparsers, parent):
    """Register ``validate``."""
    parser = subparsers.add_parser(
        "validate", parents=[parent], help="repeated k-fold cross-validation (delta mu)",
        description="Repeated k-fold cross-validation of the pipeline: median and IQR of the "
                    "per-spectrum delta mu (%) in every fold and overall, next to a trivial "
                    "baseline (the training folds' mean spectrum); a table is printed and "
                    "written to CSV.")
    add_data_options(parser)
    add_output_option(parser, "FILE.csv",
                      "CSV of the per-fold table (default validation.csv); an existing one is "
                      "kept unless --overwrite", required=False, default="validation.csv")
    add_cv_options(parser)
    parser.add_argument("--n-jobs", type=int, default=1, metavar="N",
                        help="folds fitted in parallel (default 1; -1: all cores)")
    add_fit_options(parser)
    add_init_options(parser)
    parser.set_defaults(func=run_validate)
    return parser


def run_validate(args, report):
    """Cross-validate and report the per-fold table."""
    from ._report import fold_summary

    if args.splits < 2 or args.repeats < 1:
        raise CLIError(f"--splits must be >= 2 and --repeats >= 1, got {args.splits} and "
                       f"{args.repeats}")
    out = output_file(args.output, "--output", suffixes=(".csv",))
    staged = StagedOutputs(args.overwrite)
    temp = staged.path(out)
    config = read_config(args)
    check_fit_options(args, config)
    data = load_data(args, report)
    if len(data) < args.splits:
        raise CLIError(f"{len(data)} samples cannot be split into {args.splits} folds")
    pipeline = init_from_pipeline(args, data, report)
    if pipeline is None:
        pipeline = build_pipeline(config, data.kind == "structures", seed=args.seed,
                                  epochs=args.epochs, n_ensemble=args.ensemble)
    report.say(f"validate: {len(data)} samples from {data.source}, {args.repeats} x "
               f"{args.splits}-fold")
    folds = cross_validate_dmu(pipeline, data.X, data.y, report, args.splits, args.repeats,
                               args.seed, args.n_jobs)
    table = fold_summary(folds)
    with staged:
        table.to_csv(temp, index=False, float_format="%.4f")
    report.table(table.set_index("fold"), title="delta mu (%) per test fold:")
    n_bad = int(table.loc[table["fold"] == "overall", "n_nonfinite"].item())
    if n_bad:
        report.say(f"note: {n_bad} predicted test spectra have a NaN or inf delta mu (a fold's "
                   "net diverged?): counted in n_nonfinite, left out of the quartiles")
    report.wrote("fold table", out)
    return table


def cross_validate_dmu(pipeline, X, y, report, n_splits=5, n_repeats=5, seed=0, n_jobs=1):
    """Per-fold delta mu of ``pipeline`` (and of the mean-spectrum baseline).

    Structures are featurised once up front (wACSF are stateless), so the
    folds fit only the learned part of the pipeline.

    Returns
    -------
    list of dict
        One per fold: ``repeat``, ``fold``, ``n_train``, ``n_test``, ``dmu``
        (per test spectrum) and ``dmu_baseline``.
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import RepeatedKFold

    wacsf, rest = split_featuriser(pipeline)
    features = featurise_once(wacsf, X, report) if wacsf is not None else np.asarray(X)
    y = np.asarray(y, dtype=float)
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    n_workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
    if n_workers > 1:
        rest = _threads_per_worker(rest, n_workers)
    tasks = (delayed(_fit_fold)(rest, features, y, train, test, k, n_splits)
             for k, (train, test) in enumerate(cv.split(features)))
    runner = Parallel(n_jobs=n_workers, return_as="generator")
    bar = report.progress(runner(tasks), total=n_splits * n_repeats, desc="CV folds",
                          unit="fold")
    return list(bar)


def _threads_per_worker(estimator, n_workers):
    """Share the cores between parallel folds (torch threads per fit)."""
    from ..model import XANESNetRegressor

    net = prefix_of(estimator, XANESNetRegressor)
    if net is None:
        return estimator
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    return estimator.set_params(**{net + "n_threads": threads})


def _fit_fold(estimator, X, y, train, test, k, n_splits):
    """Fit a clone on one training fold; delta mu on its test fold."""
    from sklearn.base import clone

    from ._report import delta_mu

    model = clone(estimator).fit(X[train], y[train])  # a Ctrl-C inside is raised again
    y_pred = model.predict(X[test])
    baseline = np.broadcast_to(y[train].mean(axis=0), y[test].shape)
    return {
        "repeat": k // n_splits + 1, "fold": k % n_splits + 1, "n_train": len(train),
        "n_test": len(test), "dmu": delta_mu(y[test], y_pred),
        "dmu_baseline": delta_mu(y[test], baseline),
    }
