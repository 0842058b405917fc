"""Data and model files for the command line: loading, checking, saving.

A data set reaches a verb either as two directories (``--xyz`` structures and
``--xanes`` spectra, matched by file stem) or as one ``--data`` ``.npz``
file, which holds either precomputed features ``x`` (like
``tmqm_k_edge_v.npz`` or the output of ``xanesnet-sk featurise``) or
structures.  Either way the verb gets a :class:`CLIData`.

A model is a joblib pickle (or a ``.skops`` file) of the fitted pipeline
plus a JSON sidecar (``MODEL.json`` beside ``MODEL``: ``model.joblib.json``
for ``model.joblib``; models saved before have ``model.json``, still read)
with what the pipeline itself does not carry: the energy grid, the wACSF
parameters of feature-trained models, feature names, versions and the training-set size.
"""

import argparse
import datetime
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._common import (
    CLIError,
    StagedOutputs,
    existing_dir,
    existing_file,
    output_file,
    refuse_existing,
    write_json,
)

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["CLIData", "add_data_options", "load_data", "save_model", "load_model"]

#: What a model's sidecar says it is.
MODEL_FORMAT = "xanesnet-sk model"


@dataclass
class CLIData:
    """One data set as the verbs see it.

    Attributes
    ----------
    X : list of ase.Atoms or ndarray of shape (n_samples, n_features)
        Structures (``kind == "structures"``) or precomputed features.
    y : ndarray of shape (n_samples, n_points) or None
        Spectra, None when only structures are given.
    energies : ndarray of shape (n_points,) or None
        Energy grid of ``y`` (eV).
    names : list of str
        One name per sample (file stem, or ``sample_<i>``).
    kind : {"structures", "features"}
    source : str
        Where the data came from, for messages and the model sidecar.
    wacsf_params : dict or None
        wACSF parameters the features were made with, when known.
    feature_names : list of str or None
    """

    X: object
    y: np.ndarray | None
    energies: np.ndarray | None
    names: list
    kind: str
    source: str
    wacsf_params: dict | None = None
    feature_names: list | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.names)


def add_data_options(parser, need_spectra=True, several=False):
    """Add ``--xyz``/``--xanes`` and ``--data`` (mutually exclusive ways in) to ``parser``.

    With ``several`` (``learn``), each ``--data`` or ``--xyz``/``--xanes`` pair
    may be repeated to give several data sets, recorded in order in
    ``args.data_sets`` (:class:`DataSetAction`), each optionally followed by
    ``--element``.
    """
    group = parser.add_argument_group(
        "data (either --xyz with --xanes, or --data)" if need_spectra
        else "data (either --xyz or --data)")
    each = {"action": DataSetAction} if several else {}
    group.add_argument("--xyz", metavar="DIR", **each,
                       help="directory of .xyz structures (the absorbing atom is the wACSF "
                            "'absorber' of the config or the model: atom 0 by default)")
    if need_spectra:
        group.add_argument("--xanes", metavar="DIR", **each,
                           help="directory of spectra (FDMNES/ORCA text), one per structure, "
                                "matched to the .xyz files by file stem")
        group.add_argument("--resample-to-first", action="store_true",
                           help="spectra on different energy grids: resample each linearly "
                                "onto the grid of the first (in file-name order) instead of "
                                "failing")
        group.add_argument("--unmatched", choices=["raise", "drop"], default="raise",
                           help="structures without a spectrum and spectra without a "
                                "structure: fail, naming them (default), or drop them with a "
                                "note")
    group.add_argument("--data", metavar="FILE.npz", **each,
                       help="an .npz data set instead: precomputed features 'x' (and spectra "
                            "'y'; optional 'energies', 'names', 'feature_names'), e.g. "
                            "tmqm_k_edge_v.npz or the output of 'featurise'; or structures")
    if several:
        group.add_argument("--element", metavar="SYMBOL", action=DataSetAction,
                           help="several data sets (repeat --data, or --xyz with --xanes): one "
                                "model for all their absorbing elements, the element an input "
                                "of the net; --element after a set names its absorbing element "
                                "(needed for --data features; structures say it themselves: "
                                "the element of the absorbing atom)")
    return group


