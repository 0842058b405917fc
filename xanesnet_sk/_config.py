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
      absorber: 0       #   index of the absorbing atom in every structure
    preprocessing:      # feature filters, before standard scaling
      variance_drop: 0.25          # share of the lowest-variance features dropped
      correlation_threshold: null  # drop one of each pair with |r| above this (null: off)
    model:              # any xanesnet_sk.model.XANESNetRegressor parameter, e.g.
      max_epochs: 300
      lr: 0.001
      batch_size: 32

Which keys ``preprocessing`` and ``model`` accept is read from
:func:`xanesnet_sk.pipeline.make_xanesnet_pipeline` and the regressor's
``get_params`` (``xanesnet-sk learn --help`` lists them); ``wacsf`` takes the
keys of :class:`wacsf.WACSFTransformer`.  An unknown section or key, or a value
the estimator rejects, is an error that names it.  Command-line options
(``--epochs``, ``--seed``, ``--r-cut`` ...) override the file.
"""

import inspect
from pathlib import Path

__all__ = ["load_config", "validate_config", "SECTIONS"]

#: The sections of a configuration file, in order.
SECTIONS = ("wacsf", "preprocessing", "model")

#: WACSFTransformer parameters the CLI sets itself (not from the file).
_WACSF_RESERVED = {"progress"}


class ConfigError(ValueError):
    """An invalid configuration file (unknown section or key, bad value)."""


def wacsf_keys():
    """The keys the ``wacsf`` section accepts."""
    from wacsf import WACSFTransformer

    return sorted(set(WACSFTransformer().get_params()) - _WACSF_RESERVED)


def preprocessing_keys():
    """The keys the ``preprocessing`` section accepts (from make_xanesnet_pipeline)."""
    from .pipeline import make_xanesnet_pipeline

    skip = {"featurise", "random_state", "wacsf_params", "model_params", "wacsf", "model",
            "verbose", "callbacks"}
    params = inspect.signature(make_xanesnet_pipeline).parameters
    return sorted(
        name for name, p in params.items()
        if name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def model_keys():
    """The keys the ``model`` section accepts (the regressor's parameters)."""
    from .model import XANESNetRegressor

    skip = {"random_state", "verbose", "callbacks", "module"}
    return sorted(k for k in XANESNetRegressor().get_params(deep=False) if k not in skip)


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
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
            if key not in allowed:
                raise ConfigError(f"{source}: unknown key {section}.{key}; "
                                  f"accepted keys: {', '.join(allowed)}")
        config[section] = dict(values)
    return config
