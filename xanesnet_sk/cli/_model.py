"""What the verbs that apply a model need to know of it: its direction, energy grid and
featuriser (shared by predict, evaluate, predict --inverse and screen)."""

import numpy as np

from ._common import CLIError

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["TRUST_NOTE", "check_direction", "model_energies", "model_featuriser", "last_step"]

TRUST_NOTE = ("Model files are joblib pickles, and loading one runs code from it: load only "
              "models you made or trust, never ones downloaded or sent to you.  A .skops model "
              "(learn --output model.skops, needs skops) loads without running code.")


def model_energies(model, meta):
    """The model's energy grid: from its sidecar, else XANESNET's grid of its output size."""
    if meta.get("energies") is not None:
        return np.asarray(meta["energies"], dtype=float)
    from ..spectra import xanesnet_grid

    n_points = meta.get("n_points") or getattr(last_step(model), "n_outputs_", 226)
    return xanesnet_grid(int(n_points))


def last_step(model):
    steps = getattr(model, "steps", None)
    last = steps[-1][1] if steps else model
    return getattr(last, "regressor_", last)


def model_featuriser(model, meta, hint):
    """(the model's WACSFTransformer, the rest): its own step, or one made from its sidecar."""
    from ._featurise import make_wacsf
    from ._training import split_featuriser

    wacsf, rest = split_featuriser(model)
    if wacsf is None:
        params = meta.get("wacsf_params")
        if params is None:
            raise CLIError("this model was trained on precomputed features whose wACSF "
                           f"parameters are unknown: {hint}")
        wacsf = make_wacsf(params)
    return wacsf, rest


def check_direction(model, inverse, option="--model"):
    """CLIError when the model's direction (:func:`~xanesnet_sk.inverse.direction_of`) is
    not the one asked for."""
    import sys

    # a model that holds an InversePipeline imported xanesnet_sk.inverse when it was
    # loaded; without that module (and torch, which it imports) it is a forward model
    inverse_module = sys.modules.get("xanesnet_sk.inverse")
    direction = "forward" if inverse_module is None else inverse_module.direction_of(model)
    if inverse and direction != "inverse":
        raise CLIError(f"{option}: a forward model (structures to spectra) cannot predict "
                       "descriptors from spectra; train one with 'learn --inverse'")
    if not inverse and direction == "inverse":
        raise CLIError(f"{option}: an inverse model (spectra to descriptors) cannot predict "
                       "spectra; use 'predict --inverse --xanes DIR'")
