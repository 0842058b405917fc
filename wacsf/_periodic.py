"""Periodic structures: the explicit environment of each absorbing site.

For an absorber i in a structure with a ``cell`` and ``pbc``, the neighbours
are every image ``j + n . cell`` (n integer, along periodic axes only; j = i
is allowed for n != 0) with ``0 < |r_ij| <= r_cut``.  This module turns them
into one explicit cluster per site, the absorber first at the origin, then
its neighbour images in a canonical order (atom j, then n0, n1, n2).  The
kernels featurise that cluster exactly as they featurise a molecule, so in
G4 ``r_jk`` is the distance between the two images, and a periodic structure
gives the same numbers as its environment written out by hand.

The boundary rule, one for both searches: an image is a neighbour when
``dx*dx + dy*dy + dz*dz <= r_cut*r_cut`` in float64, ``(dx, dy, dz)`` computed
by :func:`_image_vector`.  An image exactly at ``r_cut`` is a member (as in
the kernels, which keep ``r_ij <= r_c``; ``f_c(r_c) = 0``, so it adds nothing
to a feature).  ``ase.neighborlist`` and vesin count ``r < r_cut`` instead:
simple-cubic Fe with a = 3.0 A at r_cut = 6 has 32 neighbours here (the six
at exactly 6 A included) and 26 in ase.

Two image searches give the same clusters, bit for bit (same members, same
order, vectors computed by one formula, :func:`_image_vector`):

- a compiled per-site search (:func:`_scan_site`), batched over every site
  of every structure in one parallel call: for each site it visits each
  atom's images within the bounds that the lattice-plane spacings allow
  (``|u_k + n_k| <= r_cut / h_k`` in fractional coordinates, the bound
  padded by a relative 1e-9 so that rounding never drops an image at
  ``r_cut``), so one absorber in a 2,000-atom cell costs about what a
  molecule of that size costs;
- `vesin <https://github.com/Luthaf/vesin>`_, a cell-list neighbour list in
  C, for structures where that search would visit more than
  :data:`VESIN_ABOVE` (site, atom, image) triples (thousands of sites in a
  large cell): it finds every pair of the structure at once.  It is asked
  for a cutoff padded by a relative 1e-9 (its own test is ``r < cutoff``);
  its pairs are re-ordered canonically, their vectors recomputed by the same
  formula and kept by the boundary rule above.

Measured on 2 cores: a vesin call costs 0.2-0.5 ms on a 10-atom cell and
3-4 ms on a 100-atom cell, 10-60x the kernel's cost for one site, so it is
the fallback, not the default (``python -m benchmarks.featurise --scan``
shows what the periodic path costs).  The
choice is by estimated work only (:func:`uses_vesin`); numbers never depend
on it.  Cells smaller than ``2 r_cut`` (bcc Fe has a 2.87 A cell) need
several image shells; both searches find them all.  Non-periodic axes may
have a zero cell vector (an ase slab with ``pbc=(True, True, False)``).

Cells that no real structure has are refused before any search, naming the
structure: a cell given in nm (``bulk("Fe", "bcc", a=0.287)``) would give
each site ~10^5 images and run for minutes.  The guards: a fully periodic
cell denser than :data:`MAX_DENSITY` atoms per A^3; a cell so small or so
skewed that a site would see more than :data:`MAX_IMAGE_CELLS` images of it;
a site with more than :func:`max_neighbours` neighbours within ``r_cut``
(counted before any cluster is stored).  ``wacsf._structures`` also refuses
a periodic site whose nearest neighbour is closer than
``MIN_PERIODIC_DISTANCE`` (0.5 A).
"""

import math

import numba
import numpy as np

# Imports inside functions: vesin only for the largest cells (see uses_vesin).

__all__ = ["check_cells", "periodic_environments", "site_environments", "uses_vesin",
           "max_neighbours", "VESIN_ABOVE", "MAX_DENSITY", "MAX_IMAGE_CELLS"]

#: A structure whose compiled search would visit more (site, atom, image)
#: triples than this goes to vesin's neighbour list instead.
VESIN_ABOVE = 3.0e7
#: A periodic cell so small (or so skewed) that each site would see more
#: images of it than this is refused, not featurised.  A one-atom cell of the
#: densest solid needs about 10^4 at r_cut = 12 A.
MAX_IMAGE_CELLS = 1.0e5
#: Atoms per cubic Angstrom above which a fully periodic cell is refused: about
#: 5x the densest solid (diamond, 0.176); a cell given in nm is 1000x too dense.
MAX_DENSITY = 1.0
#: Added to ``MAX_DENSITY * (4/3) pi r_cut^3`` in :func:`max_neighbours`, so
#: that a short cutoff leaves room for a tight first shell.
_SPARE_NEIGHBOURS = 100


