"""Read and write XANES spectrum files.

Two text formats are read, told apart by their header:

FDMNES
    Optional banner line ``FDMNES``, optional edge line as FDMNES writes it
    (``7112.000  ...  = E_edge, ...``; its first number is the edge energy
    E0), then the column header ``energy <xanes>``, then two columns: energy
    (eV) and mu.  FDMNES's ``_conv`` outputs start directly with the column
    header.
ORCA
    Banner line ``ORCA``, column header ``Energy<TAB><xanes>``, two columns.

Energies may be absolute or relative to the edge (FDMNES writes both, depending
on the output); :func:`read_spectrum` detects which (see its Notes) and never
assumes.  :func:`write_spectrum` writes the FDMNES ``_conv`` layout (with the
edge line when E0 is given), which :func:`read_spectrum` reads back.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Spectrum", "read_spectrum", "write_spectrum"]

_FORMATS = ("fdmnes", "orca")


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One spectrum read from a file.

    Attributes
    ----------
    energies : ndarray of shape (n_points,)
        Strictly increasing energies (eV), as written in the file.
    mu : ndarray of shape (n_points,)
        Absorption cross-section at ``energies``.
    e0 : float or None
        Edge energy (eV, absolute) from the file's header; None when the file
        has none.
    fmt : {"fdmnes", "orca"}
        The format detected from the header.
    relative : bool
        True when ``energies`` are relative to the edge (see
        :func:`read_spectrum`, Notes), False when absolute.
    """

    energies: np.ndarray
    mu: np.ndarray
    e0: float | None
    fmt: str
    relative: bool = False


def read_spectrum(path):
    """Read an FDMNES or ORCA spectrum file.

    Parameters
    ----------
    path : str or path-like
        The file.  The format is detected from its header (see the module
        docstring).

    Returns
    -------
    Spectrum
        Energies, mu, E0 (or None), the format and whether the energies are
        relative to the edge.

    Raises
    ------
    ValueError
        Naming the file (and the line, where there is one) when the file is
        empty, has a header of neither format, a line that is not two
        numbers, NaN or infinite values, or energies that do not strictly
        increase.

    Notes
    -----
    Relative or absolute energies: with an E0 in the header, the energies are
    relative when their median lies nearer to 0 than to E0; without one, they
    are relative when any energy is negative (absolute X-ray edge energies
    are positive; relative windows such as -15...+60 eV start below 0).

    Examples
    --------
    >>> import os, tempfile
    >>> from xanesnet_sk.io import read_spectrum, write_spectrum
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> write_spectrum(path, [-1.0, 0.0, 1.0], [0.1, 0.5, 1.0], e0=7112.0)
    >>> s = read_spectrum(path)
    >>> s.fmt, s.e0, s.relative, s.mu.tolist()
    ('fdmnes', 7112.0, True, [0.1, 0.5, 1.0])
    """
    path = Path(path)
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise ValueError(f"{path}: a binary file (it holds NUL bytes), not a spectrum text file")
    # a UTF-8 byte-order mark is dropped; undecodable bytes (e.g. Latin-1 comments in a
    # header) become U+FFFD rather than failing the whole file
    lines = raw.decode("utf-8-sig", errors="replace").splitlines()
    if not any(line.strip() for line in lines):
        raise ValueError(f"{path}: empty spectrum file")
    first_data = _first_data_line(lines)
    fmt, e0 = _parse_header(path, lines[:first_data])
    data, line_numbers = _parse_columns(path, lines, first_data)
    energies, mu = data[:, 0].copy(), data[:, 1].copy()
    _check_energies(path, energies, line_numbers)
    return Spectrum(energies, mu, e0, fmt, _is_relative(energies, e0))