class DataSetAction(argparse.Action):
    """Record ``--data``, ``--xyz``, ``--xanes`` and ``--element`` in order in
    ``namespace.data_sets`` (a list of dicts, one per data set), and the last
    value of each under its own name as usual.

    ``--data`` and ``--xyz`` start a set; ``--xanes`` completes the last
    ``--xyz`` set without spectra (or starts one, which a following ``--xyz``
    completes); ``--element`` names the absorbing element of the set before
    it.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        sets = list(getattr(namespace, "data_sets", None) or [])
        last = sets[-1] if sets else None
        if self.dest == "element":
            if last is None or "element" in last:
                parser.error(f"{option_string} {values}: --element names the absorbing element "
                             "of the data set given just before it (--data FILE or --xyz DIR "
                             "--xanes DIR); give it once after each set")
            last["element"] = values
        elif self.dest == "xanes" and last is not None and "xyz" in last and "xanes" not in last:
            last["xanes"] = values
        elif self.dest == "xyz" and last is not None and set(last) <= {"xanes", "element"} \
                and "xanes" in last:
            last["xyz"] = values  # --xanes DIR --xyz DIR: one set
        else:
            sets.append({self.dest: values})
        namespace.data_sets = sets
        setattr(namespace, self.dest, values)


def load_data(args, report, need_spectra=True):
    """The data set the options name, as a :class:`CLIData`.

    Parameters
    ----------
    args : argparse.Namespace
        With ``xyz``, ``xanes`` (when ``need_spectra``), ``data``.
    report : Reporter
    need_spectra : bool, default=True
        Whether spectra are required.

    Returns
    -------
    CLIData
    """
    xyz, xanes, data = args.xyz, getattr(args, "xanes", None), args.data
    if data is not None and (xyz is not None or xanes is not None):
        raise CLIError("give either --data or --xyz" + ("/--xanes" if need_spectra else "")
                       + ", not both")
    if data is not None:
        loaded = _load_npz(existing_file(data, "--data", suffixes=(".npz",)))
    elif xyz is None:
        raise CLIError("no data: give --xyz DIR" + (" --xanes DIR" if need_spectra else "")
                       + " or --data FILE.npz")
    elif need_spectra:
        if xanes is None:
            raise CLIError("--xyz needs --xanes DIR (the spectra to learn from or compare with)")
        loaded = _load_dirs(existing_dir(xyz, "--xyz"), existing_dir(xanes, "--xanes"),
                            args.unmatched, report,
                            grid="first" if getattr(args, "resample_to_first", False) else None)
    else:
        loaded = _load_structures(existing_dir(xyz, "--xyz"))
    if need_spectra and loaded.y is None:
        raise CLIError(f"{loaded.source}: no spectra ('y') in this data set")
    if need_spectra:  # spectra a verb learns from or scores against
        _check_spectra(loaded)
    return loaded


def _check_spectra(data):
    """CLIError for spectra no model can learn from or be scored on, naming the sample.

    The energy grid must have one value per spectrum point and increase
    strictly; spectra must be finite and not zero everywhere (delta mu divides
    by the spectrum's mean magnitude).
    """
    y = np.asarray(data.y, dtype=float)
    if y.ndim != 2 or len(y) != len(data.names):
        raise CLIError(f"{data.source}: spectra must be (samples x points), one per sample; "
                       f"got shape {y.shape} for {len(data.names)} samples")
    if data.energies is not None:
        energies = np.asarray(data.energies, dtype=float).reshape(-1)
        if energies.size != y.shape[1]:
            raise CLIError(f"{data.source}: the energy grid has {energies.size} points but the "
                           f"spectra have {y.shape[1]}")
        if not np.all(np.isfinite(energies)):
            raise CLIError(f"{data.source}: the energy grid contains NaN or inf")
        steps = np.diff(energies)
        if np.any(steps <= 0):
            k = int(np.argmax(steps <= 0)) + 1
            raise CLIError(f"{data.source}: energies must increase strictly, but point {k} "
                           f"({float(energies[k]):g} eV) follows {float(energies[k - 1]):g} eV")
    finite = np.isfinite(y).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise CLIError(f"{data.source}: the spectrum of sample {i} ({data.names[i]!r}) contains "
                       f"NaN or inf ({int((~finite).sum())} such spectra)")
    zero = ~np.any(y != 0, axis=1)
    if zero.any():
        i = int(np.argmax(zero))
        raise CLIError(f"{data.source}: the spectrum of sample {i} ({data.names[i]!r}) is zero "
                       f"at every energy ({int(zero.sum())} such spectra): delta mu is "
                       "undefined for it; remove it from the data")


def structure_files(directory, option="--xyz"):
    """The structure files of ``directory`` that the verbs read, sorted by name.

    The suffixes and names :func:`wacsf.read_structures` reads from a
    directory (``.xyz``, ``.extxyz``, ``.cif``, ``.vasp``, ``.poscar``,
    ``POSCAR*``, ``CONTCAR*``); hidden files are left out, as
    :func:`~xanesnet_sk.load_dataset` leaves them out.
    """
    from ..datasets import XYZ_SUFFIXES

    directory = Path(directory)
    files = sorted(p for p in directory.iterdir()
                   if p.is_file() and not p.name.startswith(".") and (
                       p.suffix.lower() in XYZ_SUFFIXES
                       or p.name.upper().startswith(("POSCAR", "CONTCAR"))))
    if not files:
        raise CLIError(f"{option} {str(directory)!r}: no structure files (.xyz, .extxyz, .cif, "
                       ".vasp, .poscar, POSCAR, CONTCAR) in this directory")
    return files


def structure_name(path):
    """A structure file's sample name: its stem (``POSCAR`` for ``POSCAR``)."""
    path = Path(path)
    return path.stem or path.name


def read_one_structure(path):
    """The one structure of the file ``path``, its ``info["name"]`` set to the file's stem.

    The file's stem names the sample (the name of its output files), whatever
    the file says inside (an extended xyz ``name=`` key, a CIF block name);
    a file with several structures is refused, naming it (the verbs read
    one structure per file).
    """
    from wacsf import read_structures

    frames = read_structures([path], index=":")
    if len(frames) != 1:
        what = "no structure" if not frames else f"{len(frames)} structures (frames)"
        raise ValueError(f"{path}: holds {what}; the command line reads one structure per "
                         "file: write each structure to its own file (e.g. with ase.io.write)")
    atoms = frames[0]
    atoms.info["name"] = structure_name(path)
    return atoms


def read_structure_files(files):
    """The one structure of every file (:func:`read_one_structure`), read by
    :func:`wacsf._molecules.read_molecules`: plain xyz files are parsed together into
    flat arrays (a ``Molecules``, which ``WACSFTransformer.transform`` takes as it is),
    every other file by :func:`read_one_structure` itself, so the structures, names,
    errors and warnings are its own.  A list of ``ase.Atoms`` when any structure is
    periodic."""
    from wacsf._molecules import read_molecules

    return read_molecules(files, fallback=lambda path: [read_one_structure(path)])


def _load_structures(xyz):
    files = structure_files(xyz)
    try:
        structures = [read_one_structure(path) for path in files]
    except ValueError as exc:
        raise CLIError(f"--xyz: {exc}") from None
    names = [structure_name(path) for path in files]
    return CLIData(structures, None, None, names, "structures", str(xyz))


def _load_dirs(xyz, xanes, unmatched, report, grid=None):
    """Structures and spectra from two directories, through ``datasets.load_dataset``."""
    import warnings

    from ..datasets import GridMismatchError, load_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            dataset = load_dataset(xyz, xanes, on_unmatched=unmatched, grid=grid,
                                   progress=None if not report.quiet else False)
        except GridMismatchError as exc:
            raise CLIError(f"{exc.detail}: give --resample-to-first to resample them onto the "
                           "first spectrum's grid") from None
    for warning in caught:
        report.say(f"note: {warning.message}")
    return _from_dataset(dataset, f"{xyz} + {xanes}")


def _from_dataset(dataset, source):
    """A :class:`CLIData` of a ``datasets.XanesDataset`` (structures preferred over features)."""
    if dataset.structures is not None:
        X, kind = list(dataset.structures), "structures"
    else:
        X, kind = dataset.features, "features"
    names = None if dataset.feature_names is None else [str(n) for n in dataset.feature_names]
    extra = {} if dataset.e0 is None else {"e0": np.asarray(dataset.e0, dtype=float)}
    return CLIData(X, dataset.spectra, dataset.energies, list(dataset.names), kind, source,
                   feature_names=names, extra=extra)


def _load_npz(path):
    """Features (``x``) or structures from an ``.npz`` file."""
    from ..datasets import read_npz_arrays

    try:
        arrays = read_npz_arrays(path)
    except ValueError as exc:
        raise CLIError(f"--data {exc}") from None
    if "x" not in arrays:
        return _npz_structures(path, arrays)
    try:
        x = np.asarray(arrays["x"], dtype=float)
    except (TypeError, ValueError):
        raise CLIError(f"--data {str(path)!r}: 'x' is not numeric (dtype "
                       f"{arrays['x'].dtype})") from None
    if x.ndim != 2:
        raise CLIError(f"--data {str(path)!r}: 'x' must be 2-D (samples x features), "
                       f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        i = int(np.argmin(np.isfinite(x).all(axis=1)))
        raise CLIError(f"--data {str(path)!r}: 'x' contains NaN or inf (first in sample {i})")
    y = arrays.get("y")
    if y is not None:
        y = np.asarray(y, dtype=float).reshape(len(y), -1)
        if len(y) != len(x):
            raise CLIError(f"--data {str(path)!r}: 'x' has {len(x)} samples but 'y' has "
                           f"{len(y)}")
    names = [str(n) for n in np.ravel(arrays["names"])] if "names" in arrays else [
        f"sample_{i}" for i in range(len(x))]
    params = _npz_params(path, arrays)
    feature_names = ([str(n) for n in np.ravel(arrays["feature_names"])]
                     if "feature_names" in arrays else None)
    if len(names) != len(x):
        raise CLIError(f"--data {str(path)!r}: 'names' has {len(names)} entries but 'x' has "
                       f"{len(x)} samples")
    if feature_names is not None and len(feature_names) != x.shape[1]:
        raise CLIError(f"--data {str(path)!r}: 'feature_names' has {len(feature_names)} "
                       f"entries but 'x' has {x.shape[1]} features")
    energies = _npz_energies(arrays, y)
    extra = {"e0": np.asarray(arrays["e0"], dtype=float)} if "e0" in arrays else {}
    return CLIData(x, y, energies, names, "features", str(path), params, feature_names, extra)


def _npz_params(path, arrays):
    """The npz's ``wacsf_params`` (a JSON object), or None."""
    if "wacsf_params" not in arrays:
        return None
    try:
        params = json.loads(str(arrays["wacsf_params"]))
    except ValueError as exc:
        raise CLIError(f"--data {str(path)!r}: 'wacsf_params' is not valid JSON ({exc})") \
            from None
    if not isinstance(params, dict):
        raise CLIError(f"--data {str(path)!r}: 'wacsf_params' must be a JSON object, got a "
                       f"JSON {_json_kind(params)}")
    return params


def _npz_energies(arrays, y):
    """The npz's ``energies``, else XANESNET's grid for 226-point spectra, else indices."""
    if "energies" in arrays:
        return np.asarray(arrays["energies"], dtype=float)
    if y is None:
        return None
    from ..spectra import xanesnet_grid

    return xanesnet_grid(y.shape[1])


def _npz_structures(path, arrays):
    """Structures stored in an npz by ``datasets.save_dataset``; CLIError if it holds none."""
    from ..datasets import load_npz

    if not {"positions", "numbers", "offsets"} <= set(arrays):
        raise CLIError(f"--data {str(path)!r}: neither features 'x' nor structures "
                       f"('positions', 'numbers', 'offsets') in this file (keys: "
                       f"{', '.join(sorted(arrays)) or 'none'})")
    return _from_dataset(load_npz(path, energies=_npz_energies(arrays, arrays.get("y"))),
                         str(path))


# ------------------------------------------------------------------ models


def sidecar_path(model_path):
    """The JSON sidecar of a model file: the file's name plus ``.json``.

    ``model.joblib`` -> ``model.joblib.json``, ``model.skops`` ->
    ``model.skops.json``: each model file has its own, so that a
    ``model.joblib`` and a ``model.skops`` side by side do not share (and
    overwrite) one.  Models saved before this rule have ``model.json``
    (:func:`legacy_sidecar_path`), which :func:`load_model` still reads.
    """
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def legacy_sidecar_path(model_path):
    """The sidecar name of models saved by earlier versions: ``model.joblib`` ->
    ``model.json`` (shared by every model file of that stem)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".json")


def _model_format(path):
    return "skops (safe)" if Path(path).suffix.lower() == SAFE_SUFFIX else "joblib (pickle)"


def _versions():
    import sklearn
    import skorch
    import torch

    import wacsf

    from .. import __version__

    return {
        "xanesnet_sk": __version__, "wacsf": wacsf.__version__, "numpy": np.__version__,
        "scikit-learn": sklearn.__version__, "torch": torch.__version__,
        "skorch": skorch.__version__, "python": platform.python_version(),
    }


#: Model files in the safe format (xanesnet_sk.serialization); any other name is joblib.
SAFE_SUFFIX = ".skops"


def model_output(path, overwrite=False):
    """Check a model's output name before any work: its suffix, and that neither it nor its
    sidecar exists (unless ``overwrite``).  Returns the path."""
    path = output_file(path, "--output")
    if path.suffix.lower() == ".json":
        raise CLIError(f"--output {str(path)!r}: .json is the sidecar's suffix; "
                       "name the model e.g. model.joblib (or model.skops, the safe format)")
    if path.suffix.lower() == SAFE_SUFFIX:
        _need_skops("--output")
    refuse_existing([path, sidecar_path(path)], overwrite)
    return path


def _need_skops(option):
    try:
        import skops.io  # noqa: F401
    except ImportError:
        raise CLIError(f"{option}: the safe {SAFE_SUFFIX} format needs skops: "
                       "pip install 'xanesnet-sk[safe]'") from None


def save_model(path, model, metadata, report, overwrite=False):
    """Pickle ``model`` with joblib and write its JSON sidecar.

    Both are written under temporary names and renamed into place together,
    so an interrupted or failed save leaves neither.

    Parameters
    ----------
    path : path-like
        The model file (``.joblib`` suggested); the sidecar goes to
        :func:`sidecar_path`.
    model : estimator
        The fitted pipeline.
    metadata : dict
        What the sidecar records besides the format and versions.
    report : Reporter
    overwrite : bool, default=False
        Replace an existing model (and sidecar); else CLIError.
    """
    import joblib

    path = model_output(path, overwrite)
    created = datetime.datetime.now().isoformat(timespec="seconds")
    meta = {"format": MODEL_FORMAT, "created": created, "versions": _versions(), **metadata}
    safe = path.suffix.lower() == SAFE_SUFFIX
    meta["model_format"] = _model_format(path)
    with StagedOutputs(overwrite) as staged:
        if safe:
            from ..serialization import save_safe

            try:
                save_safe(model, staged.path(path))
            except ValueError as exc:
                raise CLIError(f"--output {str(path)!r}: {exc}") from None
        else:
            joblib.dump(model, staged.path(path))
        write_json(staged.path(sidecar_path(path)), meta)
    report.wrote("model", path)
    report.wrote("model metadata", sidecar_path(path))


def load_model(path):
    """Load a model saved by :func:`save_model`.

    Returns
    -------
    model : estimator
    metadata : dict
        The sidecar (empty when there is none).

    Notes
    -----
    Loading a pickle runs code from it: load only models you made or trust.
    A ``.skops`` model (:mod:`xanesnet_sk.serialization`) loads without
    running code from the file.
    """
    import joblib

    path = existing_file(path, "--model")
    if path.suffix.lower() == SAFE_SUFFIX:
        from ..serialization import load_safe

        _need_skops("--model")
        try:
            model = load_safe(path)
        except ValueError as exc:
            raise CLIError(f"--model {exc}") from None
    else:
        try:
            model = joblib.load(path)
        except Exception as exc:  # pickle raises many types; say what it was
            raise CLIError(f"--model {str(path)!r}: cannot load this file as a joblib model "
                           f"({type(exc).__name__}: {exc})") from exc
    if not hasattr(model, "predict"):
        raise CLIError(f"--model {str(path)!r}: holds a {type(model).__name__}, not a model "
                       "saved by 'xanesnet-sk learn'")
    meta = {}
    side = _find_sidecar(path)
    if side is not None:
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CLIError(f"{side}: the model's metadata is not valid JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise CLIError(f"{side}: the model's metadata must be a JSON object (a mapping of "
                           f"keys to values), got a JSON {_json_kind(meta)}")
        _check_sidecar(meta, side)
    return model, meta


def _find_sidecar(path):
    """The model's sidecar: its own (``NAME.json``), else an older model's ``STEM.json``
    unless that one says it belongs to a model of the other format; None if neither."""
    own = sidecar_path(path)
    if own.is_file():
        return own
    legacy = legacy_sidecar_path(path)
    if legacy == own or not legacy.is_file():
        return None
    try:
        recorded = json.loads(legacy.read_text(encoding="utf-8")).get("model_format")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return legacy  # its own errors are reported when it is read
    if recorded is not None and recorded != _model_format(path):
        return None  # the sidecar of the other model file of this stem
    return legacy


def _check_sidecar(meta, side):
    """CLIError naming the sidecar and key when a value the verbs use has the wrong type."""
    def numbers(key):
        value = meta.get(key)
        if value is None:
            return
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            array = None
        if array is None or array.ndim != 1 or not np.all(np.isfinite(array)):
            raise CLIError(f"{side}: {key!r} must be a list of finite numbers")

    numbers("energies")
    numbers("mean_spectrum")
    if meta.get("energies") is not None and meta.get("mean_spectrum") is not None \
            and len(meta["energies"]) != len(meta["mean_spectrum"]):
        raise CLIError(f"{side}: 'energies' and 'mean_spectrum' differ in length")
    names = meta.get("feature_names")
    if names is not None and not (isinstance(names, list)
                                  and all(isinstance(n, str) for n in names)):
        raise CLIError(f"{side}: 'feature_names' must be a list of strings")
    for key in ("n_features", "n_points"):
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise CLIError(f"{side}: {key!r} must be a positive integer, got {value!r}")
    params = meta.get("wacsf_params")
    if params is not None and not isinstance(params, dict):
        raise CLIError(f"{side}: 'wacsf_params' must be a JSON object or null")


def _json_kind(value):
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)
