"""Periodic structures: the explicit environment of each absorbing site.

For an absorber i in a structure with a ``cell`` and ``pbc``, the neighbours
are every image ``j + n . cell`` (n integer, along periodic axes only; j = i
is allowed for n != 0) with ``0 < |r_ij| <= r_cut``.  The image search is
done by `vesin <https://github.com/Luthaf/vesin>`_ (a cell-list neighbour
list in C); this module turns its pairs into one explicit cluster per site:
the absorber first, then its neighbour images in the order vesin gives them.
The kernels then featurise that cluster exactly as they featurise a
molecule, so in G4 ``r_jk`` is the distance between the two images, and a
periodic structure gives the same numbers as its environment written out by
hand.

Cells smaller than ``2 r_cut`` (bcc Fe has a 2.87 A cell) need several image
shells; vesin finds them all.  Non-periodic axes may have a zero cell vector
(an ase slab with ``pbc=(True, True, False)``).
"""

import numpy as np

__all__ = ["check_cell", "site_environments"]


def check_cell(atoms, label):
    """The (3, 3) cell of a structure with ``pbc`` set on some axis, and its plane spacings.

    Raises ``ValueError`` naming the structure when the cell holds NaN or
    infinity, or when its periodic vectors are zero or linearly dependent.
    """
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not np.all(np.isfinite(cell)):
        raise ValueError(f"{label}: the cell holds NaN or infinite values: {cell.tolist()}")
    periodic = cell[pbc]
    norms = np.linalg.norm(periodic, axis=1)
    axes = "".join("xyz"[k] for k in np.flatnonzero(pbc))
    if np.any(norms == 0.0):
        raise ValueError(
            f"{label}: pbc={atoms.pbc.tolist()} but the cell vector of a periodic axis is zero "
            f"(cell {cell.tolist()}); give the cell, or set pbc=False for a molecule"
        )
    sv = np.linalg.svd(periodic / norms[:, None], compute_uv=False)
    if sv.min() < 1e-8:
        raise ValueError(
            f"{label}: the cell vectors of the periodic axes ({axes}) are linearly dependent "
            f"(a singular cell: {cell.tolist()}); wACSF need a cell with a volume"
        )
    # Each site sees about prod_k (2 r_cut / h_k + 1) cells, h_k the spacing of the
    # lattice planes along periodic axis k: refuse cells so small that this explodes.
    heights = []
    for k in range(len(periodic)):
        others = np.delete(periodic, k, axis=0)
        v = periodic[k]
        if len(others):
            basis = np.linalg.qr(others.T)[0]
            v = v - basis @ (basis.T @ v)
        heights.append(np.linalg.norm(v))
    return cell, np.asarray(heights)


def site_environments(positions, cell, pbc, sites, r_cut):
    """Explicit clusters around ``sites`` of one periodic structure.

    Parameters
    ----------
    positions : ndarray of shape (n_atoms, 3)
    cell : ndarray of shape (3, 3)
        Validated by :func:`check_cell`.
    pbc : array-like of 3 bool
    sites : ndarray of int
        Local indices of the absorbing atoms.
    r_cut : float

    Returns
    -------
    atoms : ndarray of shape (m,) int64
        The atom each cluster member is an image of (the absorber first in
        each cluster).
    coords : ndarray of shape (m, 3) float64
        Cartesian positions of the cluster members: the absorber at its own
        position, each neighbour at ``position[i] + r_ij``.
    counts : ndarray of shape (n_sites,) int64
        Members per cluster, absorber included.
    """
    from vesin import NeighborList

    pbc = [bool(p) for p in pbc]
    calculator = NeighborList(cutoff=float(r_cut), full_list=True)
    first, second, vectors = calculator.compute(
        points=positions, box=cell, periodic=pbc, quantities="ijD"
    )
    first = np.asarray(first, dtype=np.int64)
    is_site = np.zeros(len(positions), dtype=bool)
    is_site[sites] = True
    keep = is_site[first]
    first, second, vectors = first[keep], np.asarray(second, dtype=np.int64)[keep], vectors[keep]
    order = np.argsort(first, kind="stable")
    first, second, vectors = first[order], second[order], vectors[order]
    starts = np.searchsorted(first, sites, side="left")
    stops = np.searchsorted(first, sites, side="right")
    counts = (stops - starts + 1).astype(np.int64)
    atoms = np.empty(int(counts.sum()), dtype=np.int64)
    coords = np.empty((atoms.size, 3), dtype=np.float64)
    at = 0
    for site, start, stop in zip(sites, starts, stops):
        n = stop - start
        atoms[at] = site
        coords[at] = positions[site]
        atoms[at + 1 : at + 1 + n] = second[start:stop]
        coords[at + 1 : at + 1 + n] = positions[site] + vectors[start:stop]
        at += n + 1
    return atoms, coords, counts
