"""Measured spectra: read them, normalise them as the field does, bring them onto a model's grid.

A measured K-edge spectrum comes on an absolute energy scale, with its own
E0, background, normalisation, resolution and noise.  Before it can be
compared with a model's prediction (on an edge-relative grid, by default
``linspace(-15, 60, 226)`` eV) it is

1. read: :func:`read_measured` reads the XAS Data Interchange format (XDI
   1.0, ``.xdi``) and plain multi-column text, with the energy and the mu
   (or I0 and It) columns chosen by name or index (a small reader here: the
   format is simple, and reading needs no optional package);
2. normalised: :class:`PreEdgeNormaliser` wraps xraylarch's
   ``larch.xafs.pre_edge`` (E0 at the maximum of dmu/dE or given, a line
   fitted to the pre-edge region, a polynomial to the post-edge region, the
   edge step between them at E0, optional flattening), the reference
   implementation behind Athena;
3. aligned: the normalised spectrum is interpolated onto ``E0 + shift +
   grid`` (never extrapolated: a measurement that does not cover the grid is
   an error).

Normalisation needs xraylarch, an optional extra
(``pip install "xanesnet-sk[experiment]"``); reading does not.

**What range a measurement needs.** The model's grid (``E0 - 15`` to ``E0 +
60`` eV by default) must lie inside the measurement. Larch fits its pre-edge
line over ``[pre1, pre2]`` and its post-edge polynomial over ``[norm1, norm2]``
(eV relative to E0); by default ``pre1`` is the first point, ``pre2`` about a
third of it, ``norm2`` the last point and ``norm1`` about a third of that (at
most 150). A measurement from ``E0 - 50`` (or lower) to ``E0 + 150`` eV (or
higher) gives both fits room away from the edge; one that covers only the
model's grid still works (pre-edge line over -15 to -5 eV, a straight post-edge
line over 20 to 60 eV) but its edge step is less certain. Each window must hold
at least :data:`MIN_FIT_POINTS` points, else an error says which.
"""

import math
import os
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .spectra import LorentzianBroadening

# Imports inside functions: xraylarch, an optional extra ([experiment]), only when used.

__all__ = [
    "MeasuredSpectrum",
    "read_measured",
    "read_xdi",
    "PreEdgeNormaliser",
    "prepare_measured",
    "PreparedSpectrum",
    "EXPERIMENT_EXTRA",
    "MIN_FIT_POINTS",
    "simulate_measurement",
    "align",
]

#: How to install what normalisation needs.
EXPERIMENT_EXTRA = 'pip install "xanesnet-sk[experiment]"'
#: Fewest points the pre-edge and post-edge windows of a fit may hold.
MIN_FIT_POINTS = 3

#: Column names taken for mu (case-insensitive), in order, when none is named.
_MU_NAMES = ("mu", "xmu", "mutrans", "mu_trans", "mu_t", "mufluor", "mu_fluor", "mu_f",
             "norm", "absorption")
_ENERGY_NAMES = ("energy", "e", "energy_ev", "ev")
_I0_NAMES = ("i0",)
_IT_NAMES = ("itrans", "it", "i1")


def _larch():
    """``(Group, pre_edge)`` from xraylarch, or an ImportError naming the extra."""
    try:
        from larch import Group
        from larch.xafs import pre_edge
    except ImportError:
        raise ImportError(
            f"normalising a measured spectrum needs xraylarch (larch.xafs.pre_edge): "
            f"{EXPERIMENT_EXTRA}"
        ) from None
    return Group, pre_edge


# ---------------------------------------------------------------- reading


@dataclass
class MeasuredSpectrum:
    """A measured spectrum as read from a file.

    Parameters
    ----------
    energies : ndarray of shape (n_points,)
        Energies in eV (absolute, as measured), strictly increasing.
    mu : ndarray of shape (n_points,)
        Absorption (mu, or ln(I0/It) from transmission columns).
    source : str
        Where it came from (the file), named in every error about it.
    e0 : float or None
        The edge energy the file records (XDI ``Scan.edge_energy``), if any.
    element : str or None
        The absorbing element the file records (XDI ``Element.symbol``).
    edge : str or None
        The edge the file records (XDI ``Element.edge``, e.g. ``"K"``).
    metadata : dict
        Every ``Namespace.tag: value`` header field of an XDI file.
    """

    energies: np.ndarray
    mu: np.ndarray
    source: str = "spectrum"
    e0: float | None = None
    element: str | None = None
    edge: str | None = None
    metadata: dict = field(default_factory=dict)