def max_neighbours(r_cut):
    """Most neighbours within ``r_cut`` that a site of a real structure can have.

    ``MAX_DENSITY`` atoms per A^3 in the sphere of radius ``r_cut``, plus 100:
    904 + 100 at the paper's 6 A.  A site with more is refused (a cell in nm
    gives ~10^5 at 6 A).
    """
    return int(MAX_DENSITY * 4.0 / 3.0 * math.pi * float(r_cut) ** 3) + _SPARE_NEIGHBOURS


_NM_HINT = ("are the cell and positions in nm? wACSF need Angstrom "
            "(ase.build.bulk('Fe', 'bcc', a=2.87), not a=0.287)")


def check_cells(cells, pbc, r_cut, labels, n_atoms=None):
    """Validate periodic cells; return what the image search needs.

    Parameters
    ----------
    cells : ndarray of shape (n, 3, 3)
    pbc : ndarray of shape (n, 3), bool
        At least one True per structure.
    r_cut : float
    labels : callable
        ``labels(k)`` names structure k in error messages.
    n_atoms : array-like of shape (n,), optional
        Atoms in each cell; with it, a fully periodic cell denser than
        :data:`MAX_DENSITY` is refused.

    Returns
    -------
    inverse : ndarray of shape (n, 3, 3)
        Inverse of each cell, its non-periodic rows completed where they
        are zero or dependent (they only fix fractional coordinates).
    reach : ndarray of shape (n, 3)
        ``r_cut / h_k``: how many lattice-plane spacings along axis k the
        cutoff spans (0 on non-periodic axes), padded by a relative 1e-9 so
        that rounding never drops an image at the cutoff.

    Raises
    ------
    ValueError
        Naming the structure: NaN or infinite cell, a zero or linearly
        dependent periodic vector, a fully periodic cell denser than
        ``MAX_DENSITY`` atoms per A^3, a cell so small that one site would
        see more than ``MAX_IMAGE_CELLS`` images of it.
    """
    cells = np.asarray(cells, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    bad = np.flatnonzero(~np.isfinite(cells).all(axis=(1, 2)))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"{labels(k)}: the cell holds NaN or infinite values: "
                         f"{cells[k].tolist()}")
    norms = np.linalg.norm(cells, axis=2)
    zero = np.flatnonzero((pbc & (norms == 0.0)).any(axis=1))
    if zero.size:
        k = int(zero[0])
        raise ValueError(
            f"{labels(k)}: pbc={pbc[k].tolist()} but the cell vector of a periodic axis is "
            f"zero (cell {cells[k].tolist()}); give the cell, or set pbc=False for a molecule"
        )
    full = cells.copy()
    unit = full / np.where(norms == 0.0, 1.0, norms)[:, :, None]
    for k in np.flatnonzero((~pbc).any(axis=1) & (np.abs(np.linalg.det(unit)) < 1e-8)):
        periodic = cells[k][pbc[k]]
        _, sv, vt = np.linalg.svd(periodic / np.linalg.norm(periodic, axis=1)[:, None])
        if sv.min() < 1e-8:
            raise _dependent(labels(k), pbc[k], cells[k])
        full[k][~pbc[k]] = vt[len(periodic):]
        unit[k] = full[k] / np.linalg.norm(full[k], axis=1)[:, None]
    singular = np.flatnonzero(np.abs(np.linalg.det(unit)) < 1e-8)
    if singular.size:
        k = int(singular[0])
        raise _dependent(labels(k), pbc[k], cells[k])
    if n_atoms is not None:
        _check_density(cells, pbc, np.asarray(n_atoms, dtype=np.float64), labels)
    inverse = np.linalg.inv(full)
    reach = np.where(pbc, r_cut * np.linalg.norm(inverse, axis=1), 0.0)
    reach = reach * (1.0 + 1e-9) + np.where(pbc, 1e-9, 0.0)
    images = np.prod(2.0 * reach + 1.0, axis=1)
    tiny = np.flatnonzero(images > MAX_IMAGE_CELLS)
    if tiny.size:
        k = int(tiny[0])
        spacing = np.round(r_cut / reach[k][pbc[k]], 6).tolist()
        raise ValueError(
            f"{labels(k)}: the cell is tiny or skewed for r_cut={r_cut:g} (lattice plane "
            f"spacings {spacing} A): each site would see about {images[k]:.3g} periodic images "
            f"of it, more than {MAX_IMAGE_CELLS:.0e}; {_NM_HINT}; a skewed cell is reduced by "
            f"ase.build.niggli_reduce(atoms)"
        )
    return inverse, reach


