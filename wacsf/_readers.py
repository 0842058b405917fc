"""Structure files in, ``ase.Atoms`` out.

``.xyz`` files with an element symbol *or* an atomic number in the first
column are read by a small parser here (``ase.io.read`` rejects atomic
numbers); extended xyz (a ``Lattice=`` or ``Properties=`` on *any* frame's
comment line), CIF, POSCAR and every other format go to ``ase.io.read``.
Every error is one line naming the file, and the line where there is one.

Before ase reads a file, what the file announces is checked against what it
holds: an xyz or extxyz count line, a POSCAR's atom counts, a CIF's cell
lengths and angles, so that a count of 10^9 is an error, not an hour in a
reader.  After reading, every structure is checked: a file with no atoms,
a CIF site shared by several elements (``_atom_site_occupancy``), and two
atoms closer than :data:`MIN_SEPARATION` (0.1 A: one atom listed twice, or
a site shared by two elements) are errors; a CIF site partly occupied by
one element is read as a full atom, with a warning.
"""

import os
import warnings
from numbers import Integral
from pathlib import Path

import ase.io
import numba
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from ase.io.cif import parse_cif
from ase.io.formats import UnknownFileTypeError
from scipy.spatial import cKDTree

# Imports inside functions: vesin only for the duplicate-atom check of periodic files.

__all__ = ["read_structures"]

#: Files of a directory that :func:`read_structures` reads (by suffix) ...
_STRUCTURE_SUFFIXES = (".xyz", ".extxyz", ".cif", ".vasp", ".poscar")
#: ... and by name (VASP).
_STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


def _decode(path):
    """The text of ``path``; a one-line error naming it for binary or non-UTF-8 files."""
    # Unbuffered: the buffer layer (and its isatty call) costs more than reading a small file.
    with open(path, "rb", buffering=0) as fh:
        raw = fh.readall()
    if b"\x00" in raw:
        raise ValueError(
            f"{path}: this is a binary file (it holds NUL bytes), not a structure file"
        )
    try:
        return raw.decode("utf-8-sig")  # a UTF-8 byte-order mark is accepted
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from None


def _parse_count(path, lines, at):
    try:
        n_atoms = int(lines[at].split()[0])
    except (ValueError, IndexError):
        raise ValueError(
            f"{path}, line {at + 1}: expected the number of atoms, got {lines[at].strip()!r}"
        ) from None
    if n_atoms < 1:
        raise ValueError(f"{path}, line {at + 1}: the structure has {n_atoms} atoms")
    return n_atoms


_LABELS = {}


def _label_table():
    """{"Fe": 26, "26": 26, ...} for Z = 1..118, built once."""
    if not _LABELS:
        for z in range(1, 119):
            _LABELS[chemical_symbols[z]] = z
            _LABELS[str(z)] = z
    return _LABELS


def _element(label, where):
    """Atomic number of an xyz label: an atomic number, or a symbol in any case."""
    if label.lstrip("+-").isdigit():
        z = int(label)
        if not 1 <= z <= 118:
            raise ValueError(f"{where}: atomic number {z} is outside 1..118")
        return z
    symbol = label[:1].upper() + label[1:].lower()
    if symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
        raise ValueError(f"{where}: unknown element symbol {label!r}")
    return atomic_numbers[symbol]


def _parse_atom_lines(path, body, at):
    """(numbers, positions) of a frame's atom lines, one by one: every error names its line."""
    labels = _label_table()
    n_atoms = len(body)
    numbers = [0] * n_atoms
    coords = [None] * n_atoms
    for k, line in enumerate(body):
        fields = line.split()
        if len(fields) < 4:
            raise ValueError(f"{path}, line {at + k + 3}: expected 'element x y z', got "
                             f"{line.strip()!r}")
        label = fields[0]
        z = labels.get(label)  # the common cases: a proper symbol or an atomic number
        if z is None:  # another case, a signed number, unknown, or ase's dummy 'X'
            z = _element(label, f"{path}, line {at + k + 3}")
        numbers[k] = z
        try:
            coords[k] = (float(fields[1]), float(fields[2]), float(fields[3]))
        except ValueError:
            raise ValueError(f"{path}, line {at + k + 3}: coordinates are not numbers: "
                             f"{line.strip()!r}") from None
    return (np.array(numbers, dtype=np.int64),
            np.array(coords, dtype=np.float64).reshape(n_atoms, 3))