def _lines(path):
    raw = Path(path).read_bytes()
    if b"\x00" in raw:
        raise ValueError(f"{path}: a binary file (it holds NUL bytes), not a spectrum")
    try:
        return raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text; save the file as UTF-8") from None


def _numbers(path, lines, start, n_columns=None):
    """The numeric rows of ``lines[start:]`` (comments and blank lines skipped)."""
    rows, where = [], []
    for k in range(start, len(lines)):
        text = lines[k].strip()
        if not text or text.startswith("#"):
            continue
        tokens = text.replace(",", " ").split()
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            bad = next(t for t in tokens if not _is_float(t))
            raise ValueError(f"{path}, line {k + 1}: {bad!r} is not a number") from None
        if n_columns is None:
            n_columns = len(values)
        if len(values) != n_columns:
            raise ValueError(f"{path}, line {k + 1}: {len(values)} columns, but the lines above "
                             f"have {n_columns}")
        rows.append(values)
        where.append(k + 1)
    if not rows:
        raise ValueError(f"{path}: no data lines (rows of numbers)")
    return np.asarray(rows, dtype=float), np.asarray(where)


def _is_float(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_xdi(path):
    """Read an XDI (XAS Data Interchange 1.0) file: header fields, column names, data.

    Parameters
    ----------
    path : str or path-like
        An ``.xdi`` file: ``# XDI/1.0`` on the first line, ``# Namespace.tag:
        value`` header fields (``Column.N: name [units]`` among them), a
        ``#----`` line, a ``#`` line of column names, then whitespace-separated
        numbers.

    Returns
    -------
    columns : list of str
        The column names (lower case), from the ``Column.N`` fields, else the
        column-name line.
    units : list of str or None
        Each column's units, where a ``Column.N`` field gives them.
    data : ndarray of shape (n_rows, n_columns)
    line_numbers : ndarray of shape (n_rows,)
        The 1-based line of each row (for errors).
    metadata : dict
        ``{"Namespace.tag": "value"}`` for every header field.

    Raises
    ------
    ValueError
        Naming the file and line: no ``XDI/`` first line, a number that is not
        one, rows of unequal length, no data.
    """
    lines = _lines(path)
    if not lines or not lines[0].lstrip("# \t").upper().startswith("XDI/"):
        raise ValueError(f"{path}, line 1: not an XDI file (the first line must be '# XDI/1.0')")
    metadata, named, header_names, start = {}, {}, None, len(lines)
    for k in range(1, len(lines)):
        text = lines[k].strip()
        if not text.startswith("#"):
            start = k
            break
        body = text.lstrip("#").strip()
        if body.startswith("---") or body.startswith("///"):
            continue
        key, sep, value = body.partition(":")
        if sep and "." in key and " " not in key.strip():
            metadata[key.strip()] = value.strip()
            if key.strip().lower().startswith("column."):
                index = key.strip().split(".", 1)[1]
                if not index.isdigit() or int(index) < 1:
                    raise ValueError(f"{path}, line {k + 1}: {key.strip()!r} is not Column.N "
                                     "with N = 1, 2, ...")
                parts = value.split()
                if not parts:
                    raise ValueError(f"{path}, line {k + 1}: {key.strip()} names no column")
                named[int(index) - 1] = (parts[0].lower(), parts[1] if len(parts) > 1 else None)
        elif body:
            header_names = body.lower().split()
    data, where = _numbers(path, lines, start)
    n = data.shape[1]
    if named:
        columns = [named.get(i, (f"column_{i + 1}", None))[0] for i in range(n)]
        units = [named.get(i, (None, None))[1] for i in range(n)]
    elif header_names is not None and len(header_names) == n:
        columns, units = header_names, [None] * n
    else:
        columns, units = [f"column_{i + 1}" for i in range(n)], [None] * n
    return columns, units, data, where, metadata


def _text_columns(path):
    """(columns, units, data, lines) of plain text: names from a header line if any."""
    lines = _lines(path)
    names, start = None, 0
    for k, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        tokens = text.lstrip("#").replace(",", " ").split()
        if text.startswith("#") or not all(_is_float(t) for t in tokens):
            if tokens and not all(_is_float(t) for t in tokens):
                names = [t.lower() for t in tokens]
            start = k + 1
            continue
        break
    data, where = _numbers(path, lines, start)
    n = data.shape[1]
    if names is None or len(names) != n:
        names = [f"column_{i + 1}" for i in range(n)]
    return names, [None] * n, data, where


def _column(path, columns, spec, what, defaults=(), required=True):
    """Index of the column ``spec`` (a name or 0-based index), or of the first default name."""
    if spec is None:
        for name in defaults:
            if name in columns:
                return columns.index(name)
        if not required:
            return None
        raise ValueError(f"{path}: no {what} column (columns: {', '.join(columns)}); "
                         f"name it, e.g. {what}={columns[0]!r} or {what}=0")
    if isinstance(spec, Integral) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        if not 0 <= index < len(columns):
            raise ValueError(f"{path}: {what} column {index} does not exist (the file has "
                             f"{len(columns)} columns, 0 to {len(columns) - 1})")
        return index
    name = str(spec).strip().lower()
    if name not in columns:
        raise ValueError(f"{path}: no column named {spec!r} for {what} (columns: "
                         f"{', '.join(columns)})")
    return columns.index(name)


def read_measured(path, energy=None, mu=None, i0=None, it=None):
    """Read a measured spectrum from an XDI file or a multi-column text file.

    Parameters
    ----------
    path : str or path-like
        An XDI file (recognised by its ``# XDI/1.0`` first line, whatever its
        suffix) or plain text: optional ``#`` comment lines, optionally a line
        of column names, then rows of numbers (whitespace or commas).
    energy : str, int or None, default=None
        The energy column, by name or 0-based index.  None: the column named
        ``energy`` (or ``e``), else column 0 of a file without names.
    mu : str, int or None, default=None
        The mu column, by name or index.  None: a column named ``mu``,
        ``xmu``, ``mutrans``, ``mufluor``, ... ; else ``ln(I0/It)`` from
        ``i0`` and ``itrans`` (or ``it``, ``i1``) columns; else column 1 of a
        file without names.
    i0, it : str, int or None, default=None
        Transmission columns: with both given, ``mu = ln(i0 / it)``.

    Returns
    -------
    MeasuredSpectrum

    Raises
    ------
    ValueError
        Naming the file (and line): no energy column, energies not strictly
        increasing, NaN or infinite values, I0 or It not positive, fewer
        than 5 points.

    Examples
    --------
    >>> import os, tempfile
    >>> from xanesnet_sk.measured import read_measured
    >>> path = os.path.join(tempfile.mkdtemp(), "fe.xdi")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("# XDI/1.0\\n# Column.1: energy eV\\n# Column.2: i0\\n"
    ...                  "# Column.3: itrans\\n# Element.symbol: Fe\\n# Element.edge: K\\n"
    ...                  "#----\\n# energy i0 itrans\\n"
    ...                  + "".join(f"{7100 + k} 1.0 0.5\\n" for k in range(6)))
    >>> s = read_measured(path)
    >>> s.element, s.energies[:2].tolist(), round(float(s.mu[0]), 4)
    ('Fe', [7100.0, 7101.0], 0.6931)
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    lines = _lines(path)
    first = next((line for line in lines if line.strip()), "")
    metadata = {}
    if first.lstrip("# \t").upper().startswith("XDI/"):
        columns, units, data, where, metadata = read_xdi(path)
    else:
        columns, units, data, where = _text_columns(path)
    unnamed = columns[0] == "column_1"
    e_col = _column(path, columns, energy, "energy",
                    _ENERGY_NAMES + (("column_1",) if unnamed else ()))
    if (i0 is None) != (it is None):
        raise ValueError(f"{path}: give both i0 and it (transmission: mu = ln(i0/it)), or mu")
    if mu is not None and i0 is not None:
        raise ValueError(f"{path}: give mu or i0 and it, not both")
    energies = data[:, e_col].copy()
    unit = (units[e_col] or "").lower()
    if unit == "kev":
        energies *= 1000.0
    if i0 is None and mu is None:
        m_col = _column(path, columns, None, "mu", _MU_NAMES, required=False)
        if m_col is None:
            i0_col = _column(path, columns, None, "i0", _I0_NAMES, required=False)
            it_col = _column(path, columns, None, "it", _IT_NAMES, required=False)
            if i0_col is not None and it_col is not None:
                i0, it = i0_col, it_col
            elif unnamed and data.shape[1] >= 2:
                m_col = 1 if e_col != 1 else 0
            else:
                raise ValueError(f"{path}: no mu column and no i0/itrans pair (columns: "
                                 f"{', '.join(columns)}); name one with mu=... or i0=..., it=...")
    else:
        m_col = None if mu is None else _column(path, columns, mu, "mu")
    if i0 is not None:
        i0_col, it_col = _column(path, columns, i0, "i0"), _column(path, columns, it, "it")
        flux, trans = data[:, i0_col], data[:, it_col]
        bad = ~((flux > 0) & (trans > 0))
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"{path}, line {where[k]}: I0 and It must be positive for "
                             f"mu = ln(I0/It), got {flux[k]:g} and {trans[k]:g}")
        values = np.log(flux / trans)
    else:
        values = data[:, m_col].copy()
    _check_measured(path, energies, values, where)
    md = {k.lower(): v for k, v in metadata.items()}
    e0 = md.get("scan.edge_energy")
    return MeasuredSpectrum(
        energies=energies, mu=values, source=str(path),
        e0=_energy_value(path, e0) if e0 else None,
        element=md.get("element.symbol") or None, edge=md.get("element.edge") or None,
        metadata=metadata,
    )


def _energy_value(path, text):
    """An XDI energy field ('7112', '7112 eV', '7.112 keV') in eV."""
    parts = text.split()
    try:
        value = float(parts[0])
    except (ValueError, IndexError):
        raise ValueError(f"{path}: Scan.edge_energy {text!r} is not an energy") from None
    return value * 1000.0 if len(parts) > 1 and parts[1].lower() == "kev" else value


def _check_measured(source, energies, mu, where=None):
    """ValueError naming the source (and line) for NaN, non-increasing energies, few points."""
    def line(k):
        return f", line {where[k]}" if where is not None else f", point {k}"

    for name, values in (("energy", energies), ("mu", mu)):
        bad = ~np.isfinite(values)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"{source}{line(k)}: {name} is {values[k]}; remove or fix the "
                             "point (a measured spectrum must be finite everywhere)")
    if energies.size < 5:
        raise ValueError(f"{source}: {energies.size} points; a spectrum needs at least 5")
    steps = np.diff(energies)
    if np.any(steps <= 0):
        k = int(np.argmax(steps <= 0)) + 1
        raise ValueError(f"{source}{line(k)}: energy {energies[k]:g} eV is not above the one "
                         f"before it ({energies[k - 1]:g} eV); energies must increase (sort the "
                         "scan and merge repeated points)")


def as_measured(measured, energy=None, mu=None, i0=None, it=None):
    """A :class:`MeasuredSpectrum` from a path, a MeasuredSpectrum or ``(energies, mu)``."""
    if isinstance(measured, MeasuredSpectrum):
        return measured
    if isinstance(measured, (str, os.PathLike)):
        return read_measured(measured, energy=energy, mu=mu, i0=i0, it=it)
    try:
        energies, values = (np.asarray(a, dtype=float).reshape(-1) for a in measured)
    except (TypeError, ValueError):
        raise TypeError("measured must be a file path, a MeasuredSpectrum or a pair "
                        f"(energies, mu), got {type(measured).__name__}") from None
    if energies.shape != values.shape:
        raise ValueError(f"measured: {energies.size} energies but {values.size} mu values")
    _check_measured("measured spectrum", energies, values)
    return MeasuredSpectrum(energies, values, source="measured spectrum")


# ---------------------------------------------------------------- normalising


class PreEdgeNormaliser(TransformerMixin, BaseEstimator):
    """Pre-edge subtraction and edge-step normalisation with Larch, optionally onto a grid.

    Each row of ``X`` (mu on ``energies``, absolute eV) goes through
    xraylarch's ``larch.xafs.pre_edge``: E0 (the maximum of dmu/dE, or
    ``e0``), a line fitted to ``[e0 + pre1, e0 + pre2]`` and subtracted, a
    polynomial of degree ``nnorm`` fitted to ``[e0 + norm1, e0 + norm2]``,
    the edge step (post minus pre at E0, or ``step``) divided out:
    ``norm = (mu - pre) / step``; with ``flatten`` the post-edge curvature is
    taken off above E0 too (Larch's ``flat``).  With ``grid`` (eV relative to
    the edge, e.g. a model's energies), the result is then interpolated onto
    ``E0 + shift + grid``: linear, never extrapolated, so a row that does not
    cover the grid is an error.

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        Energies of the columns of ``X`` in eV, strictly increasing.
    grid : array-like of shape (n_grid,) or None, default=None
        Edge-relative output grid (eV); None keeps ``energies``.
    e0 : float or None, default=None
        The edge energy (eV, on the scale of ``energies``); None finds it as
        Larch does (maximum of the smoothed derivative).
    shift : float, default=0.0
        Added to E0 when aligning onto ``grid`` (eV): corrects a known offset
        between the measured and the model's edge definitions.
    flatten : bool, default=False
        Return Larch's flattened spectrum instead of ``norm``.
    pre1, pre2, norm1, norm2 : float or None, default=None
        Fit windows relative to E0 (eV); None lets Larch choose from the
        data's range (see the module's notes).
    nnorm : int or None, default=None
        Degree of the post-edge polynomial (0 to 3); None lets Larch choose
        (2 over a window wider than 300 eV, 1 over 30 eV, else 0).
    nvict : int, default=0
        Energy exponent of the pre-edge fit (Victoreen): fits ``mu E**nvict``.
    step : float or None, default=None
        A fixed edge step instead of the fitted one.

    Attributes
    ----------
    energies_ : ndarray of shape (n_points,)
        The validated energies.
    n_features_in_ : int
        Number of energy points.
    e0_ : ndarray of shape (n_samples,)
        E0 of each row of the last ``transform``.
    edge_step_ : ndarray of shape (n_samples,)
        Edge step of each row of the last ``transform``.
    windows_ : ndarray of shape (n_samples, 4)
        ``pre1, pre2, norm1, norm2`` Larch used for each row of the last
        ``transform`` (eV relative to E0).

    Notes
    -----
    Needs xraylarch (``pip install "xanesnet-sk[experiment]"``).  Each fit
    window must hold at least :data:`MIN_FIT_POINTS` points.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.measured import PreEdgeNormaliser
    >>> e = np.linspace(7000, 7400, 801)
    >>> mu = 0.3 + 2e-4 * (e - 7000) + 2.0 / (1 + np.exp(-(e - 7112) / 1.5))
    >>> norm = PreEdgeNormaliser(e, grid=np.linspace(-15, 60, 226))
    >>> out = norm.fit_transform(mu[None, :])          # doctest: +SKIP
    >>> out.shape, round(float(norm.edge_step_[0]), 2)  # doctest: +SKIP
    ((1, 226), 2.0)
    """

    _parameter_constraints: dict = {
        "energies": ["array-like"],
        "grid": ["array-like", None],
        "e0": [Real, None],
        "shift": [Real],
        "flatten": ["boolean"],
        "pre1": [Real, None],
        "pre2": [Real, None],
        "norm1": [Real, None],
        "norm2": [Real, None],
        "nnorm": [Interval(Integral, 0, 3, closed="both"), None],
        "nvict": [Interval(Integral, 0, None, closed="left")],
        "step": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, energies, grid=None, e0=None, shift=0.0, flatten=False, pre1=None,
                 pre2=None, norm1=None, norm2=None, nnorm=None, nvict=0, step=None):
        self.energies = energies
        self.grid = grid
        self.e0 = e0
        self.shift = shift
        self.flatten = flatten
        self.pre1 = pre1
        self.pre2 = pre2
        self.norm1 = norm1
        self.norm2 = norm2
        self.nnorm = nnorm
        self.nvict = nvict
        self.step = step

    def fit(self, X=None, y=None):
        """Validate the parameters and the energies (and ``X``'s width when given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_points) or None
            Spectra on ``energies``.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        energies = np.asarray(self.energies, dtype=float).reshape(-1)
        _check_measured("energies", energies, np.zeros_like(energies))
        self.energies_ = energies
        self.n_features_in_ = energies.size
        if self.grid is not None:
            grid = np.asarray(self.grid, dtype=float).reshape(-1)
            if grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
                raise ValueError("grid must be at least 2 finite, strictly increasing energies")
            self.grid_ = grid
        if X is not None:
            self._check_X(X)
        return self

    def _check_X(self, X):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_samples, {self.n_features_in_}) (one "
                             f"spectrum per row on energies), got {X.shape}")
        return X

    def transform(self, X, sources=None):
        """Normalise each row (and interpolate it onto ``e0_ + shift + grid``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_points)
            mu on ``energies``.
        sources : sequence of str or None, default=None
            A name per row for errors (e.g. the files); default ``row i``.

        Returns
        -------
        ndarray of shape (n_samples, n_points) or (n_samples, n_grid)
        """
        check_is_fitted(self, "energies_")
        X = self._check_X(X)
        Group, pre_edge = _larch()
        sources = sources or [f"row {i}" for i in range(len(X))]
        out, e0s, steps, windows = [], [], [], []
        for source, mu in zip(sources, X):
            _check_measured(source, self.energies_, mu)
            group = Group()
            kwargs = {k: getattr(self, k) for k in ("e0", "step", "pre1", "pre2", "norm1",
                                                     "norm2", "nnorm")
                      if getattr(self, k) is not None}
            try:
                pre_edge(self.energies_, mu, group=group, nvict=self.nvict,
                         make_flat=self.flatten, **kwargs)
            except (ValueError, TypeError, IndexError, np.linalg.LinAlgError) as exc:
                raise ValueError(f"{source}: larch's pre_edge failed ({exc}); check the fit "
                                 "windows pre1, pre2, norm1, norm2 against the data's "
                                 "range") from None
            details = group.pre_edge_details
            window = [float(getattr(details, k)) for k in ("pre1", "pre2", "norm1", "norm2")]
            e0 = float(group.e0)
            self._check_windows(source, e0, window)
            step = float(group.edge_step)
            if not math.isfinite(step) or step <= 0:
                raise ValueError(f"{source}: the edge step is {step:g} (post-edge at or below "
                                 "the pre-edge at E0): is this an absorption edge? check e0 "
                                 "and the fit windows")
            values = np.asarray(group.flat if self.flatten else group.norm, dtype=float)
            if self.grid is not None:
                values = align(self.energies_, values, e0 + float(self.shift), self.grid_,
                               source)
            out.append(values)
            e0s.append(e0)
            steps.append(step)
            windows.append(window)
        self.e0_ = np.asarray(e0s)
        self.edge_step_ = np.asarray(steps)
        self.windows_ = np.asarray(windows)
        return np.vstack(out)

    def _check_windows(self, source, e0, window):
        rel = self.energies_ - e0
        for (lo, hi), what in (((window[0], window[1]), "pre-edge"),
                               ((window[2], window[3]), "post-edge")):
            n = int(np.count_nonzero((rel >= lo) & (rel <= hi)))
            if n < MIN_FIT_POINTS:
                raise ValueError(
                    f"{source}: the {what} fit window [{lo:g}, {hi:g}] eV around E0 = {e0:.2f} eV "
                    f"holds {n} points (at least {MIN_FIT_POINTS} needed); the data cover "
                    f"{rel[0]:.1f} to {rel[-1]:.1f} eV around E0: measure from E0 - 50 to "
                    "E0 + 150 eV or more, or set pre1/pre2/norm1/norm2")

    def get_feature_names_out(self, input_features=None):
        """``energy_<E>`` for each output energy (the grid's when given).

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "energies_")
        energies = self.grid_ if self.grid is not None else self.energies_
        return np.asarray([f"energy_{e:g}" for e in energies], dtype=object)


def align(energies, mu, e0, grid, source="spectrum"):
    """Interpolate ``mu`` (on absolute ``energies``) onto ``e0 + grid``, without extrapolating.

    Parameters
    ----------
    energies : ndarray of shape (n_points,)
        Absolute energies (eV), increasing.
    mu : ndarray of shape (n_points,)
    e0 : float
        The edge (eV) that ``grid``'s 0 stands for (include any shift).
    grid : ndarray of shape (n_grid,)
        Edge-relative energies (eV).
    source : str, default="spectrum"
        Named in the error.

    Returns
    -------
    ndarray of shape (n_grid,)

    Raises
    ------
    ValueError
        When ``e0 + grid`` reaches outside ``energies`` (by more than 1e-6 eV).

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.measured import align
    >>> align(np.arange(7090.0, 7200.0), np.arange(110.0), 7112.0, np.array([-15.0, 0.0, 60.0]))
    array([ 7., 22., 82.])
    """
    rel = np.asarray(energies, dtype=float) - float(e0)
    grid = np.asarray(grid, dtype=float)
    tol = 1e-6
    if grid[0] < rel[0] - tol or grid[-1] > rel[-1] + tol:
        raise ValueError(
            f"{source}: the measurement covers {rel[0]:.2f} to {rel[-1]:.2f} eV around "
            f"E0 = {e0:.2f} eV, but the model's grid needs {grid[0]:g} to {grid[-1]:g} eV; "
            "measure a wider range or check E0 (--e0) and the shift (nothing is extrapolated)")
    return np.interp(np.clip(grid, rel[0], rel[-1]), rel, np.asarray(mu, dtype=float))


@dataclass
class PreparedSpectrum:
    """A measured spectrum normalised and on a model's grid (:func:`prepare_measured`).

    Parameters
    ----------
    mu : ndarray of shape (n_grid,)
        The normalised spectrum on ``e0 + shift + grid``.
    grid : ndarray of shape (n_grid,)
        The edge-relative grid (eV).
    e0 : float
        E0 used (eV, the measurement's scale), before ``shift``.
    shift : float
        The user's shift (eV).
    edge_step : float
        Larch's edge step (units of the raw mu).
    noise : float
        Estimated noise of the normalised measurement (its point-to-point
        scatter: the median absolute second difference scaled to a Gaussian
        standard deviation, ``1.4826 MAD / sqrt(6)``).
    measured : MeasuredSpectrum
        What was read.
    normalised : ndarray of shape (n_points,)
        The normalised spectrum on the measurement's own energies.
    """

    mu: np.ndarray
    grid: np.ndarray
    e0: float
    shift: float
    edge_step: float
    noise: float
    measured: MeasuredSpectrum
    normalised: np.ndarray


def _noise(values):
    """Point-to-point noise (Gaussian sigma) from the robust scatter of second differences."""
    d2 = np.diff(values, 2)
    if d2.size < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0))


def prepare_measured(measured, grid, e0=None, shift=0.0, flatten=False, **pre_edge_params):
    """Read (if needed), normalise with Larch and interpolate a measurement onto ``grid``.

    Parameters
    ----------
    measured : str, path-like, MeasuredSpectrum or (energies, mu)
        The measurement (a path is read with :func:`read_measured`).
    grid : array-like of shape (n_grid,)
        The model's edge-relative grid (eV).
    e0 : float or None, default=None
        The measured edge energy (eV); None: the file's ``Scan.edge_energy``
        when it has one, else found by Larch.
    shift : float, default=0.0
        Added to E0 when aligning (eV).
    flatten : bool, default=False
        Use Larch's flattened spectrum.
    **pre_edge_params
        ``pre1``, ``pre2``, ``norm1``, ``norm2``, ``nnorm``, ``nvict``,
        ``step`` of :class:`PreEdgeNormaliser`.

    Returns
    -------
    PreparedSpectrum

    Raises
    ------
    ImportError
        Without xraylarch (one line naming the extra).
    ValueError
        Naming the file: bad data, fit windows too short, or a measurement
        that does not cover the grid.
    """
    spectrum = as_measured(measured)
    e0 = spectrum.e0 if e0 is None else e0
    norm = PreEdgeNormaliser(spectrum.energies, e0=e0, flatten=flatten, **pre_edge_params).fit()
    normalised = norm.transform(spectrum.mu[None, :], sources=[spectrum.source])[0]
    e0_found = float(norm.e0_[0])
    grid = np.asarray(grid, dtype=float).reshape(-1)
    on_grid = align(spectrum.energies, normalised, e0_found + float(shift), grid, spectrum.source)
    return PreparedSpectrum(
        mu=on_grid, grid=grid, e0=e0_found, shift=float(shift),
        edge_step=float(norm.edge_step_[0]), noise=_noise(normalised), measured=spectrum,
        normalised=normalised,
    )


def simulate_measurement(energies, mu, e0=7112.0, *, below=150.0, above=400.0, step=0.5,
                         offset=0.2, slope=-3e-4, scale=2.5, width=None, noise=0.01,
                         random_state=None, source="simulated measurement"):
    """Turn a computed spectrum into a synthetic "measurement" (for tests and benchmarks).

    The computed spectrum (on an edge-relative grid such as
    ``linspace(-15, 60, 226)``) is optionally Lorentzian-broadened
    (``width``), extended below the grid at its first value and above it by
    a tail relaxing (over 10 eV) to the mean of its last 15 eV, put on the
    absolute scale ``e0 + E`` from ``e0 - below`` to ``e0 + above`` every
    ``step`` eV, multiplied by ``scale`` (another normalisation), given a
    sloping background ``offset + slope (E - e0)`` and Gaussian noise of
    ``noise`` times the edge step.

    Parameters
    ----------
    energies : array-like of shape (n_points,)
        The computed spectrum's edge-relative energies (eV).
    mu : array-like of shape (n_points,)
    e0 : float, default=7112.0
        Absolute energy (eV) of the grid's 0.
    below, above : float, default=150.0, 400.0
        Range measured below and above ``e0`` (eV).
    step : float, default=0.5
        Energy step of the measurement (eV).
    offset, slope : float, default=0.2, -3e-4
        Background ``offset + slope (E - e0)`` (the pre-edge line).
    scale : float, default=2.5
        Factor on the spectrum (a different normalisation).
    width : float or None, default=None
        Lorentzian FWHM (eV) of the instrument's resolution; None: none.
    noise : float, default=0.01
        Gaussian noise as a fraction of the edge step.
    random_state : int, Generator or None, default=None
    source : str, default="simulated measurement"

    Returns
    -------
    MeasuredSpectrum

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.measured import simulate_measurement
    >>> g = np.linspace(-15, 60, 226)
    >>> m = simulate_measurement(g, 1 / (1 + np.exp(-g)), noise=0.0)
    >>> float(m.energies[0]), float(m.energies[-1]), m.mu.size
    (6962.0, 7512.0, 1101)
    """
    grid = np.asarray(energies, dtype=float).reshape(-1)
    y = np.asarray(mu, dtype=float).reshape(-1)
    if width is not None and width > 0:
        y = LorentzianBroadening(grid, width=float(width)).fit_transform(y[None, :])[0]
    rel = np.arange(-float(below), float(above) + step / 2, float(step))
    tail = float(y[grid >= grid[-1] - 15].mean())
    values = np.interp(rel, grid, y)
    past = rel > grid[-1]
    values[past] = tail + (y[-1] - tail) * np.exp(-(rel[past] - grid[-1]) / 10.0)
    edge_step = tail - y[0]
    rng = np.random.default_rng(random_state)
    out = offset + slope * rel + scale * values
    out = out + rng.normal(0.0, abs(noise * scale * edge_step), rel.size)
    return MeasuredSpectrum(energies=float(e0) + rel, mu=out, source=source)
