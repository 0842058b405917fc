"""Structures in, packed arrays out.

Every backend takes the same packed layout (like a CSR matrix), one *row*
per absorbing site:

``positions``  (n_atoms, 3) float64, all rows' atoms one after another, Angstrom
``weights``    (n_atoms,) float64, the wACSF weight of each atom (default Z)
``offsets``    (n_rows + 1,) int64: row r owns atoms ``offsets[r]:offsets[r + 1]``
``absorbers``  (n_rows,) int64: the *global* index of row r's absorbing atom
               in ``positions``

plus ``sites`` (n_rows, 2) int64, the (structure index, atom index) of every
row, for the caller.

A molecule with one absorber is one row holding the molecule as it is, so
the kernels see exactly the arrays they always saw.  A molecule with several
absorbing sites is one row per site, each a copy of the molecule.  A
periodic structure is one row per site holding the site's explicit
environment (the absorber and every periodic image within ``r_cut``, see
:mod:`wacsf._periodic`).

Packing validates once, vectorised, so kernels never see a NaN, an empty
structure, an absorber out of range or an atom on top of the absorber.
"""

import math
import os
import warnings
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path

import numba
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from ._molecules import Molecules, read_molecules
from ._readers import (
    _no_structure_files,
    _read_listed,
    _select,
    _structure_files,
    read_structures,
)

# Imports inside functions: _periodic (the image search) only when a structure is periodic.

__all__ = ["pack", "iter_chunks", "Chunk", "PackedStructures", "MIN_DISTANCE",
           "MIN_PERIODIC_DISTANCE"]

#: Atoms closer than this to their absorber (Angstrom) are refused: no physical
#: structure has them, and the angle at the absorber is undefined at 0.
MIN_DISTANCE = 1e-6
#: In a periodic structure, an atom or image closer than this to its absorber
#: (Angstrom; far below any bond, H2's is 0.74) is refused: such a cell was
#: given in nm, or holds duplicated atoms, and its image search would explode.
MIN_PERIODIC_DISTANCE = 0.5


@numba.njit(cache=True)
def _first_non_finite(positions):
    """Index of the first atom with a NaN or infinite coordinate, or -1."""
    for a in range(positions.shape[0]):
        for c in range(3):
            if not math.isfinite(positions[a, c]):
                return a
    return -1


@numba.njit(cache=True)
def _first_near_absorber(positions, offsets, absorbers, min_distance):
    """Global index of the first atom closer than its row's ``min_distance`` to its absorber.

    ``min_distance`` holds one limit per row; returns -1 when no atom is that close.
    """
    for s in range(offsets.size - 1):
        i = absorbers[s]
        limit = min_distance[s] * min_distance[s]
        for a in range(offsets[s], offsets[s + 1]):
            if a != i:
                dx = positions[a, 0] - positions[i, 0]
                dy = positions[a, 1] - positions[i, 1]
                dz = positions[a, 2] - positions[i, 2]
                if dx * dx + dy * dy + dz * dz < limit:
                    return a
    return -1


class PackedStructures:
    """Flat arrays for the kernels; see the module docstring for the layout."""

    __slots__ = ("positions", "weights", "offsets", "absorbers", "sites")

    def __init__(self, positions, weights, offsets, absorbers, sites=None):
        self.positions = positions
        self.weights = weights
        self.offsets = offsets
        self.absorbers = absorbers
        if sites is None:
            n = offsets.size - 1
            sites = np.stack([np.arange(n), absorbers - offsets[:-1]], axis=1)
        self.sites = sites

    @property
    def n_structures(self):
        """Rows of the pack (one per absorbing site)."""
        return self.offsets.size - 1

    def slice(self, start, stop):
        """The rows ``start:stop`` as a new pack (views where possible)."""
        a, b = self.offsets[start], self.offsets[stop]
        return PackedStructures(
            self.positions[a:b],
            self.weights[a:b],
            self.offsets[start : stop + 1] - a,
            self.absorbers[start:stop] - a,
            self.sites[start:stop],
        )


class Chunk(list):
    """A list of ``ase.Atoms`` that knows the input index of its first structure.

    Packing a chunk of a longer input names structures by their index in the
    whole input, in error messages and in ``sites``.
    """

    def __init__(self, items, base=0):
        super().__init__(items)
        self.base = int(base)


