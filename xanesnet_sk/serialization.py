"""A model file that loading cannot run code from: skops for the scikit-learn parts.

A joblib (pickle) model file runs code when it is loaded.  :func:`save_safe`
writes a fitted XANESNET pipeline as one `skops <https://skops.readthedocs.io>`_
file instead, which :func:`load_safe` reads without unpickling anything:

- the scikit-learn steps (wACSF featuriser, feature filters, scalers, the
  target transformer) are stored by skops, which rebuilds only the types it
  is told to trust; :func:`load_safe` trusts scikit-learn's, NumPy's and this
  project's own (``WACSFTransformer``, ``CorrelationFilter``,
  ``feature_variance``) and refuses a file that holds any other;
- the net is stored as its plain parameters (the architecture: hidden sizes,
  dropout, batch norm...), its fitted sizes and its torch weights as NumPy
  arrays (``module_.state_dict()``); loading builds a fresh
  :class:`~xanesnet_sk.model.XANESNetRegressor` from them;
- a :class:`~xanesnet_sk.ensemble.DeepEnsembleRegressor` is stored as its
  plain parameters, its calibration (``std_scale_``, ``raw_coverage_``), its
  members' seeds and every member as above;
- an inverse model (:func:`~xanesnet_sk.inverse.make_inverse_pipeline`)
  stays an :class:`~xanesnet_sk.inverse.InversePipeline`, its spectrum
  transformers (``Resampler``, ``EdgeStepNormaliser``, the broadenings)
  stored by skops like the other steps.

Only nets with the default module, optimizer, criterion and iterators are
stored this way (other classes would have to be trusted by name); callables
as parameters (e.g. wACSF ``weights``) are refused at saving time.  skops is
an optional dependency: ``pip install "xanesnet-sk[safe]"``.

Examples
--------
>>> import numpy as np
>>> from xanesnet_sk.pipeline import make_xanesnet_pipeline
>>> from xanesnet_sk.serialization import load_safe, save_safe
>>> rng = np.random.default_rng(0)
>>> X, y = rng.normal(size=(32, 5)), rng.normal(size=(32, 7))
>>> pipe = make_xanesnet_pipeline(featurise=False, random_state=0, max_epochs=2,
...                               hidden_sizes=(8,)).fit(X, y)
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
>>> save_safe(pipe, path)
>>> bool(np.array_equal(load_safe(path).predict(X), pipe.predict(X)))
True
"""

import copy
from pathlib import Path

import numpy as np

__all__ = ["save_safe", "load_safe", "trusted_types", "SAFE_FORMAT"]

#: What the file says it is (key ``format``).
SAFE_FORMAT = "xanesnet-sk safe model 1"

_NET_ATTRS = ("n_features_in_", "n_outputs_", "y_ndim_")


def _skops():
    try:
        import skops.io as sio
    except ImportError:
        raise ImportError(
            "the safe model format needs skops: pip install 'xanesnet-sk[safe]' (or "
            "pip install skops)"
        ) from None
    return sio


def trusted_types():
    """Names of this project's types that :func:`load_safe` trusts besides skops' defaults.

    Returns
    -------
    list of str
    """
    from wacsf import WACSFTransformer

    from .inverse import InversePipeline
    from .selection import CorrelationFilter, feature_variance
    from .spectra import ArctanBroadening, EdgeStepNormaliser, LorentzianBroadening, Resampler

    return [f"{t.__module__}.{t.__qualname__}"
            for t in (WACSFTransformer, CorrelationFilter, feature_variance, InversePipeline,
                      Resampler, EdgeStepNormaliser, LorentzianBroadening, ArctanBroadening)]


def _net_defaults():
    from .model import XANESNetRegressor

    return XANESNetRegressor().get_params(deep=False)


def _net_params(net):
    """The net's parameters as plain values; ValueError for classes other than the defaults."""
    defaults = _net_defaults()
    plain = (bool, int, float, str, type(None))
    params = {}
    for key, value in net.get_params(deep=False).items():
        if key.startswith("_") or key in ("callbacks", "random_state"):
            continue  # callbacks are not part of a fitted model; the seed was used up
        if isinstance(value, (list, tuple)) and all(isinstance(v, plain) for v in value):
            params[key] = list(value)
        elif isinstance(value, plain):
            params[key] = value
        elif key in defaults and value is defaults[key]:
            continue  # a default class (module, optimizer...): rebuilt as the default
        else:
            raise ValueError(
                f"the safe model format stores only plain net parameters and the default "
                f"classes; {key}={value!r} cannot be stored (save as .joblib instead)"
            )
    return params


