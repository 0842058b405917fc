"""``learn`` on several data sets: one model for several absorbing elements.

Each data set (``--data FILE.npz``, or ``--xyz DIR --xanes DIR``, repeated)
brings its spectra on its own edge-relative energy grid; the grids must have
the same number of points.  The absorbing element of each sample is

- for structures, the element of its absorbing atom (the wACSF ``absorber``
  of the config: atom 0, or ``atoms.info["absorber"]``, by default), and
- for precomputed features, the ``--element`` given after the set.

The features (the structures' wACSF with the config's parameters, or the
files' own) get the absorber's atomic number as a last column
(:func:`~xanesnet_sk.transfer.add_element_column`), and the saved model is
:func:`~xanesnet_sk.transfer.make_universal_pipeline`'s: an
``ElementEncoder`` (one-hot absorber) before the usual filters, scaler and
net.  ``predict`` appends the element itself: from the absorbing atom of
each structure, or from ``--absorber-element`` for features.
"""

import argparse

import numpy as np

from ._common import CLIError

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["several_sets", "atomic_number"]


def atomic_number(symbol, option="--element"):
    """The atomic number of an element symbol (``"Fe"``) or number (``"26"``); CLIError else."""
    from ase.data import atomic_numbers

    text = str(symbol).strip()
    if text.isdigit() and 1 <= int(text) <= 118:
        return int(text)
    z = atomic_numbers.get(text.capitalize())
    if z is None or z == 0:
        raise CLIError(f"{option} {symbol!r}: not an element; give a symbol such as Fe or an "
                       "atomic number such as 26")
    return int(z)


def _describe_set(spec):
    if "data" in spec:
        return f"--data {spec['data']}"
    return f"--xyz {spec.get('xyz')} --xanes {spec.get('xanes')}"


def _load_sets(args, report, sets):
    """A CLIData per data set, in the order given."""
    from ._data import load_data

    loaded = []
    for spec in sets:
        if "data" not in spec and not ("xyz" in spec and "xanes" in spec):
            raise CLIError(f"{_describe_set(spec)}: each data set is --data FILE.npz or "
                           "--xyz DIR with --xanes DIR")
        sub = argparse.Namespace(**vars(args))
        sub.data, sub.xyz, sub.xanes = spec.get("data"), spec.get("xyz"), spec.get("xanes")
        loaded.append(load_data(sub, report))
    first = loaded[0]
    for other in loaded[1:]:
        if other.y.shape[1] != first.y.shape[1]:
            raise CLIError(f"{other.source} has {other.y.shape[1]} energy points per spectrum but "
                           f"{first.source} has {first.y.shape[1]}: one model for several data "
                           "sets needs each set's spectra on an edge-relative grid of the same "
                           "length (resample them)")
    return loaded


def _features_of(data, spec, wacsf, report):
    """(features, atomic number of each sample's absorber) of one data set."""
    from sklearn.base import clone

    given = None if "element" not in spec else atomic_number(spec["element"])
    if data.kind == "structures":
        featuriser = clone(wacsf).set_params(progress=not report.quiet)
        try:
            X = featuriser.fit_transform(data.X)
        except ValueError as exc:
            raise CLIError(f"{data.source}: {exc}") from exc
        if len(X) != len(data.y):
            raise CLIError(f"{data.source}: {len(X)} absorbing sites for {len(data.y)} spectra "
                           "(the config's wacsf.absorber_element featurises every site); "
                           "several data sets need one absorbing atom per structure: set "
                           "wacsf.absorber instead")
        sites = np.asarray(featuriser.sites_, dtype=np.int64).reshape(-1, 2)
        z = np.array([data.X[s].numbers[a] for s, a in sites], dtype=np.int64)
        if given is not None and np.any(z != given):
            k = int(np.argmax(z != given))
            raise CLIError(f"{data.source}: the absorbing atom of {data.names[k]!r} is "
                           f"element {int(z[k])}, not --element {spec['element']}; set the "
                           "absorber (config wacsf.absorber) or drop --element")
        return X, z
    if given is None:
        raise CLIError(f"{data.source}: the absorbing element of these precomputed features is "
                       f"unknown: give --element SYMBOL after {_describe_set(spec)}")
    return np.asarray(data.X, dtype=float), np.full(len(data), given, dtype=np.int64)