def _sid(atoms_list, s):
    """Input index of structure ``s`` of ``atoms_list`` (a :class:`Chunk` or a list)."""
    return int(s) + getattr(atoms_list, "base", 0)


def _where(atoms):
    """`` in 'file'`` or `` ('name')`` for error messages, or ''."""
    info = atoms.info
    if info.get("source"):
        return f" in {info['source']}"
    if info.get("name"):
        return f" ({info['name']!r})"
    return ""


#: A chunk closes at this many atoms even before ``chunk_size`` rows (large cells).
ATOMS_PER_CHUNK = 2_000_000


def _check_input(X):
    if isinstance(X, Atoms):
        raise TypeError(
            "X must be a sequence of structures, got a single ase.Atoms: wrap it in a list, [atoms]"
        )
    if isinstance(X, np.ndarray) and X.dtype != object:
        raise TypeError(
            f"X must be a sequence of ase.Atoms or structure files, got a numeric array of "
            f"shape {X.shape}; wACSF need positions and elements, not a feature matrix"
        )


def _reading(items, position):
    """``items``, with a reader's error (a trajectory cut mid-frame) naming the structure."""
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except Exception as exc:  # the user's iterable: ase's readers raise many types
            raise ValueError(
                f"structure {position()}: reading it failed ({type(exc).__name__}: {exc}); "
                f"the {position()} structures before it were read"
            ) from exc
        yield item


def iter_chunks(X, max_rows, absorber_element=None):
    """The structures of any iterable, as :class:`Chunk` lists of bounded size.

    ``X`` may be a list, a generator, ``ase.io.iread`` over a trajectory,
    rows of an ``ase.db`` (anything with ``toatoms()``), paths, or one path
    (a file or a directory).  It is consumed lazily: a chunk closes at
    ``max_rows`` feature rows (one per structure, or one per site of
    ``absorber_element``) or :data:`ATOMS_PER_CHUNK` atoms, so memory is
    bounded by the chunk, not by the input.  A directory is read ``max_rows``
    files at a time (:func:`_directory_items`), and its chunks of molecules
    are :class:`~wacsf._molecules.Molecules` (flat arrays), not lists.
    """
    _check_input(X)
    if isinstance(X, Molecules):
        if not len(X):
            raise ValueError("X holds no structures: wACSF need at least one")
        yield from _packed_chunks([X], max_rows, absorber_element)
        return
    if isinstance(X, (str, os.PathLike)):
        if Path(X).is_dir():  # streamed, plain xyz files read together
            yield from _packed_chunks(_directory_items(Path(X), max_rows), max_rows,
                                      absorber_element)
            return
        X = read_structures(X)
    if absorber_element is None and type(X) is list and X and all(type(a) is Atoms for a in X):
        yield from _list_chunks(X, max_rows)  # the loop's chunks, without its per-item steps
        return
    try:
        items = iter(X)
    except TypeError:
        raise TypeError(
            f"X must be a sequence of ase.Atoms or paths, got {type(X).__name__}"
        ) from None
    yield from _packed_chunks(_structures_of(items), max_rows, absorber_element)


def _structures_of(items):
    """The ``ase.Atoms`` of an iterable of ``ase.Atoms``, structure files and ase.db rows,
    in order; an error in reading names the input position of the structure."""
    position = 0  # structures yielded so far, read late by the lambda on purpose
    for item in _reading(items, lambda: position):  # noqa: B023
        if isinstance(item, Atoms):
            found = (item,)
        elif isinstance(item, (str, os.PathLike)):
            found = read_structures([item])
        elif hasattr(item, "toatoms"):  # an ase.db row
            found = (item.toatoms(),)
        else:
            raise TypeError(
                f"structure {position}: expected ase.Atoms or a path to a structure "
                f"file, got {type(item).__name__}"
            )
        for atoms in found:
            position += 1
            yield atoms


def _list_chunks(atoms_list, max_rows):
    """:func:`iter_chunks` of a list of ``ase.Atoms`` (one row each): slices of the list,
    closing where the item-by-item loop closes them, at ``max_rows`` structures or
    :data:`ATOMS_PER_CHUNK` atoms."""
    n = len(atoms_list)
    sizes = np.fromiter((len(a.arrays["positions"]) for a in atoms_list), dtype=np.int64,
                        count=n)
    total = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=total[1:])
    start = 0
    while start < n:
        by_atoms = int(np.searchsorted(total, total[start] + ATOMS_PER_CHUNK, side="left"))
        stop = max(min(start + max_rows, by_atoms, n), start + 1)
        yield Chunk(atoms_list[start:stop], start)
        start = stop