def _net_state(net):
    state = {key: value.detach().cpu().numpy() for key, value in
             net.module_.state_dict().items()}
    attrs = {key: int(getattr(net, key)) for key in _NET_ATTRS}
    if hasattr(net, "feature_names_in_"):
        attrs["feature_names_in_"] = [str(n) for n in net.feature_names_in_]
    return {"params": _net_params(net), "attrs": attrs, "weights": state}


def _rebuild_net(stored):
    import torch

    from .model import XANESNetRegressor

    params = dict(stored["params"])
    if isinstance(params.get("hidden_sizes"), list):
        params["hidden_sizes"] = tuple(params["hidden_sizes"])
    net = XANESNetRegressor(**params)
    for key in _NET_ATTRS:
        setattr(net, key, int(stored["attrs"][key]))
    if "feature_names_in_" in stored["attrs"]:
        net.feature_names_in_ = np.asarray(stored["attrs"]["feature_names_in_"], dtype=object)
    net.initialize()
    weights = {key: torch.from_numpy(np.array(value)) for key, value in
               stored["weights"].items()}
    net.module_.load_state_dict(weights)
    net.module_.eval()
    net.interrupted_ = False
    return net


def _split_member(last):
    """(``last`` without its net, where the net sat, the net) for a net or a
    ``TransformedTargetRegressor`` around one; None for anything else."""
    from sklearn.compose import TransformedTargetRegressor

    from .model import XANESNetRegressor

    if isinstance(last, XANESNetRegressor):
        return "passthrough", "last", last
    if isinstance(last, TransformedTargetRegressor) and isinstance(
            getattr(last, "regressor_", None), XANESNetRegressor):
        holder = copy.copy(last)  # shallow: the fitted transformer_ is shared, not copied
        net = holder.regressor_
        del holder.regressor_
        holder.regressor = None
        return holder, "target", net
    return None


def _ensemble_state(ensemble):
    """A fitted DeepEnsembleRegressor as plain values, each member split from its net."""
    from numbers import Integral

    if not hasattr(ensemble, "estimators_"):
        raise ValueError("save_safe needs a fitted ensemble")
    members = []
    for member in ensemble.estimators_:
        split = _split_member(member)
        if split is None:
            raise ValueError("save_safe stores ensembles of XANESNetRegressor nets (or of "
                             "TransformedTargetRegressors around them)")
        holder, where, net = split
        members.append({"holder": holder, "net_at": where, "net": _net_state(net)})
    seed = ensemble.random_state
    params = {key: getattr(ensemble, key) for key in
              ("n_ensemble", "bootstrap", "calibration", "validation_fraction", "n_jobs",
               "verbose")}
    params["random_state"] = int(seed) if isinstance(seed, Integral) else None
    attrs = {"std_scale_": float(ensemble.std_scale_),
             "raw_coverage_": ensemble.raw_coverage_,
             "seeds_": [int(v) for v in ensemble.seeds_]}
    if hasattr(ensemble, "n_features_in_"):
        attrs["n_features_in_"] = int(ensemble.n_features_in_)
    return {"params": params, "attrs": attrs, "members": members}


def _rebuild_member(stored):
    net = _rebuild_net(stored["net"])
    if stored["net_at"] == "last":
        return net
    holder = stored["holder"]
    holder.regressor = copy.copy(net)
    holder.regressor_ = net
    return holder


def _rebuild_ensemble(stored):
    from sklearn.base import clone

    from .ensemble import DeepEnsembleRegressor

    members = [_rebuild_member(m) for m in stored["members"]]
    ensemble = DeepEnsembleRegressor(clone(members[0]), **stored["params"])
    ensemble.estimators_ = members
    attrs = stored["attrs"]
    ensemble.std_scale_ = float(attrs["std_scale_"])
    raw = attrs["raw_coverage_"]
    ensemble.raw_coverage_ = None if raw is None else float(raw)
    ensemble.seeds_ = np.asarray(attrs["seeds_"], dtype=np.int64)
    if "n_features_in_" in attrs:
        ensemble.n_features_in_ = int(attrs["n_features_in_"])
    return ensemble


