"""Structures in, packed arrays out.

Every backend takes the same packed layout (like a CSR matrix):

``positions``  (n_atoms, 3) float64, all structures one after another, Angstrom
``weights``    (n_atoms,) float64, the wACSF weight of each atom (default Z)
``offsets``    (n_structures + 1,) int64: structure s owns atoms
               ``offsets[s]:offsets[s + 1]``
``absorbers``  (n_structures,) int64: the *global* index of each structure's
               absorbing atom in ``positions``

Packing validates once, vectorised, so kernels never see a NaN, an empty
structure, an absorber out of range or an atom on top of the absorber.
"""

import math
import os
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path

import numba
import numpy as np

__all__ = ["read_structures", "pack", "PackedStructures"]

_XYZ_SUFFIXES = (".xyz",)


@numba.njit(cache=True)
def _first_non_finite(positions):
    """Index of the first atom with a NaN or infinite coordinate, or -1."""
    for a in range(positions.shape[0]):
        for c in range(3):
            if not math.isfinite(positions[a, c]):
                return a
    return -1


@numba.njit(cache=True)
def _first_on_absorber(positions, offsets, absorbers):
    """Global index of the first atom at distance 0 from its absorber, or -1."""
    for s in range(offsets.size - 1):
        i = absorbers[s]
        for a in range(offsets[s], offsets[s + 1]):
            if (
                a != i
                and positions[a, 0] == positions[i, 0]
                and positions[a, 1] == positions[i, 1]
                and positions[a, 2] == positions[i, 2]
            ):
                return a
    return -1


def _read_xyz(path):
    """Read an xyz file whose first column is an element symbol or an atomic number."""
    from ase import Atoms
    from ase.data import atomic_numbers

    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path}: empty file, expected an atom count on line 1")
    try:
        n_atoms = int(lines[0].split()[0])
    except ValueError:
        raise ValueError(
            f"{path}, line 1: expected the number of atoms, got {lines[0].strip()!r}"
        ) from None
    if n_atoms < 1:
        raise ValueError(f"{path}, line 1: the structure has {n_atoms} atoms")
    body = lines[2 : 2 + n_atoms]
    if len(body) < n_atoms:
        raise ValueError(f"{path}: line 1 announces {n_atoms} atoms but only {len(body)} follow")
    numbers = np.empty(n_atoms, dtype=np.int64)
    positions = np.empty((n_atoms, 3), dtype=np.float64)
    for i, line in enumerate(body):
        fields = line.split()
        where = f"{path}, line {i + 3}"
        if len(fields) < 4:
            raise ValueError(f"{where}: expected 'element x y z', got {line.strip()!r}")
        label = fields[0]
        if label.lstrip("+-").isdigit():
            z = int(label)
            if not 1 <= z <= 118:
                raise ValueError(f"{where}: atomic number {z} is outside 1..118")
        else:
            symbol = label[:1].upper() + label[1:].lower()
            if symbol not in atomic_numbers:
                raise ValueError(f"{where}: unknown element symbol {label!r}")
            z = atomic_numbers[symbol]
        numbers[i] = z
        try:
            positions[i] = [float(v) for v in fields[1:4]]
        except ValueError:
            raise ValueError(f"{where}: coordinates are not numbers: {line.strip()!r}") from None
    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.info["name"] = Path(path).stem
    atoms.info["comment"] = lines[1].strip() if len(lines) > 1 else ""
    return atoms