def _directory_items(directory, batch):
    """The structures of a directory, as :func:`read_structures` reads them (in the same
    order, with the same names, errors and warnings), streamed: ``batch`` files at a
    time, each batch a :class:`~wacsf._molecules.Molecules` when every structure in it is
    a molecule (plain xyz files are parsed together, without an ``ase.Atoms`` each),
    else its ``ase.Atoms`` one by one."""
    files = _structure_files(directory)
    if not files:
        raise ValueError(_no_structure_files(directory))

    def fallback(path):  # read_structures's reading of a directory's file
        return _select(path, _read_listed(path, directory, len(files)), None)

    for k in range(0, len(files), batch):
        got = read_molecules(files[k:k + batch], base=k, fallback=fallback)
        if isinstance(got, Molecules):
            yield got
        else:
            yield from got


def _packed_chunks(items, max_rows, absorber_element):
    """:func:`iter_chunks` of ``items``, each a :class:`~wacsf._molecules.Molecules` or an
    ``ase.Atoms`` (a directory's batches): the chunks close exactly where those of the
    same structures as a list close.  A chunk of molecules only is one ``Molecules``; one
    mixing them with ``ase.Atoms`` (a directory holding crystals too) is a
    :class:`Chunk` of ``ase.Atoms``."""
    z = None if absorber_element is None else _atomic_number(absorber_element,
                                                             "absorber_element")
    parts, n_parts, rows, atoms_seen, base = [], 0, 0, 0, 0
    for item in items:
        if isinstance(item, Atoms):
            parts.append(item)
            n_parts += 1
            atoms_seen += len(item.arrays["positions"])  # len(atoms), without its call
            rows += 1 if z is None else max(1, int(np.count_nonzero(item.numbers == z)))
            if rows >= max_rows or atoms_seen >= ATOMS_PER_CHUNK:
                yield _joined(parts, base)
                base += n_parts
                parts, n_parts, rows, atoms_seen = [], 0, 0, 0
            continue
        counts = item.counts
        if z is None:
            item_rows = np.ones(len(item), dtype=np.int64)
        else:
            owner = np.repeat(np.arange(len(item)), counts)
            item_rows = np.maximum(1, np.bincount(owner[item.numbers == z],
                                                  minlength=len(item)))
        start = 0
        while start < len(item):
            # the first structure whose addition reaches a limit closes the chunk
            more_rows = rows + np.cumsum(item_rows[start:])
            more_atoms = atoms_seen + np.cumsum(counts[start:])
            full = np.flatnonzero((more_rows >= max_rows) | (more_atoms >= ATOMS_PER_CHUNK))
            stop = len(item) if not full.size else start + int(full[0]) + 1
            parts.append(item[start:stop])
            n_parts += stop - start
            if not full.size:
                rows, atoms_seen = int(more_rows[-1]), int(more_atoms[-1])
                break
            yield _joined(parts, base)
            base += n_parts
            parts, n_parts, rows, atoms_seen = [], 0, 0, 0
            start = stop
    if parts:
        yield _joined(parts, base)
    elif base == 0:
        raise ValueError("X holds no structures: wACSF need at least one")


def _joined(parts, base):
    """One chunk of consecutive ``parts`` (``ase.Atoms``, or Molecules) from input position
    ``base``: a Molecules when all are Molecules, else a :class:`Chunk` of ``ase.Atoms``."""
    packed = [isinstance(p, Molecules) for p in parts]
    if not any(packed):
        return Chunk(parts, base)
    if not all(packed):
        return Chunk([atoms for p, is_packed in zip(parts, packed)
                      for atoms in (p if is_packed else (p,))], base)
    if len(parts) == 1:
        p = parts[0]
        return Molecules(p.numbers, p.positions, p.offsets, p.names, p.sources, base)
    counts = np.concatenate([p.counts for p in parts])
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Molecules(np.concatenate([p.numbers for p in parts]),
                     np.concatenate([p.positions for p in parts]), offsets,
                     [n for p in parts for n in p.names],
                     [s for p in parts for s in p.sources], base)