def _split(model):
    """(a copy of ``model`` without its net(s), where they sat, the net or the ensemble's
    state)."""
    from sklearn.pipeline import Pipeline

    from .ensemble import DeepEnsembleRegressor
    from .inverse import InversePipeline

    steps = getattr(model, "steps", None)
    if not steps:
        raise ValueError("save_safe stores a fitted Pipeline (as make_xanesnet_pipeline builds)")
    # an inverse model stays an InversePipeline (its direction is its class)
    cls = InversePipeline if isinstance(model, InversePipeline) else Pipeline
    name, last = steps[-1]
    if isinstance(last, DeepEnsembleRegressor):
        return cls(steps[:-1] + [(name, "passthrough")]), "ensemble", _ensemble_state(last)
    split = _split_member(last)
    if split is None:
        raise ValueError("save_safe stores pipelines that end in a fitted XANESNetRegressor, a "
                         "TransformedTargetRegressor around one, or a DeepEnsembleRegressor "
                         "of them")
    holder, where, net = split
    if not hasattr(getattr(net, "module_", None), "state_dict"):
        raise ValueError("save_safe needs a fitted net")
    return cls(steps[:-1] + [(name, holder)]), where, _net_state(net)


def save_safe(model, path):
    """Write a fitted XANESNET pipeline as a skops file that loads without running code.

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline
        Fitted; its last step is a :class:`~xanesnet_sk.model.XANESNetRegressor`,
        a ``TransformedTargetRegressor`` around one, or a
        :class:`~xanesnet_sk.ensemble.DeepEnsembleRegressor` of either (every
        member's weights and the calibration factor ``std_scale_`` are
        stored, so ``predict(X, return_std=True)`` gives the same error bars).
    path : str or path-like
        The file to write (``.skops`` suggested); overwritten.

    Raises
    ------
    ValueError
        For a model this format cannot hold (another last step, a net with
        non-default classes, a callable parameter).
    ImportError
        Without skops.
    """
    sio = _skops()
    rest, where, net = _split(model)
    payload = {"format": SAFE_FORMAT, "pipeline": rest, "net_at": where, "net": net}
    untrusted = set(sio.get_untrusted_types(data=sio.dumps(payload))) - set(trusted_types())
    if untrusted:
        raise ValueError(
            f"the safe model format cannot hold {sorted(untrusted)[0]} (not a scikit-learn, "
            "NumPy or xanesnet-sk type; a callable parameter?): save as .joblib instead"
        )
    sio.dump(payload, Path(path))


def load_safe(path):
    """Read a model written by :func:`save_safe`; no code from the file is run.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    sklearn.pipeline.Pipeline
        The fitted pipeline, ready to ``predict``.

    Raises
    ------
    ValueError
        For a file that is not a safe model, or that holds a type outside
        skops' defaults and :func:`trusted_types` (such a file is not loaded).
    ImportError
        Without skops.
    """
    import zipfile

    sio = _skops()
    path = Path(path)
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a skops model file ({exc})") from None
    unknown = sorted(untrusted - set(trusted_types()))
    if unknown:
        raise ValueError(f"{path}: holds types this loader does not trust ({', '.join(unknown)});"
                         " it was not loaded")
    payload = sio.load(path, trusted=sorted(untrusted))
    if not isinstance(payload, dict) or payload.get("format") != SAFE_FORMAT:
        raise ValueError(f"{path}: not a model written by xanesnet_sk.serialization.save_safe")
    pipeline = payload["pipeline"]
    name, last = pipeline.steps[-1]
    if payload["net_at"] == "ensemble":
        pipeline.steps[-1] = (name, _rebuild_ensemble(payload["net"]))
    else:
        pipeline.steps[-1] = (name, _rebuild_member(
            {"holder": last, "net_at": payload["net_at"], "net": payload["net"]}))
    return pipeline
