"""Many plain xyz files read straight into flat arrays, without an ``ase.Atoms`` each.

Reading a directory of small molecules one file at a time through
:func:`wacsf.read_structures` costs about 200 us of Python per file (line
splitting, checks, an ``ase.Atoms``, then packing it again for the kernel),
several times what the kernel needs to featurise it.  :func:`read_molecules`
reads a batch of files into one buffer and parses all of them in
one compiled, GIL-free pass into the packed layout the kernels take
(:class:`Molecules`).

It reads only what it can read exactly as :func:`wacsf.read_structures`
does: a file of ASCII text holding one frame -- a count line of digits, a
comment line without ``Lattice=`` or ``Properties=``, that many atom lines
``label x y z [more fields]`` with a label of one or two letters (any case)
or an atomic number, and coordinates that are plain decimals converted
exactly (see ``wacsf._readers._decimal``), then only blank lines -- with no
two atoms closer than ``MIN_SEPARATION``.  Every other file (extended xyz,
another format, a second frame, a repeated atom line, an unusual number, a
file with an error) goes to the full reader, so atoms, names, errors and
warnings are those of :func:`wacsf.read_structures`, bit for bit.
"""

import os
from collections.abc import Sequence

import numba
import numpy as np
from ase import Atoms

from ._readers import (
    _BRUTE_FORCE_ATOMS,
    _POWERS_OF_TEN,
    _SYMBOL_CODES,
    MIN_SEPARATION,
    _decimal,
    _is_space,
    _label_number,
    read_structures,
)

__all__ = ["Molecules", "read_molecules"]

#: Bytes asked of each read; a file is read until a read returns nothing.
_READ_SIZE = 1 << 16


class Molecules(Sequence):
    """Non-periodic structures as flat arrays, a read-only sequence of ``ase.Atoms``.

    ``numbers`` (n_atoms,) int64 and ``positions`` (n_atoms, 3) float64 hold
    every structure's atoms one after another; structure ``s`` owns
    ``offsets[s]:offsets[s + 1]``.  ``names`` and ``sources`` are what
    ``atoms.info["name"]`` and ``atoms.info["source"]`` hold when
    :func:`wacsf.read_structures` reads the same files.  ``base`` is the input
    position of the first structure (error messages name structures by it).

    Indexing builds the ``ase.Atoms`` of one structure (for error messages
    and the rare caller that needs one); packing reads the arrays directly.
    """

    __slots__ = ("numbers", "positions", "offsets", "names", "sources", "base")

    def __init__(self, numbers, positions, offsets, names, sources, base=0):
        self.numbers = numbers
        self.positions = positions
        self.offsets = offsets
        self.names = names
        self.sources = sources
        self.base = int(base)

    def __len__(self):
        return self.offsets.size - 1

    @property
    def counts(self):
        """Atoms of every structure."""
        return np.diff(self.offsets)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("Molecules: only contiguous slices")
            stop = max(stop, start)
            a, b = self.offsets[start], self.offsets[stop]
            return Molecules(self.numbers[a:b], self.positions[a:b],
                             self.offsets[start:stop + 1] - a, self.names[start:stop],
                             self.sources[start:stop], self.base + start)
        s = int(index)
        if s < 0:
            s += len(self)
        if not 0 <= s < len(self):
            raise IndexError(f"structure {index} of {len(self)}")
        a, b = self.offsets[s], self.offsets[s + 1]
        atoms = Atoms(numbers=self.numbers[a:b], positions=self.positions[a:b])
        atoms.info["name"] = self.names[s]
        atoms.info["source"] = self.sources[s]
        return atoms

    def __repr__(self):
        return f"Molecules({len(self)} structures, {self.numbers.size} atoms)"


def _read_files(paths):
    """(bytes of every file one after another as one uint8 array, bounds): file k is
    ``data[bounds[k]:bounds[k + 1]]``, empty where it cannot be opened or read (the full
    reader then names why).  Read with ``os.readv`` straight into one growing buffer (no
    bytes object per file), each file until a read returns nothing."""
    capacity = 8192 * max(len(paths), 1)
    data = np.empty(capacity, dtype=np.uint8)
    view = memoryview(data)
    bounds = np.zeros(len(paths) + 1, dtype=np.int64)
    at = 0
    for k, path in enumerate(paths):
        start = at
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            bounds[k + 1] = at
            continue
        try:
            while True:
                if capacity - at < _READ_SIZE:
                    capacity = 2 * capacity + _READ_SIZE
                    grown = np.empty(capacity, dtype=np.uint8)
                    grown[:at] = data[:at]
                    data, view = grown, memoryview(grown)
                got = os.readv(fd, [view[at:at + _READ_SIZE]])
                if not got:
                    break
                at += got
        except OSError:
            at = start  # a file that cannot be read whole is not read at all
        finally:
            os.close(fd)
        bounds[k + 1] = at
    return data[:at], bounds