def _as_atoms_list(X):
    """Accept Atoms, a path, or an iterable of Atoms/paths; return a list of Atoms
    (or the :class:`~wacsf._molecules.Molecules` given)."""
    if isinstance(X, (Chunk, Molecules)):
        return X
    if isinstance(X, Atoms):
        raise TypeError(
            "X must be a sequence of structures, got a single ase.Atoms: wrap it in a list, [atoms]"
        )
    if isinstance(X, (str, os.PathLike)):
        return read_structures(X)
    if isinstance(X, np.ndarray) and X.dtype != object:
        raise TypeError(
            f"X must be a sequence of ase.Atoms or structure files, got a numeric array of "
            f"shape {X.shape}; wACSF need positions and elements, not a feature matrix"
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
        raise ValueError("X holds no structures: wACSF need at least one")
    return out


def _atomic_number(key, what):
    """An atomic number in 1..118 from a symbol or an integer, or a ValueError naming ``what``."""
    if isinstance(key, str):
        symbol = key[:1].upper() + key[1:].lower()
        if symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
            raise ValueError(f"{what}: unknown element symbol {key!r}")
        return atomic_numbers[symbol]
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, Integral):
        raise ValueError(f"{what}: expected an element symbol or an atomic number, got {key!r}")
    if not 1 <= int(key) <= 118:
        raise ValueError(f"{what}: atomic number {int(key)} is outside 1..118")
    return int(key)


def _weight_table(weights):
    """Per-element weight lookup (index = Z) for a mapping or callable weight."""
    zs = np.arange(119)
    table = np.full(119, np.nan)
    if isinstance(weights, Mapping):
        for key, value in weights.items():
            z = _atomic_number(key, "weights")
            try:
                table[z] = float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"weights: the weight of {key!r} must be a number, got {value!r}"
                ) from None
        return table
    values = np.asarray(weights(zs[1:]), dtype=np.float64)
    if values.shape != (118,):
        raise ValueError(
            "weights as a callable must map an array of atomic numbers to an array of "
            f"the same shape; for Z = 1..118 it returned shape {values.shape}"
        )
    table[1:] = values
    return table


def _info_index(value, i, atoms, key="absorber"):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Integral, np.integer)):
        raise ValueError(
            f"structure {i}{_where(atoms)}: atoms.info[{key!r}] must be an atom index, "
            f"got {value!r}"
        )
    return int(value)


def _absorber_indices(atoms_list, absorber):
    n = len(atoms_list)
    if isinstance(absorber, (bool, np.bool_)):
        raise TypeError(
            f"absorber must be an int, a sequence of ints or an info key, got {absorber!r}"
        )
    if isinstance(absorber, Integral):
        return np.full(n, int(absorber), dtype=np.int64)
    if isinstance(absorber, str) and absorber == "auto":
        idx = np.zeros(n, dtype=np.int64)
        if isinstance(atoms_list, Molecules):  # plain xyz files: no info["absorber"]
            return idx
        for i, atoms in enumerate(atoms_list):
            value = atoms.info.get("absorber")
            if type(value) is int:  # the common case, without _info_index's checks
                idx[i] = value
            elif value is not None:
                idx[i] = _info_index(value, _sid(atoms_list, i), atoms)
        return idx
    if isinstance(absorber, str):
        idx = np.empty(n, dtype=np.int64)
        for i, atoms in enumerate(atoms_list):
            if absorber not in atoms.info:
                raise ValueError(
                    f"structure {_sid(atoms_list, i)}{_where(atoms)}: absorber={absorber!r} "
                    f"names an atoms.info "
                    f"key, but this structure's info has keys {sorted(atoms.info)}"
                )
            value = atoms.info[absorber]
            idx[i] = value if type(value) is int else _info_index(value, _sid(atoms_list, i),
                                                                  atoms, absorber)
        return idx
    idx = np.asarray(absorber)
    if idx.ndim != 1 or idx.size != n or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"absorber as a sequence must hold one integer index per structure "
            f"({n} structures), got {absorber!r}"
        )
    return idx.astype(np.int64)


