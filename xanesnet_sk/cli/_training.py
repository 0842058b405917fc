"""The training pieces that ``learn``, ``learn --inverse``, ``validate``, ``predict`` and the
analyses share: the net's parameters, the featuriser split, fitting with progress.

A lower module than the verbs' own (``_fit``, ``_inverse``, ``_apply``, ``_analysis``), which
import from it; it imports none of them, so the CLI modules form a one-way graph.
"""

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["prefix_of", "net_params", "split_featuriser", "featurise_once", "fit_pipeline",
           "fitted_nets"]


def prefix_of(estimator, cls):
    """The ``set_params`` prefix (``"a__b__"``) of the first ``cls`` inside ``estimator``."""
    if isinstance(estimator, cls):
        return ""
    for key, value in estimator.get_params(deep=True).items():
        if isinstance(value, cls):
            return key + "__"
    return None


def net_params(config, epochs=None):
    """The net's parameters from the config's ``model`` section, ``--epochs`` applied."""
    model = dict(config["model"])
    model.setdefault("n_threads", 1)  # small batches gain nothing from more threads
    if epochs is not None:
        model["max_epochs"] = epochs
    return model


def split_featuriser(pipeline):
    """(featuriser or None, the rest of the pipeline)."""
    from wacsf import WACSFTransformer

    steps = getattr(pipeline, "steps", None)
    if not steps:  # a bare estimator (a model saved by other means)
        return None, pipeline
    first = steps[0][1]
    if isinstance(first, WACSFTransformer):
        return first, pipeline[1:]
    return None, pipeline


def featurise_once(wacsf, structures, report):
    """wACSF of ``structures`` with a progress bar unless quiet."""
    from sklearn.base import clone

    wacsf = clone(wacsf).set_params(progress=not report.quiet)
    return wacsf.fit_transform(structures)


def fit_pipeline(pipeline, X, y, report, desc="training", callbacks=()):
    """Fit ``pipeline`` with an epoch progress bar (and ``callbacks``, e.g. TensorBoard),
    all detached again after the fit."""
    from ..model import XANESNetRegressor
    from ._progress import EpochProgress

    net = prefix_of(pipeline, XANESNetRegressor)
    callbacks = list(callbacks)
    if not report.quiet:
        callbacks.append(("progress", EpochProgress(report, desc)))
    if net is None:
        return pipeline.fit(X, y)
    # the command line's bar (or none with --quiet) instead of the net's own
    progress = pipeline.get_params()[net + "progress"]
    pipeline.set_params(**{net + "callbacks": callbacks or None, net + "progress": False})
    try:
        pipeline.fit(X, y)
    finally:
        pipeline.set_params(**{net + "callbacks": None, net + "progress": progress})
        added = {name for name, _ in callbacks}
        templates = [v for v in pipeline.get_params(deep=True).values()
                     if isinstance(v, XANESNetRegressor)]
        for fitted in templates + fitted_nets(pipeline, XANESNetRegressor):
            fitted.set_params(callbacks=None)
            # the initialised ones too: a TensorBoard writer holds a lock and cannot pickle
            fitted.callbacks_ = [(name, cb) for name, cb in getattr(fitted, "callbacks_", [])
                                 if name not in added]
    return pipeline


def fitted_nets(pipeline, cls):
    """The fitted nets inside the last step (itself, a TransformedTargetRegressor's, or
    an ensemble's members)."""
    last = pipeline.steps[-1][1]
    members = getattr(last, "estimators_", None) or [last]
    candidates = []
    for member in members:
        candidates += [member, getattr(member, "regressor_", None)]
    return [c for c in candidates if isinstance(c, cls) and hasattr(c, "module_")]