def _check_density(cells, pbc, n_atoms, labels):
    """Refuse fully periodic cells holding more than ``MAX_DENSITY`` atoms per A^3."""
    full = pbc.all(axis=1)
    volume = np.abs(np.einsum("ij,ij->i", cells[:, 0], np.cross(cells[:, 1], cells[:, 2])))
    dense = np.flatnonzero(full & (n_atoms > MAX_DENSITY * volume))
    if dense.size:
        k = int(dense[0])
        raise ValueError(
            f"{labels(k)}: {int(n_atoms[k])} atom{'s' if n_atoms[k] != 1 else ''} in a "
            f"{volume[k]:.3g} A^3 cell is "
            f"{n_atoms[k] / volume[k]:.3g} atoms/A^3, denser than any solid (diamond: 0.18, "
            f"limit {MAX_DENSITY:g}); {_NM_HINT}"
        )


def _dependent(label, pbc, cell):
    axes = "".join("xyz"[k] for k in np.flatnonzero(pbc))
    return ValueError(
        f"{label}: the cell vectors of the periodic axes ({axes}) are linearly dependent "
        f"(a singular cell: {cell.tolist()}); wACSF need a cell with a volume"
    )


@numba.njit(cache=True, inline="always")
def _image_vector(positions, cell, i, j, n0, n1, n2, c):
    """Component c of r_ij for image n of atom j: the one formula both searches use."""
    return (positions[j, c] - positions[i, c]) + (
        n0 * cell[0, c] + n1 * cell[1, c] + n2 * cell[2, c]
    )


@numba.njit(cache=True, inline="always")
def _bounds(df, reach):
    """Range of image shifts n with |df + n| <= reach; only n = 0 on a non-periodic axis."""
    if reach <= 0.0:
        return 0, 0
    return int(math.ceil(-reach - df)), int(math.floor(reach - df))


@numba.njit(cache=True)
def _scan_site(positions, frac, cell, reach, i, a, b, r_cut, fill, start, out_src, out_vec):
    """Images of atoms a..b-1 within r_cut of atom i; counted, or written from ``start``."""
    rc2 = r_cut * r_cut
    found = 0
    for j in range(a, b):
        lo0, hi0 = _bounds(frac[j, 0] - frac[i, 0], reach[0])
        lo1, hi1 = _bounds(frac[j, 1] - frac[i, 1], reach[1])
        lo2, hi2 = _bounds(frac[j, 2] - frac[i, 2], reach[2])
        for n0 in range(lo0, hi0 + 1):
            for n1 in range(lo1, hi1 + 1):
                for n2 in range(lo2, hi2 + 1):
                    if j == i and n0 == 0 and n1 == 0 and n2 == 0:
                        continue
                    dx = _image_vector(positions, cell, i, j, n0, n1, n2, 0)
                    dy = _image_vector(positions, cell, i, j, n0, n1, n2, 1)
                    dz = _image_vector(positions, cell, i, j, n0, n1, n2, 2)
                    if dx * dx + dy * dy + dz * dz <= rc2:
                        if fill:
                            out_src[start + found] = j
                            out_vec[start + found, 0] = dx
                            out_vec[start + found, 1] = dy
                            out_vec[start + found, 2] = dz
                        found += 1
    return found


@numba.njit(cache=True, parallel=True)
def _count_images(positions, frac, cells, reach, offsets, site_atom, site_struct, r_cut, counts):
    dummy_src = np.empty(0, np.int64)
    dummy_vec = np.empty((0, 3))
    for q in numba.prange(site_atom.size):
        s = site_struct[q]
        counts[q] = _scan_site(positions, frac, cells[s], reach[s], site_atom[q], offsets[s],
                               offsets[s + 1], r_cut, False, 0, dummy_src, dummy_vec)


@numba.njit(cache=True, parallel=True)
def _fill_images(positions, frac, cells, reach, offsets, site_atom, site_struct, r_cut, starts,
                 out_src, out_vec):
    for q in numba.prange(site_atom.size):
        s = site_struct[q]
        _scan_site(positions, frac, cells[s], reach[s], site_atom[q], offsets[s],
                   offsets[s + 1], r_cut, True, starts[q], out_src, out_vec)