def absorber_indices(structures, absorber=0):
    """The index of each structure's absorbing atom, as ``WACSFTransformer(absorber=...)``
    finds it.

    Parameters
    ----------
    structures : sequence of ase.Atoms
    absorber : int, "auto", str or sequence of int, default=0
        As :class:`~wacsf.WACSFTransformer`'s ``absorber``: one index for
        every structure (negative: from the end), ``"auto"`` (each
        structure's ``atoms.info["absorber"]``, else 0), another
        ``atoms.info`` key, or one index per structure.

    Returns
    -------
    ndarray of int64, shape (n_structures,)
        Non-negative atom indices.

    Raises
    ------
    ValueError
        Naming the structure: a missing ``atoms.info`` key, an index that
        is not an integer or is out of range for its atoms.

    Examples
    --------
    >>> from ase.build import molecule
    >>> from wacsf import absorber_indices
    >>> water = molecule("H2O")
    >>> water.info["absorber"] = 1
    >>> absorber_indices([water, molecule("CH4")], "auto").tolist()
    [1, 0]
    >>> absorber_indices([molecule("CH4")], -1).tolist()
    [4]
    """
    atoms_list = list(structures)
    counts = np.fromiter((len(atoms) for atoms in atoms_list), dtype=np.int64,
                         count=len(atoms_list))
    return _in_range(atoms_list, _absorber_indices(atoms_list, absorber), counts)


def _in_range(atoms_list, local, counts):
    """``local`` absorber indices with negative ones counted from the end; ValueError
    naming the first structure whose index is out of range."""
    local = np.where(local < 0, local + counts, local)
    out_of_range = np.flatnonzero((local < 0) | (local >= counts))
    if out_of_range.size:
        s = int(out_of_range[0])
        raise ValueError(
            f"structure {_sid(atoms_list, s)}{_where(atoms_list[s])}: absorber index "
            f"{int(local[s])} is out of range for {int(counts[s])} atoms"
        )
    return local


def _atom_weights(numbers, offsets, weights, atoms_list):
    if isinstance(weights, str):
        if weights != "Z":
            raise ValueError(f"weights must be 'Z', a mapping or a callable, got {weights!r}")
        return numbers.astype(np.float64)
    w = _weight_table(weights)[numbers]
    missing = np.flatnonzero(~np.isfinite(w))
    if missing.size:
        atom = int(missing[0])
        s = int(np.searchsorted(offsets, atom, side="right") - 1)
        raise ValueError(
            f"structure {_sid(atoms_list, s)}{_where(atoms_list[s])}: no finite weight for element "
            f"Z={int(numbers[atom])}; add it to the weights mapping"
        )
    return w


def _site_list(atoms_list, numbers, offsets, counts, absorber, absorber_element,
               on_missing_absorber):
    """(structure index, local atom index) of every absorbing site, in order."""
    n = len(atoms_list)
    if absorber_element is None:
        local = _in_range(atoms_list, _absorber_indices(atoms_list, absorber), counts)
        return np.stack([np.arange(n, dtype=np.int64), local], axis=1)
    z = _atomic_number(absorber_element, "absorber_element")
    hits = np.flatnonzero(numbers == z)
    struct = np.searchsorted(offsets, hits, side="right") - 1
    has_site = np.zeros(n, dtype=bool)
    has_site[struct] = True
    missing = np.flatnonzero(~has_site)
    if missing.size:
        s = int(missing[0])
        formula = atoms_list[s].get_chemical_formula()
        what = (f"structure {_sid(atoms_list, s)}{_where(atoms_list[s])} ({formula}) has no "
                f"{chemical_symbols[z]} atom")
        more = f" (nor do {missing.size - 1} more)" if missing.size > 1 else ""
        if on_missing_absorber == "raise":
            raise ValueError(
                f"{what}{more}, but absorber_element={absorber_element!r}; "
                f"on_missing_absorber='skip' leaves such structures out"
            )
        warnings.warn(
            f"absorber_element={absorber_element!r}: skipped {missing.size} structures with "
            f"no {chemical_symbols[z]} atom, e.g. {what}",
            UserWarning, stacklevel=4,
        )
    return np.stack([struct, hits - offsets[struct]], axis=1).astype(np.int64)


def _gather_copies(sites, offsets, counts):
    """Global atom indices of one copy of its structure per row (molecules), and row offsets."""
    from ._periodic import ranges

    row_counts = counts[sites[:, 0]]
    row_offsets = np.zeros(len(sites) + 1, dtype=np.int64)
    np.cumsum(row_counts, out=row_offsets[1:])
    return ranges(offsets[sites[:, 0]], row_counts), row_offsets