def write_spectrum(path, energies, mu, e0=None):
    """Write a spectrum in the FDMNES ``_conv`` layout.

    Parameters
    ----------
    path : str or path-like
        The file to write (overwritten).
    energies : array-like of shape (n_points,)
        Strictly increasing energies (eV), absolute or relative to the edge.
    mu : array-like of shape (n_points,)
        The spectrum.
    e0 : float, default=None
        Edge energy (eV); written as an FDMNES ``= E_edge`` line when given.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "b.txt")
    >>> write_spectrum(path, [7100.0, 7101.0], [0.0, 1.0])
    >>> print(open(path).read().splitlines()[0])
        energy     <xanes>
    """
    energies = np.asarray(energies, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if energies.ndim != 1 or energies.shape != mu.shape or energies.size == 0:
        raise ValueError(
            f"write_spectrum({str(path)!r}): energies and mu must be 1-D arrays of the same "
            f"non-zero length, got shapes {energies.shape} and {mu.shape}"
        )
    _check_energies(Path(path), energies, None)
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"write_spectrum({str(path)!r}): mu contains NaN or inf")
    header = []
    if e0 is not None:
        header.append(f"  {float(e0):.6f} = E_edge")
    header.append("    energy     <xanes>")
    rows = [f"  {e:.10g}  {m:.10E}" for e, m in zip(energies, mu, strict=True)]
    Path(path).write_text("\n".join(header + rows) + "\n", encoding="utf-8")


def _floats(tokens):
    """Tokens as floats (Fortran ``D`` exponents accepted), or None."""
    try:
        return [float(t.replace("D", "E").replace("d", "e")) for t in tokens]
    except ValueError:
        return None


def _first_data_line(lines):
    """Index of the first line that is all numbers (the end of the header)."""
    for i, line in enumerate(lines):
        tokens = line.split()
        if tokens and _floats(tokens) is not None:
            return i
    return len(lines)


def _parse_header(path, header):
    """Format and E0 from the header lines; ValueError naming the line if neither."""
    banner, e0, columns = None, None, None
    for i, line in enumerate(header, start=1):
        text = line.strip()
        low = text.lower()
        if not text:
            continue
        if low.split()[0] in _FORMATS and banner is None and columns is None:
            banner = low.split()[0]
        elif "e_edge" in low and banner != "orca" and columns is None:
            value = _floats(text.split("=")[0].split()[:1])
            if not value:
                raise ValueError(f"{path}: line {i}: cannot read E_edge from {text!r}")
            e0 = value[0]
        elif low.split()[0] == "energy" and columns is None:
            columns = i
        else:
            raise ValueError(_unknown_header(path, i, text))
    if columns is None:
        line = len(header) + 1
        raise ValueError(
            _unknown_header(path, line, header[-1].strip() if header else "")
            + " (no 'energy <xanes>' column header before the data)"
        )
    return banner or "fdmnes", e0


def _unknown_header(path, line, text):
    return (
        f"{path}: line {line}: not an FDMNES or ORCA spectrum header: {text!r}; expected "
        "FDMNES ('FDMNES', '<E0> ... = E_edge', 'energy <xanes>') or "
        "ORCA ('ORCA', 'Energy<TAB><xanes>') header lines, then two columns"
    )


def _parse_columns(path, lines, start):
    """The (n, 2) data block and its 1-based line numbers; ValueError on a bad line."""
    rows, numbers = [], []
    for i in range(start, len(lines)):
        tokens = lines[i].split()
        if not tokens:
            continue
        values = _floats(tokens)
        if values is None:
            raise ValueError(f"{path}: line {i + 1}: not numbers: {lines[i].strip()!r}")
        if len(values) != 2:
            raise ValueError(
                f"{path}: line {i + 1}: expected 2 columns (energy, mu), found {len(values)}"
            )
        if not all(np.isfinite(values)):
            raise ValueError(f"{path}: line {i + 1}: NaN or inf value: {lines[i].strip()!r}")
        rows.append(values)
        numbers.append(i + 1)
    if not rows:
        raise ValueError(f"{path}: header but no data lines")
    return np.array(rows, dtype=np.float64), numbers


def _check_energies(path, energies, line_numbers):
    """ValueError when energies are not finite or not strictly increasing."""
    if not np.all(np.isfinite(energies)):
        raise ValueError(f"{path}: energies contain NaN or inf")
    steps = np.diff(energies)
    if np.any(steps <= 0):
        k = int(np.argmax(steps <= 0)) + 1
        where = f"data point {k + 1}" if line_numbers is None else f"line {line_numbers[k]}"
        raise ValueError(
            f"{path}: {where}: energies must increase strictly, "
            f"but {float(energies[k])!r} follows {float(energies[k - 1])!r}"
        )


def _is_relative(energies, e0):
    if e0 is not None:
        median = float(np.median(energies))
        return abs(median) < abs(median - e0)
    return bool(energies[0] < 0)
