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
import json
import zipfile
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

# Imports inside functions: skops, an optional extra ([safe]), and the model classes
# (torch) only when a model file is written or read.

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
    from .pipeline import XANESNetPipeline
    from .selection import CorrelationFilter, feature_variance
    from .spectra import ArctanBroadening, EdgeStepNormaliser, LorentzianBroadening, Resampler

    return [f"{t.__module__}.{t.__qualname__}"
            for t in (WACSFTransformer, CorrelationFilter, feature_variance, InversePipeline,
                      XANESNetPipeline, Resampler, EdgeStepNormaliser, LorentzianBroadening,
                      ArctanBroadening)]


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
    from .ensemble import DeepEnsembleRegressor
    from .inverse import InversePipeline

    steps = getattr(model, "steps", None)
    if not steps:
        raise ValueError("save_safe stores a fitted Pipeline (as make_xanesnet_pipeline builds)")
    from .pipeline import XANESNetPipeline

    # an inverse model stays an InversePipeline (its direction is its class), a forward one
    # from make_xanesnet_pipeline an XANESNetPipeline
    cls = next((c for c in (InversePipeline, XANESNetPipeline) if isinstance(model, c)),
               Pipeline)
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

    Before skops reads anything, the file's sizes are checked against what it
    declares (see Notes), so a tampered file cannot make loading allocate
    more than a small multiple of the file's own size.

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
        For a file that is not a safe model, that holds a type outside
        skops' defaults and :func:`trusted_types` (such a file is not
        loaded), or whose contents disagree with themselves; always one line
        that names the file.
    ImportError
        Without skops.

    Notes
    -----
    The checks made before loading: the members of the file (a zip) hold at
    most ``MAX_EXPANSION`` times the file's size uncompressed (skops stores
    them uncompressed); every array's header fits the bytes stored for it and
    holds no Python objects; every net's weights have exactly the shapes its
    declared architecture (``n_features_in_``, ``hidden_sizes``,
    ``batch_norm``, ``n_outputs_``) gives them.
    """
    sio = _skops()
    path = Path(path)
    _check_archive(path)
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError,
            RecursionError) as exc:
        raise ValueError(f"{path}: not a skops model file ({_one_line(exc)})") from None
    unknown = sorted(untrusted - set(trusted_types()))
    if unknown:
        raise ValueError(f"{path}: holds types this loader does not trust ({', '.join(unknown)});"
                         " it was not loaded")
    try:
        payload = sio.load(path, trusted=sorted(untrusted))
    except Exception as exc:  # noqa: BLE001 - whatever skops makes of a tampered file
        raise ValueError(f"{path}: not a model written by xanesnet_sk.serialization.save_safe "
                         f"(skops cannot read it: {_one_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != SAFE_FORMAT:
        raise ValueError(f"{path}: not a model written by xanesnet_sk.serialization.save_safe")
    try:
        return _rebuild(payload)
    except _Tampered as exc:
        raise ValueError(f"{path}: not a model written by xanesnet_sk.serialization.save_safe "
                         f"({exc}); it was not loaded") from None
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, RuntimeError) as exc:
        raise ValueError(f"{path}: cannot rebuild the model it holds ({type(exc).__name__}: "
                         f"{_one_line(exc)}): written by another version of xanesnet-sk, or "
                         "altered; it was not loaded") from None


# ---------------------------------------------------------------- checks of a file's contents

#: The members of a safe model file may hold at most this many times the file's size
#: uncompressed (plus ``_SLACK`` bytes): skops stores arrays uncompressed, so a genuine file
#: holds about 1 time its size.
MAX_EXPANSION = 20
_SLACK = 4 * 2**20


class _Tampered(Exception):
    """A safe model file whose contents disagree with themselves (the message says how)."""


def _one_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _rebuild(payload):
    """The pipeline of a loaded payload, its net(s) rebuilt; _Tampered for a bad payload."""
    pipeline = payload.get("pipeline")
    if not isinstance(pipeline, Pipeline) or not isinstance(pipeline.steps, list) \
            or not pipeline.steps:
        raise _Tampered(f"'pipeline' is {type(pipeline).__name__}, not a Pipeline")
    net_at, stored = payload.get("net_at"), payload.get("net")
    if net_at not in ("last", "target", "ensemble"):
        raise _Tampered(f"net_at is {net_at!r}, not 'last', 'target' or 'ensemble'")
    if not isinstance(stored, dict):
        raise _Tampered(f"'net' is {type(stored).__name__}, not a dict")
    name, last = pipeline.steps[-1]
    if net_at == "ensemble":
        _require(stored, "ensemble", params=dict, attrs=dict, members=list)
        if not stored["members"]:
            raise _Tampered("the ensemble has no members")
        for k, member in enumerate(stored["members"]):
            _require(member, f"member {k}", net_at=str, net=dict)
            _require_net(member["net"], f"member {k}'s net")
        pipeline.steps[-1] = (name, _rebuild_ensemble(stored))
    else:
        _require_net(stored, "the net")
        pipeline.steps[-1] = (name, _rebuild_member(
            {"holder": last, "net_at": net_at, "net": stored}))
    return pipeline


def _require(stored, what, **types):
    if not isinstance(stored, dict):
        raise _Tampered(f"{what} is {type(stored).__name__}, not a dict")
    for key, kind in types.items():
        if key not in stored:
            raise _Tampered(f"{what} has no {key!r}")
        if not isinstance(stored[key], kind):
            raise _Tampered(f"{what}'s {key!r} is {type(stored[key]).__name__}, not "
                            f"{kind.__name__}")


def _require_net(stored, what):
    _require(stored, what, params=dict, attrs=dict, weights=dict)
    missing = [key for key in _NET_ATTRS if key not in stored["attrs"]]
    if missing:
        raise _Tampered(f"{what} has no {missing[0]}")


def _plain(node):
    """The plain value of a skops schema node (JSON, list, tuple, dict), else None."""
    loader = node.get("__loader__") if isinstance(node, dict) else None
    if loader == "JsonNode":
        return json.loads(node["content"])
    if loader in ("ListNode", "TupleNode"):
        return [_plain(item) for item in node["content"]]
    if loader == "DictNode":
        return {key: _plain(value) for key, value in node["content"].items()}
    return None


def _net_nodes(schema):
    """(description, schema node of a net's dict) for every net the schema declares."""
    content = schema["content"]
    net_at = _plain(content["net_at"])
    net = content["net"]["content"]
    if net_at != "ensemble":
        return [("the net", net)]
    return [(f"member {k}'s net", member["content"]["net"]["content"])
            for k, member in enumerate(net["members"]["content"])]


def _expected_shapes(params, attrs, what):
    """Shapes of the state_dict of the architecture ``params`` and ``attrs`` declare, built
    on torch's meta device (nothing allocated); _Tampered for a declaration that is not one."""
    import torch

    from .model import XANESNetModule

    defaults = _net_defaults()
    sizes = {key: attrs.get(key) for key in ("n_features_in_", "n_outputs_")}
    hidden = params.get("hidden_sizes", list(defaults["hidden_sizes"]))
    numbers = list(sizes.values()) + (hidden if isinstance(hidden, list) else [hidden])
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31
               for v in numbers) or len(hidden) > 1000:
        raise _Tampered(f"{what} declares no valid architecture (n_features_in_="
                        f"{sizes['n_features_in_']!r}, hidden_sizes={hidden!r}, n_outputs_="
                        f"{sizes['n_outputs_']!r})")
    widths = [sizes["n_features_in_"], *hidden, sizes["n_outputs_"]]
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    extra = {key[len("module__"):]: value for key, value in params.items()
             if key.startswith("module__")}
    try:
        with torch.device("meta"):
            module = XANESNetModule(
                n_features=sizes["n_features_in_"], n_outputs=sizes["n_outputs_"],
                hidden_sizes=tuple(hidden), dropout=float(params.get("dropout", 0.0)),
                batch_norm=bool(params.get("batch_norm", defaults["batch_norm"])), **extra)
    except (TypeError, ValueError) as exc:
        raise _Tampered(f"{what} declares no valid architecture ({_one_line(exc)})") from None
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}, n_params