@numba.njit(cache=True)
def _plain_text(text):
    """Whether the bytes ``text`` may be read by the compiled pass: printable ASCII, tab,
    the unit separator (both spaces to ``str.split``), newline, and carriage return before
    a newline.  The other control characters split lines in Python's ``str.splitlines``
    (vertical tab, form feed, 0x1c-0x1e, a lone carriage return) or are refused by the
    reader (NUL); bytes beyond ASCII need decoding: all go to the full reader.

    After this check, a byte ``c`` within a line is a space to ``str.split`` exactly when
    ``c <= 32`` (the compiled pass relies on it).
    """
    bad = np.uint8(0)
    cr = np.uint8(0)
    for c in text:  # no early exit, in bytes: the loop runs on whole vectors
        printable = np.uint8(np.uint8(c - np.uint8(32)) < np.uint8(95))
        space = (np.uint8(c == np.uint8(9)) | np.uint8(c == np.uint8(10))
                 | np.uint8(c == np.uint8(31)))
        cr |= np.uint8(c == np.uint8(13))
        bad |= (printable | space | np.uint8(c == np.uint8(13))) ^ np.uint8(1)
    if bad:
        return False
    if cr:
        for i in range(text.size):
            if text[i] == 13 and (i + 1 == text.size or text[i + 1] != 10):
                return False
    return True


@numba.njit(cache=True)
def _count_line(buf, a, b):
    """(atoms, index after the line's newline) of a count line of plain digits at
    ``buf[a:b]``; (-1, a) for anything else."""
    i = a
    while i < b and buf[i] != 10 and _is_space(buf[i]):
        i += 1
    n = 0
    digits = 0
    while i < b and 48 <= buf[i] <= 57:
        if digits == 15:  # no file holds 10**15 atoms; no overflow
            return -1, a
        n = 10 * n + (buf[i] - 48)
        digits += 1
        i += 1
    if digits == 0:
        return -1, a
    while i < b and buf[i] != 10 and _is_space(buf[i]):
        i += 1
    if i == b or buf[i] != 10:
        return -1, a
    return n, i + 1


@numba.njit(cache=True)
def _has(buf, a, b, word):
    """Whether ``word`` occurs in ``buf[a:b]``."""
    m = word.size
    for i in range(a, b - m + 1):
        hit = True
        for k in range(m):
            if buf[i + k] != word[k]:
                hit = False
                break
        if hit:
            return True
    return False


@numba.njit(cache=True)
def _scan_file(buf, a, b, n, codes, powers, lattice, properties, numbers, positions, min_sep):
    """Parse one single-frame xyz file ``buf[a:b]`` of ``n`` atoms into ``numbers`` and
    ``positions`` (rows 0..n-1); False where the full reader must read it."""
    if not _plain_text(buf[a:b]):
        return False
    n_check, at = _count_line(buf, a, b)
    if n_check != n:
        return False
    start = at  # the comment line
    while at < b and buf[at] != 10:
        at += 1
    if at == b:
        return False
    if _has(buf, start, at, lattice) or _has(buf, start, at, properties):
        return False  # extended xyz: ase reads it
    at += 1
    # in plain text (checked above), a byte within a line is a space when it is <= 32
    for k in range(n):
        for field in range(4):
            while at < b and buf[at] <= 32 and buf[at] != 10:
                at += 1
            if at == b or buf[at] == 10:
                return False
            s = at
            while at < b and buf[at] > 32:
                at += 1
            if field == 0:
                z = _label_number(buf, s, at, codes)
                if z == 0:
                    return False
                numbers[k] = z
            else:
                ok, value = _decimal(buf, s, at, powers)
                if not ok:
                    return False
                positions[k, field - 1] = value
        while at < b and buf[at] != 10:  # further fields are not read
            at += 1
        at += 1
    while at < b:  # only blank lines may follow
        if buf[at] > 32:
            return False
        at += 1
    limit = min_sep * min_sep
    for i in range(n):
        for j in range(i + 1, n):
            dx = positions[j, 0] - positions[i, 0]
            dy = positions[j, 1] - positions[i, 1]
            dz = positions[j, 2] - positions[i, 2]
            if dx * dx + dy * dy + dz * dz < limit:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def _scan_files(buf, bounds, codes, powers, lattice, properties, min_sep, max_atoms):
    """Every file ``buf[bounds[f]:bounds[f + 1]]`` the compiled pass can read, parsed.

    Returns (counts, numbers, positions): ``counts[f]`` is file f's atoms, or -1 where
    the full reader must read it; the parsed files' atoms follow one another in file
    order.  Holds no GIL.
    """
    n_files = bounds.size - 1
    counts = np.full(n_files, -1, dtype=np.int64)
    total = 0
    for f in range(n_files):
        a, b = bounds[f], bounds[f + 1]
        n, _ = _count_line(buf, a, b)
        # each atom line holds at least 7 bytes ("H 0 0 0"): a larger count is an error
        if 1 <= n <= max_atoms and 7 * n <= b - a:
            counts[f] = n
            total += n
    numbers = np.empty(total, dtype=np.int64)
    positions = np.empty((total, 3), dtype=np.float64)
    at = 0
    for f in range(n_files):
        n = counts[f]
        if n < 1:
            continue
        if _scan_file(buf, bounds[f], bounds[f + 1], n, codes, powers, lattice, properties,
                      numbers[at:at + n], positions[at:at + n], min_sep):
            at += n
        else:
            counts[f] = -1
    return counts, numbers[:at], positions[:at]