def _pack_rows(atoms_list, positions, offsets, counts, periodic, sites, r_cut):
    """(source atom, coordinates, row offsets, local absorbers) with periodic rows.

    Rows of molecules are copies of their structure; rows of periodic
    structures hold the site's explicit environment, absorber first at the
    origin (:mod:`wacsf._periodic`).  Vectorised over all structures.
    """
    from ._periodic import check_cells, periodic_environments, ranges

    per_index = np.flatnonzero(periodic)
    cells = np.array([atoms_list[k].cell.array for k in per_index], dtype=np.float64)
    pbc = np.array([atoms_list[k].pbc for k in per_index], dtype=bool)

    def label(k):
        s = int(per_index[k])
        return f"structure {_sid(atoms_list, s)}{_where(atoms_list[s])}"

    inverse, reach = check_cells(cells, pbc, r_cut, label, n_atoms=counts[per_index])
    # the periodic structures' atoms, renumbered 0.. in their own packed block
    per_offsets = np.zeros(per_index.size + 1, dtype=np.int64)
    np.cumsum(counts[per_index], out=per_offsets[1:])
    everything = per_index.size == len(atoms_list)
    per_atoms = None if everything else ranges(offsets[per_index], counts[per_index])
    per_positions = positions if everything else positions[per_atoms]
    rank_of = np.full(len(atoms_list), -1, dtype=np.int64)
    rank_of[per_index] = np.arange(per_index.size)

    row_periodic = periodic[sites[:, 0]]
    per_rows = np.flatnonzero(row_periodic)
    site_struct = rank_of[sites[per_rows, 0]]
    site_atom = per_offsets[site_struct] + sites[per_rows, 1]
    sizes, env_source, env_coords = periodic_environments(
        per_positions, per_offsets, cells, inverse, reach, site_atom, site_struct, r_cut,
        labels=label,
    )
    row_counts = counts[sites[:, 0]].copy()
    row_counts[per_rows] = sizes
    row_offsets = np.zeros(len(sites) + 1, dtype=np.int64)
    np.cumsum(row_counts, out=row_offsets[1:])
    source = np.empty(int(row_offsets[-1]), dtype=np.int64)
    coords = np.empty((source.size, 3), dtype=np.float64)
    mol_rows = np.flatnonzero(~row_periodic)
    dest = ranges(row_offsets[mol_rows], row_counts[mol_rows])
    source[dest] = ranges(offsets[sites[mol_rows, 0]], row_counts[mol_rows])
    coords[dest] = positions[source[dest]]
    dest = ranges(row_offsets[per_rows], sizes)
    source[dest] = env_source if everything else per_atoms[env_source]
    coords[dest] = env_coords
    local = np.where(row_periodic, 0, sites[:, 1])
    return source, coords, row_offsets, local