def _symbol_codes():
    """Z of an element symbol of one or two ASCII letters in any case, by the letters' code.

    The code of a label is ``128 * ord(first letter upper-cased)`` plus ``ord(second letter
    lower-cased)`` (0 without one), so that ``fe``, ``FE`` and ``Fe`` find 26 as
    :func:`_element` does; 0 means no element (ase's dummy ``X`` included).
    """
    codes = np.zeros(128 * 128, dtype=np.int64)
    for z in range(1, 119):
        symbol = chemical_symbols[z]
        codes[128 * ord(symbol[0]) + (ord(symbol[1]) if len(symbol) > 1 else 0)] = z
    return codes


_SYMBOL_CODES = _symbol_codes()
#: 10**0 .. 10**22, the powers of ten a double holds exactly.
_POWERS_OF_TEN = np.array([10.0**k for k in range(23)])


@numba.njit(cache=True, inline="always")
def _is_space(c):
    """Whether byte ``c`` separates fields as in ``str.split()`` (ASCII whitespace)."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


@numba.njit(cache=True)
def _label_number(text, start, end, codes):
    """Z of the label ``text[start:end]``: digits for an atomic number 1..118, or a symbol of
    one or two letters in any case; 0 for any other label (left to :func:`_element`)."""
    c = text[start]
    if 48 <= c <= 57:
        if end - start > 18:  # no int64 overflow
            return 0
        z = 0
        for i in range(start, end):
            d = text[i] - 48
            if not 0 <= d <= 9:
                return 0
            z = 10 * z + d
        return z if 1 <= z <= 118 else 0
    if end - start > 2:
        return 0
    code = 0
    for i in range(start, end):
        c = text[i]
        if 97 <= c <= 122:
            lower = c
        elif 65 <= c <= 90:
            lower = c + 32
        else:
            return 0
        code = 128 * (lower - 32) if i == start else code + lower
    return codes[code]


@numba.njit(cache=True, inline="always")
def _digits(text, i, end, w):
    """(index after the run of decimal digits from ``i``, ``w`` with them appended)."""
    while i < end:
        d = np.int64(text[i]) - 48
        if not 0 <= d <= 9:
            break
        w = 10 * w + d
        i += 1
    return i, w


@numba.njit(cache=True, inline="always")
def _decimal(text, start, end, powers):
    """(True, value) of a plain decimal ``[+-]digits[.digits][(e|E)[+-]digits]`` of at most
    18 digits in all whose digits form an integer w <= 2**53 and whose power of ten is
    within +-22, else (False, 0.0).

    Then ``w * 10**e`` (or ``w / 10**-e``) is one IEEE operation on two exact doubles, so
    it is the correctly rounded value of the decimal, which is what ``float()`` returns:
    the same double, bit for bit.  Every other number is left to ``float()``.  (18 digits
    cannot overflow the integer, so the digit loops test nothing else.)
    """
    i = start
    negative = False
    if text[i] == 43 or text[i] == 45:  # + or -
        negative = text[i] == 45
        i += 1
    first = i
    i, w = _digits(text, i, end, 0)
    digits = i - first
    fraction = 0  # digits after the point
    if i < end and text[i] == 46:  # the point
        i += 1
        first = i
        i, w = _digits(text, i, end, w)
        fraction = i - first
        digits += fraction
    if digits == 0 or digits > 18:
        return False, 0.0
    exponent = 0
    if i < end:
        if text[i] != 101 and text[i] != 69:  # e or E
            return False, 0.0
        i += 1
        negative_exponent = False
        if i < end and (text[i] == 43 or text[i] == 45):
            negative_exponent = text[i] == 45
            i += 1
        if i == end or end - i > 4:
            return False, 0.0
        i, exponent = _digits(text, i, end, 0)
        if i != end:
            return False, 0.0
        if negative_exponent:
            exponent = -exponent
    exponent -= fraction
    if w > 2**53:
        return False, 0.0
    if w == 0:
        value = 0.0
    elif 0 <= exponent <= 22:
        value = float(w) * powers[exponent]
    elif -22 <= exponent < 0:
        value = float(w) / powers[-exponent]
    else:
        return False, 0.0
    return True, -value if negative else value


@numba.njit(cache=True)
def _scan_atom_lines(text, codes, powers, numbers, positions, deferred):
    """Atom lines ``label x y z [more fields]``, joined by newlines, parsed in one pass.

    Fills ``numbers`` and ``positions`` (a row per line).  A coordinate that is no plain
    decimal :func:`_decimal` converts exactly (NaN, 1_0, 20 digits, ...) is left for
    ``float()``: its (flat index into ``positions``, start, end) goes into ``deferred``.
    Returns the number of such coordinates, or -1 when a line has fewer than four fields
    or a label that is no atomic number or symbol (the line-by-line parser then judges the
    lines, with its error messages).
    """
    size = text.shape[0]
    at = 0
    n_deferred = 0
    for k in range(numbers.shape[0]):
        field = 0
        while field < 4:
            while at < size and text[at] != 10 and _is_space(text[at]):
                at += 1
            if at == size or text[at] == 10:
                return -1
            start = at
            while at < size and not _is_space(text[at]):
                at += 1
            if field == 0:
                z = _label_number(text, start, at, codes)
                if z == 0:
                    return -1
                numbers[k] = z
            else:
                ok, value = _decimal(text, start, at, powers)
                if ok:
                    positions[k, field - 1] = value
                else:
                    deferred[n_deferred, 0] = 3 * k + field - 1
                    deferred[n_deferred, 1] = start
                    deferred[n_deferred, 2] = at
                    n_deferred += 1
            field += 1
        while at < size and text[at] != 10:  # further fields are not read
            at += 1
        at += 1
    return n_deferred


def _scan_fast(body):
    """(numbers, positions) of atom lines read in one compiled pass, or None where the
    line-by-line parser must judge them (non-ASCII text, a short line, an unusual label, a
    coordinate ``float()`` refuses)."""
    text = "\n".join(body)
    if not text.isascii():
        return None
    n_atoms = len(body)
    numbers = np.empty(n_atoms, dtype=np.int64)
    positions = np.empty((n_atoms, 3), dtype=np.float64)
    deferred = np.empty((3 * n_atoms, 3), dtype=np.int64)
    count = _scan_atom_lines(np.frombuffer(text.encode("ascii"), dtype=np.uint8),
                             _SYMBOL_CODES, _POWERS_OF_TEN, numbers, positions, deferred)
    if count < 0:
        return None
    flat = positions.reshape(-1)
    for index, start, end in deferred[:count].tolist():
        try:
            flat[index] = float(text[start:end])
        except ValueError:
            return None
    return numbers, positions


def _parse_frame(path, lines, at):
    """One xyz frame starting at line index ``at``: (numbers, positions, comment, next index)."""
    n_atoms = _parse_count(path, lines, at)
    body = lines[at + 2 : at + 2 + n_atoms]
    if len(body) < n_atoms:
        raise ValueError(
            f"{path}: line {at + 1} announces {n_atoms} atoms but only {len(body)} follow"
        )
    # The compiled pass reads the common files; every file it does not read whole, and
    # so every error, goes line by line (the same atoms, bit for bit, where both read).
    parsed = _scan_fast(body)
    numbers, positions = parsed if parsed is not None else _parse_atom_lines(path, body, at)
    if not np.isfinite(positions).all():
        k = int(np.argmin(np.isfinite(positions).all(axis=1)))
        raise ValueError(f"{path}, line {at + k + 3}: coordinates are NaN or infinite: "
                         f"{body[k].strip()!r}")
    comment = lines[at + 1].strip() if at + 1 < len(lines) else ""
    return numbers, positions, comment, at + 2 + n_atoms


def _next_content(lines, at):
    while at < len(lines) and not lines[at].strip():
        at += 1
    return at


def _looks_like_count(line):
    fields = line.split()
    return len(fields) == 1 and fields[0].isdigit()


def _check_trailing(path, lines, frame_start, n_atoms, at):
    """Lines after a frame's atoms that are no new frame: an error, or repeats that are skipped.

    A line that repeats one of the frame's atom lines word for word (some
    generators append the absorber once more; 13 of the S K-edge files here
    do) is left out with a warning naming the file and line; anything else
    is an error, never a silent truncation.  Returns the index after them.
    """
    frame = lines[frame_start + 2 : frame_start + 2 + n_atoms]
    atom_lines = {" ".join(line.split()) for line in frame}
    while at < len(lines) and not _looks_like_count(lines[at]):
        text = " ".join(lines[at].split())
        if text and text not in atom_lines:
            raise ValueError(
                f"{path}, line {at + 1}: line {frame_start + 1} announces {n_atoms} atoms, "
                f"but more atom lines follow them ({lines[at].strip()!r}); fix the atom count"
            )
        if text:
            warnings.warn(
                f"{path}, line {at + 1}: repeats an atom line of the structure above it "
                f"({lines[at].strip()!r}) after the {n_atoms} atoms line {frame_start + 1} "
                f"announces; left out",
                UserWarning, stacklevel=5,
            )
        at += 1
    return _next_content(lines, at)


def _lines(n, kind=""):
    """'1 line follows', '2 coordinate lines follow'."""
    n = max(n, 0)
    return f"{n} {kind}line follows" if n == 1 else f"{n} {kind}lines follow"


def _walk_frames(path, lines):
    """Comment line of every xyz frame, each count line checked against the lines after it.

    Only count lines are parsed (one per frame), so a count of 10^9 in a small
    file is an error here, before any reader allocates for it.  Lines between
    a frame's atoms and the next count line are skipped here; the parser (or
    ase) judges them.
    """
    comments, at = [], 0
    while at < len(lines):
        n_atoms = _parse_count(path, lines, at)
        follow = len(lines) - at - 2
        if n_atoms > follow:
            raise ValueError(
                f"{path}: line {at + 1} announces {n_atoms} atoms but only {_lines(follow)}; "
                f"fix the atom count (or the file was cut short)"
            )
        comments.append(lines[at + 1])
        at = _next_content(lines, at + 2 + n_atoms)
        while at < len(lines) and not _looks_like_count(lines[at]):
            at += 1
    return comments


def _read_xyz(path, lines):
    """Every frame of an xyz file whose first column is an element symbol or an atomic number."""
    frames, at = [], 0
    while True:
        frame_start = at
        numbers, positions, comment, at = _parse_frame(path, lines, at)
        frames.append((numbers, positions, comment, frame_start))
        at = _next_content(lines, at)
        if at >= len(lines):
            break
        if not _looks_like_count(lines[at]):
            at = _check_trailing(path, lines, frame_start, len(numbers), at)
            if at >= len(lines):
                break
    out = []
    stem = Path(path).stem
    for k, (numbers, positions, comment, start) in enumerate(frames):
        atoms = Atoms(numbers=numbers, positions=positions)
        atoms.info["name"] = stem if len(frames) == 1 else f"{stem}_{k}"
        atoms.info["comment"] = comment
        atoms.info["source"] = str(path) if len(frames) == 1 else f"{path}, line {start + 1}"
        out.append(atoms)
    return out


def _read_xyz_family(path, fmt):
    """An ``.xyz`` or ``.extxyz`` file: extended xyz (any frame) to ase, plain xyz parsed here."""
    lines = _decode(path).splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path}: empty file, expected an atom count on line 1")
    comments = _walk_frames(path, lines)
    if fmt == "extxyz" or any("Lattice=" in c or "Properties=" in c for c in comments):
        return _read_with_ase(path, "extxyz")
    return _read_xyz(path, lines)


def _numbers(fields):
    try:
        return [float(f) for f in fields]
    except ValueError:
        return None


def _check_poscar(path, lines):
    """The header of a POSCAR/CONTCAR, and its atom counts against the lines that follow."""
    def fail(k, what):
        got = repr(lines[k].strip()) if k < len(lines) else "the end of the file"
        raise ValueError(f"{path}, line {k + 1}: {what}, got {got}; is this a POSCAR file?")

    if len(lines) < 8:
        raise ValueError(
            f"{path}: a POSCAR needs at least 8 lines (comment, scale, 3 lattice vectors, "
            f"counts, coordinate type, coordinates), this file has {len(lines)}"
        )
    scale = _numbers(lines[1].split())
    if not scale or len(scale) not in (1, 3):
        fail(1, "expected the scaling factor (1 or 3 numbers)")
    lattice = []
    for k in (2, 3, 4):
        vector = _numbers(lines[k].split()[:3])
        if vector is None or len(vector) != 3:
            fail(k, "expected a lattice vector (3 numbers)")
        lattice.append(vector)
    if not np.isfinite(lattice).all() or abs(np.linalg.det(lattice)) < 1e-12:
        raise ValueError(f"{path}, lines 3-5: the lattice vectors {lattice} have no volume "
                         f"(zero or linearly dependent); fix the cell")
    at = 5
    if not lines[at].split() or not lines[at].split()[0].lstrip("+-").isdigit():
        symbols = lines[at].split()
        at = 6
        counts_line = lines[at].split()
    else:
        symbols, counts_line = None, lines[at].split()
    try:
        counts = [int(c) for c in counts_line]
    except ValueError:
        fail(at, "expected the number of atoms of each element (integers)")
    if not counts or min(counts) < 0 or sum(counts) < 1:
        fail(at, "expected the number of atoms of each element (at least one atom)")
    if symbols is not None and len(symbols) != len(counts):
        raise ValueError(f"{path}: line {at} names {len(symbols)} elements but line {at + 1} "
                         f"gives {len(counts)} counts")
    at += 1
    if at < len(lines) and lines[at].strip()[:1] in ("s", "S"):  # Selective dynamics
        at += 1
    if at >= len(lines) or lines[at].strip()[:1] not in ("d", "D", "c", "C", "k", "K"):
        fail(at, "expected 'Direct' or 'Cartesian'")
    n_atoms, first = sum(counts), at + 1
    follow = len(lines) - first
    if n_atoms > follow:
        raise ValueError(
            f"{path}: line {at} announces {n_atoms} atoms but only "
            f"{_lines(follow, 'coordinate ')}; fix the atom counts (or the file was cut short)"
        )
    for k in range(first, first + n_atoms):
        xyz = _numbers(lines[k].split()[:3])
        if xyz is None or len(xyz) != 3:
            fail(k, f"expected the coordinates of atom {k - first + 1} of {n_atoms} (3 numbers)")


def _read_cif(path):
    """Every data block with atoms of a CIF file, its cell and occupancies checked."""
    _decode(path)  # a clear error for binary files
    try:
        blocks = list(parse_cif(str(path)))
    except Exception as exc:  # ase's CIF parser raises many types on malformed text
        raise _ase_failed(path, "cif", exc) from exc
    frames = []
    for block in blocks:
        if not block.has_structure():
            continue
        where = f"{path}, data_{block.name}"
        cellpar = block.get_cellpar()
        if cellpar is None:
            if block._get_site_coordinates()[0] == "scaled":
                raise ValueError(
                    f"{where}: fractional coordinates but no cell (_cell_length_a/b/c and "
                    f"_cell_angle_alpha/beta/gamma); add the cell"
                )
        else:
            for tag, value in zip(block.cell_tags, cellpar):
                angle = "angle" in tag
                ok = isinstance(value, (int, float)) and np.isfinite(value) and (
                    0 < value < 180 if angle else value > 0)
                if not ok:
                    rule = "between 0 and 180 degrees" if angle else "positive (Angstrom)"
                    raise ValueError(f"{where}: {tag} is {value!r}; it must be {rule}")
        try:
            atoms = block.get_atoms()
        except Exception as exc:  # ase raises many types
            raise _ase_failed(path, "cif", exc) from exc
        _check_occupancy(where, block, atoms)
        frames.append(atoms)
    if not frames:
        raise ValueError(
            f"{path}: no atoms: no data block has atom sites (_atom_site_type_symbol or "
            f"_atom_site_label with _atom_site_fract_x/y/z or _atom_site_Cartn_x/y/z)"
        )
    return _name_frames(path, frames)


def _check_occupancy(where, block, atoms):
    """A CIF site shared by several elements is an error; one partly occupied, a warning."""
    occupancy = atoms.info.get("occupancy") or {}
    labels = block.get("_atom_site_label")
    shared, partial = [], []
    for key, species in occupancy.items():
        name = str(labels[int(key)]) if labels is not None and int(key) < len(labels) else key
        values = {el: v for el, v in species.items() if isinstance(v, (int, float))}
        if len(species) > 1:
            shared.append((name, ", ".join(f"{el} {v:g}" for el, v in sorted(values.items()))))
        elif values and min(values.values()) < 1.0:
            el, v = next(iter(values.items()))
            partial.append(f"{name} ({el} {v:g})")
    if shared:
        what = shared[0][1]
        names = [name for name, w in shared if w == what]
        more = len({w for _, w in shared}) - 1
        more = f" (and {more} more such sites)" if more else ""
        raise ValueError(
            f"{where}: site {'/'.join(names)} is shared by several elements ({what}){more}; wACSF "
            f"need one element per site: keep one occupant of each site in the file"
        )
    if partial:
        warnings.warn(
            f"{where}: {len(partial)} partially occupied sites, e.g. {partial[0]}, are read as "
            f"full atoms",
            UserWarning, stacklevel=5,
        )


_FORMAT_NAMES = {"xyz": "xyz", "extxyz": "extended xyz", "cif": "CIF", "vasp": "POSCAR"}


def _ase_failed(path, fmt, exc):
    """A one-line error for a file an ase reader failed on."""
    detail = " ".join(str(exc).split())
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if len(detail) > 160:
        detail = detail[:157] + "..."
    what = f"a valid {_FORMAT_NAMES[fmt]} file" if fmt in _FORMAT_NAMES else "readable by ase"
    return ValueError(
        f"{path}: not {what} (ase's reader failed: {detail}); check that the file is complete "
        f"and in that format"
    )


def _name_frames(path, frames):
    stem = Path(path).stem or Path(path).name
    for k, atoms in enumerate(frames):
        atoms.info.setdefault("name", stem if len(frames) == 1 else f"{stem}_{k}")
        atoms.info["source"] = str(path) if len(frames) == 1 else f"{path}, frame {k}"
    return frames


def _read_with_ase(path, fmt=None):
    try:
        frames = ase.io.read(path, index=":", format=fmt)
    except UnknownFileTypeError:
        raise ValueError(
            f"{path}: unknown structure file type {Path(path).suffix or Path(path).name!r}; "
            f"read_structures reads .xyz, .extxyz, .cif, .vasp, .poscar, POSCAR* and CONTCAR* "
            f"files, and the formats ase.io.read recognises by name: rename or convert it"
        ) from None
    except Exception as exc:  # ase raises many types; name the file
        raise _ase_failed(path, fmt, exc) from exc
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise ValueError(f"{path}: no structures in this file")
    return _name_frames(path, frames)


#: Two atoms closer than this (Angstrom) in a file are an error: one atom
#: listed twice, or a site shared by two elements (no bond is shorter than
#: 0.74 A; cells in nm are refused when featurised, see wacsf._periodic).
MIN_SEPARATION = 0.1


#: Molecules up to this many atoms are checked pair by pair (compiled), larger ones by a k-d tree.
_BRUTE_FORCE_ATOMS = 3000


@numba.njit(cache=True)
def _first_close_pair(positions, cutoff):
    """(i, j) of the first pair of atoms closer than ``cutoff``, or (-1, -1)."""
    limit = cutoff * cutoff
    for i in range(positions.shape[0]):
        for j in range(i + 1, positions.shape[0]):
            dx = positions[j, 0] - positions[i, 0]
            dy = positions[j, 1] - positions[i, 1]
            dz = positions[j, 2] - positions[i, 2]
            if dx * dx + dy * dy + dz * dz < limit:
                return i, j
    return -1, -1


def _closest_pair(atoms, cutoff):
    """(i, j, distance) of a pair (or atom and own image) closer than cutoff, or None.

    The closest such pair where a neighbour list finds them all (periodic
    structures, large molecules); the first one found pair by pair otherwise.
    """
    positions = atoms.positions
    if atoms.pbc.any():
        from vesin import NeighborList

        try:
            i, j, d = NeighborList(cutoff=cutoff, full_list=False).compute(
                points=positions, box=atoms.cell.array, periodic=[bool(p) for p in atoms.pbc],
                quantities="ijd",
            )
        except Exception:  # a degenerate cell: refused, with its reason, when featurised
            return None
    elif len(positions) <= _BRUTE_FORCE_ATOMS:
        i, j = _first_close_pair(np.ascontiguousarray(positions, dtype=np.float64), cutoff)
        if i < 0:
            return None
        return i, j, float(np.linalg.norm(positions[j] - positions[i]))
    else:
        pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]
        d = np.linalg.norm(positions[j] - positions[i], axis=1)
    if not len(d) or d.min() >= cutoff:
        return None
    k = int(np.argmin(d))
    return int(i[k]), int(j[k]), float(d[k])


def _check_frames(path, frames):
    """Every structure of a file has atoms, no two closer than :data:`MIN_SEPARATION`."""
    for atoms in frames:
        where = atoms.info.get("source", str(path))
        if len(atoms) == 0:
            raise ValueError(f"{where}: the structure holds no atoms")
        close = _closest_pair(atoms, MIN_SEPARATION)
        if close is None:
            continue
        i, j, d = close
        a, b = atoms.symbols[i], atoms.symbols[j]
        if i == j:
            what = (f"atom {i} ({a}) is only {d:.3g} A from its own periodic image; is the cell "
                    f"in nm? give it in Angstrom")
        elif a == b:
            what = (f"atoms {i} and {j} are the same {a} atom twice ({d:.3g} A apart, at "
                    f"{np.round(atoms.positions[i], 4).tolist()}); remove the duplicate")
        else:
            what = (f"atoms {i} ({a}) and {j} ({b}) sit on one position ({d:.3g} A apart: a "
                    f"mixed or partially occupied site?); keep one of them")
        raise ValueError(f"{where}: {what} (atoms closer than {MIN_SEPARATION:g} A are refused)")
    return frames


def _format_of(path):
    """The reader for a file: by suffix, then by VASP's names; None lets ase guess."""
    suffix = path.suffix.lower()
    if suffix in (".xyz", ".extxyz", ".cif"):
        return suffix[1:]
    if suffix in (".vasp", ".poscar") or path.name.upper().startswith(_STRUCTURE_NAMES):
        return "vasp"
    return None