_LATTICE = np.frombuffer(b"Lattice=", dtype=np.uint8)
_PROPERTIES = np.frombuffer(b"Properties=", dtype=np.uint8)


def _stem(path):
    """``Path(path).stem``, without making a path."""
    name = os.path.basename(path)
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def read_molecules(files, base=0, fallback=None):
    """The structures of ``files`` (one structure each), as :class:`Molecules` where all
    are molecules, else as a list of ``ase.Atoms``.

    Plain ``.xyz`` files are parsed together in one compiled pass (see the module
    docstring); every other file is read by ``fallback(path)`` (default
    ``read_structures([path])``), which raises the reader's errors.  Either way the
    structures, their order, names and sources are those of ``read_structures(files)``.

    Parameters
    ----------
    files : sequence of str
        File paths.
    base : int, default=0
        The input position of the first file's structure.
    fallback : callable or None
        ``fallback(path)`` -> list of one ``ase.Atoms``: how files the compiled pass does
        not read are read.

    Returns
    -------
    Molecules or list of ase.Atoms
        A list (every file read by the full reader) when any structure is periodic.
    """
    files = [os.fspath(f) for f in files]
    if fallback is None:
        def fallback(path):
            return read_structures([path])
    fast = [k for k, f in enumerate(files) if f[-4:].lower() == ".xyz"]
    buf, bounds = _read_files([files[k] for k in fast])
    counts_fast, numbers, positions = _scan_files(
        buf, bounds, _SYMBOL_CODES, _POWERS_OF_TEN, _LATTICE, _PROPERTIES, MIN_SEPARATION,
        _BRUTE_FORCE_ATOMS)
    del buf
    counts = np.full(len(files), -1, dtype=np.int64)
    counts[fast] = counts_fast
    slow = np.flatnonzero(counts < 0)
    if slow.size:
        others = {k: fallback(files[k]) for k in slow.tolist()}
        if any(len(found) != 1 or found[0].pbc.any() for found in others.values()):
            # a periodic structure (or a reader that made several): every file the full
            # reader's way, in order, so that the chunk is a plain list of ase.Atoms
            return [atoms for k, f in enumerate(files)
                    for atoms in (others[k] if k in others else fallback(f))]
        others = {k: found[0] for k, found in others.items()}
        numbers, positions = _insert(counts, numbers, positions, others)
        counts[slow] = [len(others[k]) for k in slow.tolist()]
        names = [others[k].info.get("name", _stem(f)) if k in others else _stem(f)
                 for k, f in enumerate(files)]
        sources = [others[k].info.get("source", f) if k in others else f
                   for k, f in enumerate(files)]
    else:
        names = [_stem(f) for f in files]
        sources = files
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Molecules(numbers, positions, offsets, names, sources, base)


def _insert(counts, numbers, positions, others):
    """The parsed files' atoms with those of ``others`` ({file index: Atoms}, the files
    read by the full reader) in their places."""
    parts_n, parts_p, at = [], [], 0
    for k, n in enumerate(counts.tolist()):
        if n < 0:
            atoms = others[k]
            parts_n.append(np.asarray(atoms.arrays["numbers"], dtype=np.int64))
            parts_p.append(np.asarray(atoms.arrays["positions"], dtype=np.float64))
        else:
            parts_n.append(numbers[at:at + n])
            parts_p.append(positions[at:at + n])
            at += n
    if not parts_n:
        return numbers, positions
    return (np.concatenate(parts_n),
            np.ascontiguousarray(np.concatenate(parts_p).reshape(-1, 3)))
