"""YAML run configuration for ``xanesnet-sk learn`` / ``validate`` / ``featurise``.

In the spirit of XANESNET's input files, one YAML mapping with up to three
sections; every key is optional and anything left out keeps its default::

    wacsf:              # the featuriser: any wacsf.WACSFTransformer parameter
      r_cut: 6.0        #   cutoff radius (Angstrom)
      n_g2: 32          #   radial G2 functions
      n_g4: 64          #   angular G4 functions (divisible by |lambdas| * |zetas|)
      g2_scheme: shifted
      g4_scheme: centred
      g4_span: xanesnet #   or "spanning"
      lambdas: [1, -1]
      zetas: [1, 2, 4, 8]
      absorber: auto    #   atoms.info["absorber"] (recorded by the data), else atom 0;
                        #   or an index in every structure
    preprocessing:      # make_xanesnet_pipeline's filters and scaling
      variance_drop: 0.0           # share of lowest-variance features dropped (paper: 0.25; null:
                                   #   constant features only)
      correlation_threshold: null  # drop features with |r| above this to a kept one (null: off)
      standardize_targets: true    # standardise each energy point of the spectra
    model:              # xanesnet_sk.model.XANESNetRegressor parameters
      hidden_sizes: [512, 512]
      dropout: 0.1
      batch_norm: true
      lr: 0.001
      lr_schedule: cosine          # or constant (the paper)
      max_epochs: auto             # 300, or more to reach 10,000 steps on small data
      batch_size: 32
      n_threads: null              # torch threads (null: torch's default)
      device: cpu
      optimizer__weight_decay: 0.0 # routed skorch arguments (optimizer__*, module__*) too

Which keys ``preprocessing`` and ``model`` accept is read from
:func:`xanesnet_sk.pipeline.make_xanesnet_pipeline` and the regressor's
``get_params`` (``xanesnet-sk learn --help`` lists them); ``wacsf`` takes the
keys of :class:`wacsf.WACSFTransformer`.  An unknown section or key, or a value
the estimator rejects, is an error that names it.  Command-line options
(``--epochs``, ``--seed``, ``--r-cut`` ...) override the file.
"""

import inspect
from pathlib import Path

import yaml

from wacsf import WACSFTransformer

# Imports inside functions: the model classes (torch) only when a configuration builds one.

__all__ = ["load_config", "validate_config", "SECTIONS"]

#: The sections of a configuration file, in order.
SECTIONS = ("wacsf", "preprocessing", "model")

#: WACSFTransformer parameters the CLI sets itself (not from the file).
_WACSF_RESERVED = {"progress"}


class ConfigError(ValueError):
    """An invalid configuration file (unknown section or key, bad value)."""


def wacsf_keys():
    """The keys the ``wacsf`` section accepts."""
    return sorted(set(WACSFTransformer().get_params()) - _WACSF_RESERVED)


def preprocessing_keys():
    """The keys the ``preprocessing`` section accepts (from make_xanesnet_pipeline)."""
    from .pipeline import make_xanesnet_pipeline

    skip = {"featurise", "random_state", "wacsf_params", "memory"}
    params = inspect.signature(make_xanesnet_pipeline).parameters
    return sorted(
        name for name, p in params.items()
        if name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def model_keys():
    """The keys the ``model`` section accepts: the regressor's plain-valued parameters.

    Class-valued parameters (``module``, ``optimizer``, ``criterion``, the
    iterators) cannot be written in YAML; routed arguments
    (``optimizer__weight_decay``, ``module__init``) are accepted as well.
    """
    from .model import XANESNetRegressor

    skip = {"random_state", "verbose", "callbacks", "train_split", "warm_start", "compile",
            "predict_nonlinearity", "torch_load_kwargs", "use_caching"}
    plain = (bool, int, float, str, tuple, list, type(None))
    params = XANESNetRegressor().get_params(deep=False)
    return sorted(k for k, v in params.items() if k not in skip and isinstance(v, plain))


#: Routed (skorch) argument prefixes the ``model`` section accepts beside its keys.
_ROUTED = ("module__", "optimizer__")

_KEYS = {"wacsf": wacsf_keys, "preprocessing": preprocessing_keys, "model": model_keys}


def load_config(path):
    """Read and validate a YAML configuration file.

    Parameters
    ----------
    path : str or path-like
        The YAML file.

    Returns
    -------
    dict
        ``{"wacsf": {...}, "preprocessing": {...}, "model": {...}}``, each
        holding only the keys the file sets.

    Raises
    ------
    ConfigError
        Naming the file and the offending section or key.
    FileNotFoundError
        When there is no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a UTF-8 byte-order mark is dropped
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start} is "
                          f"{exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8") \
            from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") \
            from None
    return validate_config(raw, source=str(path))


def validate_config(raw, source="config"):
    """Check the sections and keys of a configuration mapping.

    Parameters
    ----------
    raw : dict or None
        The parsed YAML (None, an empty file, is an empty configuration).
    source : str, default="config"
        Name used in error messages (the file).

    Returns
    -------
    dict
        Every section of :data:`SECTIONS`, each a (possibly empty) dict.

    Raises
    ------
    ConfigError
        For a document that is not a mapping, an unknown section, a section
        that is not a mapping, or an unknown key (with the accepted ones).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with sections {list(SECTIONS)}, "
                          f"got a {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown section {unknown[0]!r}; "
                          f"sections are {', '.join(SECTIONS)}")
    config = {}
    for section in SECTIONS:
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be a mapping of keys to "
                              f"values, got {type(values).__name__}")
        allowed = _KEYS[section]() if values else ()
        for key in values:
            routed = section == "model" and str(key).startswith(_ROUTED)
            if key not in allowed and not routed:
                raise ConfigError(f"{source}: unknown key {section}.{key}; "
                                  f"accepted keys: {', '.join(allowed)}")
        if values:
            _check_numeric_strings(section, values, source)
        config[section] = dict(values)
    return config


def _defaults(section):
    """Default values of a section's keys (for telling numbers from text)."""
    if section == "wacsf":
        return WACSFTransformer().get_params()
    if section == "model":
        from .model import XANESNetRegressor

        return XANESNetRegressor().get_params(deep=False)
    from .pipeline import make_xanesnet_pipeline

    return {name: p.default for name, p in
            inspect.signature(make_xanesnet_pipeline).parameters.items()}


def _is_number_text(value):
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _check_numeric_strings(section, values, source):
    """ConfigError for a number that YAML read as text (PyYAML reads ``1e-3`` as a string).

    YAML 1.1, which PyYAML follows, takes a float only with a dot in the
    mantissa (``1.0e-3``); ``1e-3`` is the string ``"1e-3"``, which the
    estimator would reject later with a puzzling message.
    """
    defaults = _defaults(section)
    for key, value in values.items():
        if isinstance(defaults.get(key), str):
            continue  # a text parameter: any text is the estimator's to judge
        items = value if isinstance(value, (list, tuple)) else [value]
        text = next((v for v in items if _is_number_text(v)), None)
        if text is not None:
            hint = ""
            if "e" in text.lower() and "." not in text.lower().split("e")[0]:
                mantissa, exponent = text.lower().split("e", 1)
                hint = (f"; YAML (PyYAML) reads {text} as text: write it with a dot, "
                        f"{mantissa}.0e{exponent}, or as {float(text):g}")
            raise ConfigError(f"{source}: {section}.{key} is the string {text!r}, not a "
                              f"number{hint}")