@numba.njit(cache=True, parallel=True)
def _fractional(positions, inverse, offsets):
    """Fractional coordinates ``positions @ inverse[s]`` of every structure's atoms."""
    out = np.empty_like(positions)
    for s in numba.prange(offsets.size - 1):
        for a in range(offsets[s], offsets[s + 1]):
            for k in range(3):
                out[a, k] = (positions[a, 0] * inverse[s, 0, k] + positions[a, 1] * inverse[s, 1, k]
                             + positions[a, 2] * inverse[s, 2, k])
    return out


@numba.njit(cache=True)
def _vectors(positions, cell, first, second, shifts):
    out = np.empty((first.size, 3))
    for p in range(first.size):
        for c in range(3):
            out[p, c] = _image_vector(positions, cell, first[p], second[p], shifts[p, 0],
                                      shifts[p, 1], shifts[p, 2], c)
    return out


def _vesin_neighbours(positions, cell, pbc, sites, r_cut):
    """(counts per site, source atoms, vectors) from vesin, in the compiled search's order."""
    from vesin import NeighborList

    # vesin keeps r < cutoff; pad it so that images at exactly r_cut reach our own test below
    calculator = NeighborList(cutoff=float(r_cut) * (1.0 + 1e-9), full_list=True)
    first, second, shifts = calculator.compute(
        points=positions, box=cell, periodic=[bool(p) for p in pbc], quantities="ijS"
    )
    rank_of = np.full(len(positions), -1, dtype=np.int64)
    rank_of[sites] = np.arange(sites.size)
    rank = rank_of[np.asarray(first, dtype=np.int64)]
    keep = rank >= 0
    rank = rank[keep]
    second = np.asarray(second, dtype=np.int64)[keep]
    shifts = np.asarray(shifts, dtype=np.int64)[keep]
    order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], second, rank))
    rank, second, shifts = rank[order], second[order], shifts[order]
    vectors = _vectors(positions, cell, sites[rank], second, shifts)
    dx, dy, dz = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    inside = dx * dx + dy * dy + dz * dz <= r_cut * r_cut  # the compiled search's test, exactly
    rank, second, vectors = rank[inside], second[inside], vectors[inside]
    return np.bincount(rank, minlength=sites.size).astype(np.int64), second, vectors