def pack(X, weights="Z", absorber="auto", absorber_element=None, r_cut=None,
         on_missing_absorber="raise"):
    """Validate structures and pack them into flat arrays, one row per absorbing site.

    Parameters
    ----------
    X : sequence of ase.Atoms or paths
    weights : "Z", mapping or callable
        ``"Z"``: the atomic number; a mapping from Z (or element symbol) to
        weight; or a callable mapping an int array of Z to float weights.
    absorber : "auto", int, sequence of int or str
        ``"auto"``: each structure's ``atoms.info["absorber"]`` where it has
        one, else atom 0; the absorbing atom's index in every structure; one
        index per structure; or an ``atoms.info`` key holding it.  Negative
        indices count from the end, as in Python.  Not used with
        ``absorber_element``.
    absorber_element : str, int or None
        Every atom of this element (symbol or atomic number) is a site.
    r_cut : float or None
        Cutoff radius; needed for periodic structures (their environments
        are cut out at ``r_cut``).
    on_missing_absorber : {"raise", "skip"}
        With ``absorber_element``, a structure without such an atom is an
        error, or is skipped with a warning.

    Returns
    -------
    PackedStructures
    """
    atoms_list = _as_atoms_list(X)
    n = len(atoms_list)
    if isinstance(atoms_list, Molecules):  # already flat (read from plain xyz files)
        counts, offsets = atoms_list.counts, atoms_list.offsets
        positions, numbers = atoms_list.positions, atoms_list.numbers
    else:
        # ase keeps per-atom data in atoms.arrays; reading it there skips the properties
        position_list = [a.arrays["positions"] for a in atoms_list]
        number_list = [a.arrays["numbers"] for a in atoms_list]
        counts = np.fromiter(map(len, number_list), dtype=np.int64, count=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        positions = np.ascontiguousarray(np.concatenate(position_list), dtype=np.float64)
        numbers = np.concatenate(number_list).astype(np.int64, copy=False)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        s = int(empty[0])
        raise ValueError(f"structure {_sid(atoms_list, s)}{_where(atoms_list[s])} has no atoms")

    bad_coords = _first_non_finite(positions)
    if bad_coords >= 0:
        s = int(np.searchsorted(offsets, bad_coords, side="right") - 1)
        axes = "".join("xyz"[c] for c in range(3) if not np.isfinite(positions[bad_coords, c]))
        raise ValueError(
            f"structure {_sid(atoms_list, s)} has NaN or infinite coordinates "
            f"(atom {bad_coords - int(offsets[s])}, "
            f"{axes}){_where(atoms_list[s])}"
        )
    badz = (numbers < 1) | (numbers > 118)
    if badz.any():
        atom = int(np.flatnonzero(badz)[0])
        s = int(np.searchsorted(offsets, atom, side="right") - 1)
        raise ValueError(
            f"structure {_sid(atoms_list, s)} has an atom with atomic number outside 1..118 (atom "
            f"{atom - int(offsets[s])}: Z={int(numbers[atom])}){_where(atoms_list[s])}"
        )
    w = _atom_weights(numbers, offsets, weights, atoms_list)
    sites = _site_list(atoms_list, numbers, offsets, counts, absorber, absorber_element,
                       on_missing_absorber)
    if isinstance(atoms_list, Molecules):
        periodic = np.zeros(n, dtype=bool)
    else:
        periodic = np.concatenate([a.pbc for a in atoms_list]).reshape(n, 3).any(axis=1)
    if not len(sites):  # every structure skipped (on_missing_absorber="skip")
        none = np.zeros(0, dtype=np.int64)
        return PackedStructures(np.zeros((0, 3)), np.zeros(0), np.zeros(1, dtype=np.int64),
                                none, np.zeros((0, 2), dtype=np.int64))

    raw_positions = positions
    if periodic.any():
        if r_cut is None:
            raise ValueError("pack: periodic structures need r_cut")
        source, positions, row_offsets, local = _pack_rows(
            atoms_list, positions, offsets, counts, periodic, sites, r_cut
        )
        w = w[source]
    elif absorber_element is None:
        source, row_offsets, local = None, offsets, sites[:, 1]
    else:
        source, row_offsets = _gather_copies(sites, offsets, counts)
        positions, w, local = positions[source], w[source], sites[:, 1]
    absorbers = row_offsets[:-1] + local

    limits = np.where(periodic[sites[:, 0]], MIN_PERIODIC_DISTANCE, MIN_DISTANCE)
    atom = _first_near_absorber(positions, row_offsets, absorbers, limits)
    if atom >= 0:
        row = int(np.searchsorted(row_offsets, atom, side="right") - 1)
        s, i = int(sites[row, 0]), int(sites[row, 1])
        other = int((source[atom] if source is not None else atom) - offsets[s])
        d = float(np.linalg.norm(positions[atom] - positions[absorbers[row]]))
        how = "sits exactly on" if d == 0.0 else f"is only {d:.3g} A from"
        image = ""
        if periodic[s]:  # a member is the atom itself only where its vector is plain p_j - p_i
            a, b = int(offsets[s]) + other, int(offsets[s]) + i
            itself = np.array_equal(positions[atom], raw_positions[a] - raw_positions[b])
            image = "" if itself else " (a periodic image of it)"
        why = (f"in a periodic structure, distances below {MIN_PERIODIC_DISTANCE:g} A (far "
               f"below any bond) are not allowed: are the cell and positions in nm? wACSF need "
               f"Angstrom" if periodic[s] else f"distances below {MIN_DISTANCE:g} A are not "
               f"allowed")
        raise ValueError(
            f"structure {_sid(atoms_list, s)}: atom {other}{image} {how} the absorber (atom {i})"
            f"{_where(atoms_list[s])}; {why}"
        )
    if getattr(atoms_list, "base", 0):
        sites = sites + np.array([atoms_list.base, 0])
    return PackedStructures(positions, np.ascontiguousarray(w), row_offsets, absorbers, sites)