def _read_one(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no structure file at {str(path)!r}")
    if path.suffix.lower() in _XYZ_SUFFIXES:
        return _read_xyz(path)
    import ase.io

    try:
        return ase.io.read(path)
    except Exception as exc:  # ase raises many types; name the file
        raise ValueError(f"{path}: ase could not read this file ({exc})") from exc


def read_structures(paths):
    """Read structures from files into ``ase.Atoms``.

    ``.xyz`` files are read by a small parser that accepts an element symbol
    *or* an atomic number in the first column (``ase.io.read`` rejects the
    latter); any other format goes to ``ase.io.read``.

    Parameters
    ----------
    paths : str, path-like or iterable of them
        A file, a directory (every ``*.xyz`` in it, sorted by name) or a
        sequence of files.

    Returns
    -------
    list of ase.Atoms
        One per file, in order, with ``atoms.info["name"]`` set to the file
        stem.

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
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in _XYZ_SUFFIXES)
            if not files:
                raise ValueError(f"no .xyz files in directory {str(path)!r}")
            return [_read_one(p) for p in files]
        return [_read_one(path)]
    return [_read_one(p) for p in paths]


class PackedStructures:
    """Flat arrays for the kernels; see the module docstring for the layout."""

    __slots__ = ("positions", "weights", "offsets", "absorbers")

    def __init__(self, positions, weights, offsets, absorbers):
        self.positions = positions
        self.weights = weights
        self.offsets = offsets
        self.absorbers = absorbers

    @property
    def n_structures(self):
        return self.offsets.size - 1

    def slice(self, start, stop):
        """The structures ``start:stop`` as a new pack (views where possible)."""
        a, b = self.offsets[start], self.offsets[stop]
        return PackedStructures(
            self.positions[a:b],
            self.weights[a:b],
            self.offsets[start : stop + 1] - a,
            self.absorbers[start:stop] - a,
        )


def _as_atoms_list(X):
    """Accept Atoms, a path, or an iterable of Atoms/paths; return a list of Atoms."""
    from ase import Atoms

    if isinstance(X, Atoms):
        raise TypeError(
            "X must be a sequence of structures, got a single ase.Atoms: wrap it in a list, [atoms]"
        )
    if isinstance(X, (str, os.PathLike)):
        return read_structures(X)
    if isinstance(X, np.ndarray) and X.dtype != object:
        raise TypeError(
            f"X must be a sequence of ase.Atoms or structure files, got a numeric array of "
            f"shape {X.shape}; wACSF needs positions and elements, not a feature matrix"
        )
    try:
        items = list(X)
    except TypeError:
        raise TypeError(
            f"X must be a sequence of ase.Atoms or paths, got {type(X).__name__}"
        ) from None
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Atoms):
            out.append(item)
        elif isinstance(item, (str, os.PathLike)):
            out.extend(read_structures([item]))
        else:
            raise TypeError(
                f"structure {i}: expected ase.Atoms or a path to a structure file, "
                f"got {type(item).__name__}"
            )
    if not out:
        raise ValueError("X holds no structures: wACSF needs at least one")
    return out


def _weight_table(weights):
    """Per-element weight lookup (index = Z) for a mapping or callable weight."""
    zs = np.arange(119)
    table = np.full(119, np.nan)
    if isinstance(weights, Mapping):
        for key, value in weights.items():
            if isinstance(key, str):
                from ase.data import atomic_numbers

                if key not in atomic_numbers:
                    raise ValueError(f"weights: unknown element symbol {key!r}")
                key = atomic_numbers[key]
            table[int(key)] = float(value)
        return table
    values = np.asarray(weights(zs[1:]), dtype=np.float64)
    if values.shape != (118,):
        raise ValueError(
            "weights as a callable must map an array of atomic numbers to an array of "
            f"the same shape; for Z = 1..118 it returned shape {values.shape}"
        )
    table[1:] = values
    return table


def _absorber_indices(atoms_list, absorber):
    n = len(atoms_list)
    if isinstance(absorber, (bool, np.bool_)):
        raise TypeError(
            f"absorber must be an int, a sequence of ints or an info key, got {absorber!r}"
        )
    if isinstance(absorber, Integral):
        return np.full(n, int(absorber), dtype=np.int64)
    if isinstance(absorber, str):
        idx = np.empty(n, dtype=np.int64)
        for i, atoms in enumerate(atoms_list):
            if absorber not in atoms.info:
                raise ValueError(
                    f"structure {i}: absorber={absorber!r} names an atoms.info key, "
                    f"but this structure's info has keys {sorted(atoms.info)}"
                )
            idx[i] = int(atoms.info[absorber])
        return idx
    idx = np.asarray(absorber)
    if idx.ndim != 1 or idx.size != n or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"absorber as a sequence must hold one integer index per structure "
            f"({n} structures), got {absorber!r}"
        )
    return idx.astype(np.int64)


def pack(X, weights="Z", absorber=0):
    """Validate structures and pack them into flat arrays.

    Parameters
    ----------
    X : sequence of ase.Atoms or paths
    weights : "Z", mapping or callable
        ``"Z"``: the atomic number; a mapping from Z (or element symbol) to
        weight; or a callable mapping an int array of Z to float weights.
    absorber : int, sequence of int or str
        The absorbing atom's index in every structure, one index per
        structure, or an ``atoms.info`` key holding it.  Negative indices
        count from the end, as in Python.

    Returns
    -------
    PackedStructures
    """
    atoms_list = _as_atoms_list(X)
    n = len(atoms_list)
    counts = np.fromiter((len(a) for a in atoms_list), dtype=np.int64, count=n)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(f"structure {empty[0]} has no atoms")
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    positions = np.ascontiguousarray(
        np.concatenate([a.positions for a in atoms_list]), dtype=np.float64
    )
    numbers = np.concatenate([a.numbers for a in atoms_list]).astype(np.int64)

    bad_coords = _first_non_finite(positions)
    if bad_coords >= 0:
        s = int(np.searchsorted(offsets, bad_coords, side="right") - 1)
        raise ValueError(f"structure {s} has NaN or infinite coordinates")
    badz = (numbers < 1) | (numbers > 118)
    if badz.any():
        s = int(np.searchsorted(offsets, np.flatnonzero(badz)[0], side="right") - 1)
        raise ValueError(f"structure {s} has an atom with atomic number outside 1..118")

    local = _absorber_indices(atoms_list, absorber)
    local = np.where(local < 0, local + counts, local)
    out_of_range = np.flatnonzero((local < 0) | (local >= counts))
    if out_of_range.size:
        s = int(out_of_range[0])
        raise ValueError(
            f"structure {s}: absorber index {int(local[s])} is out of range for "
            f"{int(counts[s])} atoms"
        )
    absorbers = offsets[:-1] + local

    atom = _first_on_absorber(positions, offsets, absorbers)
    if atom >= 0:
        s = int(np.searchsorted(offsets, atom, side="right") - 1)
        raise ValueError(
            f"structure {s}: atom {atom - int(offsets[s])} sits exactly on the absorber "
            f"(atom {int(local[s])}); distances of 0 are not allowed"
        )

    if isinstance(weights, str):
        if weights != "Z":
            raise ValueError(f"weights must be 'Z', a mapping or a callable, got {weights!r}")
        w = numbers.astype(np.float64)
    else:
        table = _weight_table(weights)
        w = table[numbers]
        missing = np.flatnonzero(~np.isfinite(w))
        if missing.size:
            atom = int(missing[0])
            s = int(np.searchsorted(offsets, atom, side="right") - 1)
            raise ValueError(
                f"structure {s}: no finite weight for element Z={int(numbers[atom])}; "
                f"add it to the weights mapping"
            )
    return PackedStructures(positions, np.ascontiguousarray(w), offsets, absorbers)