def ranges(starts, lengths):
    """Concatenated ``arange(start, start + length)`` for each pair (vectorised)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.repeat(np.asarray(starts, dtype=np.int64) - before, lengths) + np.arange(total)


def uses_vesin(site_struct, offsets, reach, method="auto"):
    """Which structures go to vesin: a bool per structure.

    ``"auto"``: those whose compiled search would visit more than
    :data:`VESIN_ABOVE` (site, atom, image cell) triples, that is
    ``sites * atoms * prod(2 reach + 1) > VESIN_ABOVE``; ``"compiled"``:
    none; ``"vesin"``: all.
    """
    n = len(reach)
    if method == "auto":
        per_struct_sites = np.bincount(site_struct, minlength=n)
        visits = per_struct_sites * np.diff(offsets) * np.prod(2.0 * reach + 1.0, axis=1)
        return visits > VESIN_ABOVE
    if method not in ("compiled", "vesin"):
        raise ValueError(f"method must be 'auto', 'compiled' or 'vesin', got {method!r}")
    return np.full(n, method == "vesin")


def _check_counts(counts, site_struct, site_atom, offsets, r_cut, labels):
    """Refuse sites with more neighbours than :func:`max_neighbours` allows."""
    limit = max_neighbours(r_cut)
    over = np.flatnonzero(counts > limit)
    if over.size:
        q = int(over[0])
        s = int(site_struct[q])
        raise ValueError(
            f"{labels(s)}: site atom {int(site_atom[q] - offsets[s])} has {int(counts[q])} "
            f"neighbours within r_cut={r_cut:g} A, more than a real structure has "
            f"({limit}); {_NM_HINT}"
        )


def periodic_environments(positions, offsets, cells, inverse, reach, site_atom, site_struct,
                          r_cut, method="auto", labels=None):
    """Explicit clusters around every site of a batch of periodic structures.

    Parameters
    ----------
    positions : ndarray of shape (n_atoms, 3)
        Every structure's atoms, structure k owning ``offsets[k]:offsets[k+1]``.
    offsets : ndarray of shape (n + 1,), int64
    cells, inverse, reach : ndarrays of shapes (n, 3, 3), (n, 3, 3), (n, 3)
        The cells and what :func:`check_cells` returned for them.
    site_atom : ndarray of shape (n_sites,), int64
        Global index (in ``positions``) of each absorbing atom.
    site_struct : ndarray of shape (n_sites,), int64
        Its structure.
    r_cut : float
    method : {"auto", "compiled", "vesin"}
        The image search (:func:`uses_vesin`); never changes a number.
    labels : callable, optional
        ``labels(k)`` names structure k in error messages.

    Returns
    -------
    sizes : ndarray of shape (n_sites,), int64
        Members of each cluster, absorber included.
    source : ndarray of shape (sizes.sum(),), int64
        The atom (global index) each member is an image of; the absorber
        first in each cluster.
    coords : ndarray of shape (sizes.sum(), 3)
        Member positions relative to the absorber (the absorber at 0).

    Raises
    ------
    ValueError
        A site with more than :func:`max_neighbours` neighbours (a cell in
        nm), before any cluster is stored; for a structure that goes to
        vesin, its first site is counted by the compiled search first.
    """
    if labels is None:
        def labels(k):
            return f"structure {k}"
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cells = np.ascontiguousarray(cells, dtype=np.float64)
    site_atom = np.ascontiguousarray(site_atom, dtype=np.int64)
    site_struct = np.ascontiguousarray(site_struct, dtype=np.int64)
    n_sites = site_atom.size
    frac = _fractional(positions, np.ascontiguousarray(inverse), offsets)
    heavy = uses_vesin(site_struct, offsets, reach, method)
    on_vesin = heavy[site_struct]
    counts = np.zeros(n_sites, dtype=np.int64)
    light = np.flatnonzero(~on_vesin)
    if light.size:
        c = np.zeros(light.size, dtype=np.int64)
        _count_images(positions, frac, cells, reach, offsets, site_atom[light],
                      site_struct[light], float(r_cut), c)
        counts[light] = c
        _check_counts(c, site_struct[light], site_atom[light], offsets, r_cut, labels)
    if on_vesin.any():  # one site per such structure, counted before vesin lists every pair
        _, first = np.unique(site_struct[on_vesin], return_index=True)
        probe = np.flatnonzero(on_vesin)[first]
        c = np.zeros(probe.size, dtype=np.int64)
        _count_images(positions, frac, cells, reach, offsets, site_atom[probe],
                      site_struct[probe], float(r_cut), c)
        _check_counts(c, site_struct[probe], site_atom[probe], offsets, r_cut, labels)
    vesin_parts = {}
    for k in np.flatnonzero(heavy):
        mine = np.flatnonzero(site_struct == k)
        if not mine.size:
            continue
        a, b = offsets[k], offsets[k + 1]
        pbc = reach[k] > 0
        c, src, vec = _vesin_neighbours(positions[a:b], cells[k], pbc, site_atom[mine] - a,
                                        r_cut)
        _check_counts(c, site_struct[mine], site_atom[mine], offsets, r_cut, labels)
        counts[mine] = c
        vesin_parts[k] = (mine, src + a, vec)
    sizes = counts + 1
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    source = np.empty(int(sizes.sum()), dtype=np.int64)
    coords = np.zeros((source.size, 3), dtype=np.float64)
    source[starts] = site_atom
    if light.size:
        _fill_images(positions, frac, cells, reach, offsets, site_atom[light],
                     site_struct[light], float(r_cut), starts[light] + 1, source, coords)
    for mine, src, vec in vesin_parts.values():
        dest = ranges(starts[mine] + 1, counts[mine])
        source[dest] = src
        coords[dest] = vec
    return sizes, source, coords


def site_environments(atoms, sites, r_cut, method="auto"):
    """Explicit clusters around ``sites`` (local indices) of one periodic ``ase.Atoms``.

    A convenience over :func:`periodic_environments` for one structure; see
    there for the returned ``(sizes, source, coords)``.
    """
    cells = np.asarray(atoms.cell.array, dtype=np.float64)[None]
    pbc = np.asarray(atoms.pbc, dtype=bool)[None]
    def label(k):
        return "structure"

    inverse, reach = check_cells(cells, pbc, r_cut, label, n_atoms=[len(atoms)])
    sites = np.asarray(sites, dtype=np.int64)
    return periodic_environments(
        atoms.positions, np.array([0, len(atoms)]), cells, inverse, reach, sites,
        np.zeros(sites.size, dtype=np.int64), r_cut, method, label,
    )
