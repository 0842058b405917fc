"""Structure files in, ``ase.Atoms`` out.

``.xyz`` files with an element symbol *or* an atomic number in the first
column are read by a small parser here (``ase.io.read`` rejects atomic
numbers); extended xyz, CIF, POSCAR and every other format go to
``ase.io.read``.  Every error names the file, and the line where there is one.
"""

import os
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np

__all__ = ["read_structures"]

#: Files of a directory that :func:`read_structures` reads (by suffix) ...
_STRUCTURE_SUFFIXES = (".xyz", ".extxyz", ".cif", ".vasp", ".poscar")
#: ... and by name (VASP).
_STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


def _decode(path):
    """The text of ``path``; a one-line error naming it for binary or non-UTF-8 files."""
    raw = Path(path).read_bytes()
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
        from ase.data import chemical_symbols

        for z in range(1, 119):
            _LABELS[chemical_symbols[z]] = z
            _LABELS[str(z)] = z
    return _LABELS


def _element(label, where):
    """Atomic number of an xyz label: an atomic number, or a symbol in any case."""
    from ase.data import atomic_numbers

    if label.lstrip("+-").isdigit():
        z = int(label)
        if not 1 <= z <= 118:
            raise ValueError(f"{where}: atomic number {z} is outside 1..118")
        return z
    symbol = label[:1].upper() + label[1:].lower()
    if symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
        raise ValueError(f"{where}: unknown element symbol {label!r}")
    return atomic_numbers[symbol]


def _parse_frame(path, lines, at):
    """One xyz frame starting at line index ``at``: (numbers, positions, comment, next index)."""
    labels = _label_table()
    n_atoms = _parse_count(path, lines, at)
    body = lines[at + 2 : at + 2 + n_atoms]
    if len(body) < n_atoms:
        raise ValueError(
            f"{path}: line {at + 1} announces {n_atoms} atoms but only {len(body)} follow"
        )
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
    numbers = np.array(numbers, dtype=np.int64)
    positions = np.array(coords, dtype=np.float64).reshape(n_atoms, 3)
    finite = np.isfinite(positions).all(axis=1)
    if not finite.all():
        k = int(np.argmin(finite))
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


def _read_xyz(path):
    """Every frame of an xyz file whose first column is an element symbol or an atomic number."""
    from ase import Atoms

    lines = _decode(path).splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path}: empty file, expected an atom count on line 1")
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
    for k, (numbers, positions, comment, start) in enumerate(frames):
        atoms = Atoms(numbers=numbers, positions=positions)
        stem = Path(path).stem
        atoms.info["name"] = stem if len(frames) == 1 else f"{stem}_{k}"
        atoms.info["comment"] = comment
        atoms.info["source"] = str(path) if len(frames) == 1 else f"{path}, line {start + 1}"
        out.append(atoms)
    return out


def _is_extxyz(path):
    """Whether an ``.xyz`` file is extended xyz (a lattice or properties on its comment line)."""
    with open(path, "rb") as fh:
        fh.readline()
        comment = fh.readline()
    return b"Lattice=" in comment or b"Properties=" in comment


def _read_with_ase(path, fmt=None):
    import ase.io

    try:
        frames = ase.io.read(path, index=":", format=fmt)
    except Exception as exc:  # ase raises many types; name the file
        raise ValueError(f"{path}: ase could not read this file ({exc})") from exc
    if not isinstance(frames, list):
        frames = [frames]
    stem = Path(path).stem or Path(path).name
    for k, atoms in enumerate(frames):
        atoms.info.setdefault("name", stem if len(frames) == 1 else f"{stem}_{k}")
        atoms.info["source"] = str(path) if len(frames) == 1 else f"{path}, frame {k}"
    return frames


def _read_frames(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no structure file at {str(path)!r}")
    if path.suffix.lower() == ".xyz":
        if _is_extxyz(path):
            _decode(path)  # a clear error for binary or non-UTF-8 files
            return _read_with_ase(path, "extxyz")
        return _read_xyz(path)
    return _read_with_ase(path)


def _select(path, frames, index):
    if index is None:
        if len(frames) > 1:
            raise ValueError(
                f"{path}: holds {len(frames)} structures (frames); read them all with "
                f"read_structures(..., index=':') or one with index=N"
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
    """True for a file that :func:`read_structures` reads from a directory (suffix or name)."""
    return path.suffix.lower() in _STRUCTURE_SUFFIXES or path.name.upper().startswith(
        _STRUCTURE_NAMES
    )


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
        by name) or a sequence of files.
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
        Naming the file and line: binary or non-UTF-8 text, an atom count
        that disagrees with the atom lines, unknown elements, coordinates
        that are not finite numbers, several frames with ``index=None``.

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
    if isinstance(paths, (str, os.PathLike)):
        path = Path(paths)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and is_structure_file(p))
            if not files:
                raise ValueError(
                    f"no .xyz files (nor .extxyz, .cif, .vasp, POSCAR or CONTCAR) in "
                    f"directory {str(path)!r}"
                )
        else:
            files = [path]
    else:
        files = list(paths)
    out = []
    for p in files:
        out.extend(_select(p, _read_frames(p), index))
    return out