def _array_header(zf, info):
    """(shape, dtype) from an .npy member's header, reading the header only."""
    fmt = np.lib.format
    with zf.open(info) as f:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(f)
        return tuple(int(v) for v in shape), dtype, f.tell()


def _check_archive(path):
    """ValueError (naming ``path``) for a file whose sizes disagree with what it declares,
    before skops reads any of it."""
    def refuse(why):
        raise ValueError(f"{path}: not a model written by xanesnet_sk.serialization.save_safe "
                         f"({why}); it was not loaded")

    try:
        size = path.stat().st_size
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"{path}: not a skops model file ({_one_line(exc)})") from None
    with zf:
        infos = {info.filename: info for info in zf.infolist()}
        total = sum(info.file_size for info in infos.values())
        if total > MAX_EXPANSION * size + _SLACK:
            refuse(f"its members would take {total / 2**20:.0f} MiB uncompressed, "
                   f"{total / size:.0f} times the file's own size")
        if "schema.json" not in infos:
            raise ValueError(f"{path}: not a skops model file (no schema.json)")
        try:
            headers = {}
            for name, info in infos.items():
                if name.endswith(".npy"):
                    shape, dtype, offset = _array_header(zf, info)
                    if dtype.hasobject:
                        refuse(f"array {name} holds Python objects")
                    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    if nbytes > info.file_size - offset:
                        refuse(f"array {name} claims shape {shape} of {dtype}, {nbytes} bytes, "
                               f"but holds {info.file_size - offset}")
                    headers[name] = shape
            schema = json.loads(zf.read("schema.json"))
        except (ValueError, OSError, zipfile.BadZipFile, EOFError, RecursionError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(f"{path}:"):
                raise
            refuse(f"unreadable contents: {_one_line(exc)}")
    try:
        if _plain(schema["content"]["format"]) != SAFE_FORMAT:
            return  # load_safe says what it is not
        nets = _net_nodes(schema)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError):
        return  # the structure is checked after loading, with the payload in hand
    for what, node in nets:
        try:
            params, attrs = _plain(node["params"]), _plain(node["attrs"])
            weights = node["weights"]["content"]
        except (KeyError, TypeError, AttributeError, ValueError, RecursionError):
            return
        if not isinstance(params, dict) or not isinstance(attrs, dict):
            return
        try:
            expected, _ = _expected_shapes(params, attrs, what)
        except _Tampered as exc:
            refuse(str(exc))
        if set(weights) != set(expected):
            odd = sorted(set(weights) ^ set(expected))[0]
            refuse(f"{what}'s weights do not match its declared architecture ({odd!r})")
        for key, shape in expected.items():
            file = weights[key].get("file") if isinstance(weights[key], dict) else None
            got = headers.get(file)
            if got != shape:
                refuse(f"{what}'s weight {key} has shape {got}, but its declared "
                       f"architecture (n_features_in_={attrs['n_features_in_']}, hidden_sizes="
                       f"{params.get('hidden_sizes')}, n_outputs_={attrs['n_outputs_']}) "
                       f"gives {shape}")