def _read_frames(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no structure file at {str(path)!r}")
    fmt = _format_of(path)
    if fmt in ("xyz", "extxyz"):
        frames = _read_xyz_family(path, fmt)
    elif fmt == "cif":
        frames = _read_cif(path)
    elif fmt == "vasp":
        _check_poscar(path, _decode(path).splitlines())
        frames = _read_with_ase(path, "vasp")
    else:
        frames = _read_with_ase(path)
    return _check_frames(path, frames)


def _select(path, frames, index):
    if index is None:
        if len(frames) > 1:
            raise ValueError(
                f"{path}: holds {len(frames)} structures (frames), one is expected; write one "
                f"structure per file, or in Python read every frame with "
                f"read_structures(path, index=':') (one with index=N)"
            )
        return frames
    if isinstance(index, str):
        if index != ":":
            raise ValueError(f"index must be None, an int, a slice or ':', got {index!r}")
        return frames
    if isinstance(index, slice):
        return frames[index]
    if isinstance(index, Integral) and not isinstance(index, bool):
        if not -len(frames) <= index < len(frames):
            raise ValueError(f"{path}: index={index} but the file holds {len(frames)} frames")
        return [frames[index]]
    raise ValueError(f"index must be None, an int, a slice or ':', got {index!r}")


def is_structure_file(path):
    """Whether :func:`read_structures` reads the file ``path`` when it lists a directory.

    By its name only (the file is not opened): the suffixes ``.xyz``,
    ``.extxyz``, ``.cif``, ``.vasp`` and ``.poscar`` (any case), or a name
    starting with ``POSCAR`` or ``CONTCAR``.  Use it to list a directory's
    structures the way :func:`read_structures` (and ``wacsf.dask``) do.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    bool

    Examples
    --------
    >>> from wacsf import is_structure_file
    >>> [is_structure_file(name) for name in ("a.xyz", "POSCAR_1", "notes.txt")]
    [True, True, False]
    """
    return _is_structure_name(Path(path).name)


def _is_structure_name(name):
    """:func:`is_structure_file` of a file name (the suffix found as ``PurePath.suffix``
    finds it), without making a path of it."""
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""
    return suffix.lower() in _STRUCTURE_SUFFIXES or name.upper().startswith(_STRUCTURE_NAMES)


def _structure_files(directory):
    """The structure files in ``directory`` (a Path): their paths as strings, in the order
    ``sorted(directory.iterdir())`` gives (by name, case-insensitively where the system's
    paths are), each ``str(directory / name)``.

    One ``os.scandir`` pass: its entries know (on most file systems) whether they are
    files without a ``stat`` call each, and sorting names is cheaper than sorting paths.
    """
    with os.scandir(directory) as entries:
        names = [entry.name for entry in entries
                 if _is_file(entry) and _is_structure_name(entry.name)]
    names.sort(key=os.path.normcase)
    root = str(directory)
    if root == ".":  # Path(".") / "a.xyz" is "a.xyz"
        return names
    return [os.path.join(root, name) for name in names]


def _is_file(entry):
    """``Path(entry.path).is_file()`` of a directory entry; a symlink is followed by pathlib,
    which turns more errors (a loop, say) into False than the entry's own test does."""
    if entry.is_symlink():
        return Path(entry.path).is_file()
    return entry.is_file()


def read_structures(paths, index=None):
    """Read structures from files into ``ase.Atoms``.

    ``.xyz`` files are read by a small parser that accepts an element symbol
    *or* an atomic number in the first column (``ase.io.read`` rejects the
    latter); extended xyz (a ``Lattice=`` or ``Properties=`` comment line),
    CIF, POSCAR/CONTCAR and every other format go to ``ase.io.read``, so
    periodic structures keep their cell and ``pbc``.

    Parameters
    ----------
    paths : str, path-like or iterable of them
        A file, a directory (every ``*.xyz``, ``*.extxyz``, ``*.cif``,
        ``*.vasp``, ``*.poscar``, ``POSCAR*`` and ``CONTCAR*`` in it, sorted
        by name; other files are ignored) or a sequence of files.  A file
        named otherwise is read by ``ase.io.read`` when ase recognises its
        name.
    index : None, int, slice or ":", default=None
        Which frames of a file to read.  ``None``: every file must hold one
        structure, and a file with several frames (a trajectory) is an error
        naming it, never silently cut to one frame; ``":"``: every frame;
        an int or a slice: those frames of every file.

    Returns
    -------
    list of ase.Atoms
        In file order, then frame order, with ``atoms.info["name"]`` set to
        the file stem (``stem_k`` for frame k of a multi-frame file) and
        ``atoms.info["source"]`` to the file (and line or frame).

    Raises
    ------
    ValueError
        One line naming the file (and line): binary or non-UTF-8 text, an
        atom count that disagrees with the lines that follow it (xyz,
        extxyz, POSCAR; checked before any reader allocates for it), unknown
        elements, coordinates that are not finite numbers, a file with no
        atoms, a CIF cell length or angle that is not positive, a CIF site
        shared by several elements, two atoms closer than 0.1 A (one atom
        listed twice, or a shared site), a file ase cannot read (with
        ase's reason), several frames with ``index=None``.  In a directory,
        one file that cannot be read fails the whole call (nothing is
        skipped silently); the message names the file.
    FileNotFoundError
        A path that is not a file or a directory.

    Warns
    -----
    UserWarning
        Naming the file: a CIF site partly occupied by one element (read as
        a full atom); an xyz atom line repeated after a frame's atoms (left
        out).

    Examples
    --------
    >>> import tempfile, os
    >>> from wacsf import read_structures
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "co.xyz"), "w") as fh:
    ...     _ = fh.write("2\\ncarbon monoxide\\n6 0 0 0\\n8 0 0 1.128\\n")
    >>> [atoms.get_chemical_formula() for atoms in read_structures(d)]
    ['CO']
    """
    directory = None
    if isinstance(paths, (str, os.PathLike)):
        path = Path(paths)
        if path.is_dir():
            directory = path
            files = _structure_files(path)
            if not files:
                raise ValueError(_no_structure_files(path))
        else:
            files = [path]
    else:
        files = list(paths)
    out = []
    for p in files:
        if directory is None:
            frames = _read_frames(p)
        else:
            frames = _read_listed(p, directory, len(files))
        out.extend(_select(p, frames, index))
    return out


def _read_listed(path, directory, n_files):
    """:func:`_read_frames` of a file listed in ``directory`` (of ``n_files`` structure
    files), its error naming the directory too."""
    try:
        return _read_frames(path)
    except ValueError as exc:
        raise ValueError(
            f"{exc} (in directory {str(directory)!r}, whose {n_files} structure files are "
            f"all read: fix this file or move it out)"
        ) from exc


def _no_structure_files(path):
    """The error for a directory without structure files, naming what it holds instead."""
    others = sorted(p.name for p in path.iterdir() if p.is_file())
    held = "it is empty" if not others else (
        f"it holds {len(others)} other files, e.g. {', '.join(map(repr, others[:3]))}: read "
        f"another format by passing the files themselves (ase.io.read formats)")
    return (
        f"no .xyz files (nor .extxyz, .cif, .vasp, .poscar, POSCAR* or CONTCAR*) in directory "
        f"{str(path)!r}; {held}"
    )