def _check_feature_sets(loaded, features, config):
    """CLIError when the sets' features differ in length or in their wACSF parameters."""
    from ._featurise import portable_params

    first = features[0]
    for data, X in zip(loaded[1:], features[1:]):
        if X.shape[1] != first.shape[1]:
            raise CLIError(f"{data.source} has {X.shape[1]} features per sample but "
                           f"{loaded[0].source} has {first.shape[1]}: give every data set the "
                           "same wACSF parameters (the config's, for structures)")
    from wacsf import WACSFTransformer

    ours = portable_params(WACSFTransformer(**config["wacsf"]).get_params())
    for data in loaded:
        if data.kind != "features" or data.wacsf_params is None:
            continue
        theirs = {**ours, **portable_params(data.wacsf_params)}
        differ = sorted(k for k in set(theirs) | set(ours)
                        if k not in ("absorber", "absorber_element", "on_missing_absorber",
                                     "chunk_size") and theirs.get(k) != ours.get(k))
        if differ:
            key = differ[0]
            raise CLIError(f"{data.source}: its features were made with the wACSF parameter "
                           f"{key}={theirs.get(key)!r}, the config's is {ours.get(key)!r}; give "
                           "every data set the same wACSF parameters (--config)")


def several_sets(args, report, config, sets):
    """The pooled training data of several data sets.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features + 1)
        Features with the absorber's atomic number as the last column.
    y : ndarray of shape (n_samples, n_points)
    meta : dict
        What the model's sidecar records of the data (elements, sets, wACSF).
    """
    from ase.data import chemical_symbols

    from wacsf import WACSFTransformer

    from ..transfer import add_element_column
    from ._featurise import portable_params

    for flag, name in ((args.inverse, "--inverse"), (args.init_from is not None, "--init-from"),
                       (args.save_on_interrupt, "--save-on-interrupt"),
                       (getattr(args, "resample", False), "--resample")):
        if flag:
            raise CLIError(f"{name} cannot be combined with several data sets (one model for "
                           "several absorbing elements); give one data set")
    loaded = _load_sets(args, report, sets)
    wacsf = WACSFTransformer(**config["wacsf"])
    pairs = [_features_of(data, spec, wacsf, report) for data, spec in zip(loaded, sets)]
    features = [X for X, _ in pairs]
    _check_feature_sets(loaded, features, config)
    X = np.vstack([add_element_column(Xs, zs) for Xs, zs in pairs])
    y = np.vstack([np.asarray(data.y, dtype=float) for data in loaded])
    elements = sorted(set(np.concatenate([zs for _, zs in pairs]).tolist()))
    names = wacsf.get_feature_names_out()
    meta = {
        "input": "features",
        "element_input": "the absorber's atomic number as the last feature column "
                         "(xanesnet_sk.transfer.add_element_column; one-hot encoded by the "
                         "model's ElementEncoder)",
        "absorber_elements": [chemical_symbols[e] for e in elements],
        "absorber_numbers": elements,
        "n_features": int(features[0].shape[1]),
        "feature_names": [str(n) for n in names] if len(names) == features[0].shape[1] else None,
        "wacsf_params": portable_params(wacsf.get_params()),
        "wacsf_params_from": "config",
        "energies": None,  # each set has its own edge-relative grid: see data_sets
        "n_points": int(y.shape[1]),
        "mean_spectrum": y.mean(axis=0),
        "n_train": int(len(y)),
        "training_data": [d.source for d in loaded],
        "data_sets": [
            {"source": d.source, "kind": d.kind, "n_samples": len(d),
             "elements": sorted({chemical_symbols[int(e)] for e in zs}),
             "energies": None if d.energies is None else np.asarray(d.energies, float)}
            for d, (_, zs) in zip(loaded, pairs)],
        "config": config,
    }
    sizes = ", ".join(f"{len(d)} from {d.source}" for d in loaded)
    report.say(f"learn: one model for {', '.join(meta['absorber_elements'])} absorbers: "
               f"{len(y)} samples ({sizes}), {y.shape[1]} energy points")
    return X, y, meta
