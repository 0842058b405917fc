"""Synthetic complexes and spectra behind :func:`xanesnet_sk.datasets.make_synthetic_xanes`.

SYNTHETIC DATA: a made-up, smooth, deterministic map from geometry to a
XANES-like curve, so that a model has something learnable from wACSF
features.  Not a physical simulation.
"""

from numbers import Integral, Real

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from sklearn.utils import check_random_state

from .spectra import xanesnet_grid

_S3 = 1.0 / np.sqrt(3.0)
_TILT = np.tan(np.radians(10.0))  # basal ligands of a square pyramid bend 10 deg away
#: Unit M-L directions of each geometry.
GEOMETRIES = {
    "octahedral": [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
    "square_pyramidal": [
        [0, 0, 1],
        [1, 0, -_TILT],
        [-1, 0, -_TILT],
        [0, 1, -_TILT],
        [0, -1, -_TILT],
    ],
    "trigonal_bipyramidal": [
        [0, 0, 1],
        [0, 0, -1],
        [1, 0, 0],
        [-0.5, np.sqrt(3) / 2, 0],
        [-0.5, -np.sqrt(3) / 2, 0],
    ],
    "tetrahedral": [[_S3, _S3, _S3], [_S3, -_S3, -_S3], [-_S3, _S3, -_S3], [-_S3, -_S3, _S3]],
    "square_planar": [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]],
}
_GEOMETRY_P = [0.4, 0.15, 0.15, 0.15, 0.15]
#: Donor atoms: M-L bond length (A), edge shift (eV), ionic character, probability.
LIGANDS = {
    "O": (2.00, 1.0, 1.0, 0.30),
    "N": (2.05, 0.5, 0.8, 0.30),
    "C": (1.85, -1.0, 0.3, 0.15),
    "S": (2.30, -1.5, 0.4, 0.10),
    "Cl": (2.30, 0.3, 0.9, 0.10),
    "P": (2.25, -1.2, 0.35, 0.05),
}
#: Second-shell variants per donor: (element, L-X distance in A, M-L-X angle in deg) each.
SECOND_SHELL = {
    "O": [[("H", 0.97, 115), ("H", 0.97, 115)], [("C", 1.30, 125)]],
    "N": [[("C", 1.34, 121), ("C", 1.34, 121)], [("H", 1.01, 110)] * 3],
    "C": [[("O", 1.15, 180)], [("N", 1.16, 180)]],
    "S": [[("C", 1.82, 105)]],
    "Cl": [[]],
    "P": [[("C", 1.84, 115)] * 3],
}
_SHRINK = {"tetrahedral": 0.06, "square_planar": 0.05}  # shorter bonds, low coordination
_EXAFS_CUTOFF = 4.5  # A
_K_PER_SQRT_EV = np.sqrt(0.2625)  # k (1/A) = sqrt(0.2625 (E - E_edge) / eV)


def synthetic_xanes(n_samples, n_points, noise, metal, random_state):
    """``(structures, spectra)``; see :func:`xanesnet_sk.datasets.make_synthetic_xanes`."""
    _check(n_samples, n_points, noise, metal)
    rng = check_random_state(random_state)
    energies = xanesnet_grid(n_points)
    structures, spectra = [], np.empty((n_samples, n_points))
    names = list(GEOMETRIES)
    for i in range(n_samples):
        geometry = names[rng.choice(len(names), p=_GEOMETRY_P)]
        atoms, donors = _complex(geometry, metal, rng)
        spectra[i] = _spectrum(atoms, donors, energies)
        atoms.info.update(name=f"synthetic_{i:05d}", geometry=geometry, absorber=0)
        atoms.positions = atoms.positions @ _random_rotation(rng).T + rng.uniform(-5, 5, size=3)
        structures.append(atoms)
    if noise > 0:
        spectra += rng.normal(scale=noise, size=spectra.shape)
    return structures, spectra


def _check(n_samples, n_points, noise, metal):
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
    if not isinstance(n_points, Integral) or isinstance(n_points, bool) or n_points < 2:
        raise ValueError(f"n_points must be an int >= 2, got {n_points!r}")
    if not isinstance(noise, Real) or not noise >= 0:
        raise ValueError(f"noise must be a float >= 0, got {noise!r}")
    if metal not in atomic_numbers:
        raise ValueError(f"metal must be an element symbol such as 'Fe', got {metal!r}")


def _complex(geometry, metal, rng):
    """(Atoms, donor indices): metal at the origin, donors on distorted directions."""
    directions = np.asarray(GEOMETRIES[geometry], dtype=float)
    directions = directions + rng.normal(scale=0.04, size=directions.shape)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    elements = list(LIGANDS)
    weights = np.array([LIGANDS[el][3] for el in elements])
    symbols, positions, donors = [metal], [np.zeros(3)], []
    for u in directions:
        donor = elements[rng.choice(len(elements), p=weights / weights.sum())]
        r = LIGANDS[donor][0] - _SHRINK.get(geometry, 0.0) + rng.normal(scale=0.04)
        ligand = np.clip(r, 1.8, 2.45) * u
        donors.append(len(symbols))
        symbols.append(donor)
        positions.append(ligand)
        shell = SECOND_SHELL[donor][rng.choice(len(SECOND_SHELL[donor]))]
        _add_second_shell(symbols, positions, ligand, u, shell, rng)
    return Atoms(symbols=symbols, positions=np.array(positions)), np.array(donors)


def _add_second_shell(symbols, positions, ligand, u, shell, rng):
    """Append atoms bonded to ``ligand`` at their M-L-X angles, avoiding clashes.

    Six random azimuths are tried at once; the first whose atoms keep 1.6 A
    from all others wins, else the one with the largest such gap.
    """
    if not shell:
        return
    helper = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    p = helper - (helper @ u) * u
    p /= np.sqrt(p @ p)
    q = np.array([u[1] * p[2] - u[2] * p[1], u[2] * p[0] - u[0] * p[2], u[0] * p[1] - u[1] * p[0]])
    bonds = np.array([bond for _, bond, _ in shell])
    angles = np.radians([angle for _, _, angle in shell])
    phi = rng.uniform(0, 2 * np.pi, size=(6, 1)) + 2 * np.pi * np.arange(len(shell)) / len(shell)
    radial = np.sin(angles) * bonds  # (m,)
    trials = (
        ligand
        - (np.cos(angles) * bonds)[None, :, None] * u
        + (radial * np.cos(phi))[..., None] * p
        + (radial * np.sin(phi))[..., None] * q
    )  # (6, m, 3)
    existing = np.asarray(positions)
    diff = trials[:, :, None, :] - existing[None, None, :, :]
    gaps = np.sqrt(np.min(np.einsum("tmnk,tmnk->tmn", diff, diff), axis=(1, 2)))
    ok = np.flatnonzero(gaps > 1.6)
    best = trials[ok[0] if ok.size else int(np.argmax(gaps))]
    symbols.extend(symbol for symbol, _, _ in shell)
    positions.extend(best)


def _random_rotation(rng):
    """A uniformly random proper rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _centrosymmetry_loss(directions):
    """Mean over ligands of min_j |u_i + u_j|: 0 with an opposite partner for each."""
    sums = np.linalg.norm(directions[:, None, :] + directions[None, :, :], axis=2)
    np.fill_diagonal(sums, np.inf)
    return float(np.mean(np.min(sums, axis=1)))


def _spectrum(atoms, donors, energies):
    """The deterministic model spectrum of one complex (metal at index 0)."""
    rel = atoms.positions[1:] - atoms.positions[0]
    dist = np.linalg.norm(rel, axis=1)
    numbers = atoms.numbers[1:]
    first = donors - 1  # indices into rel/dist
    symbols = [atoms[i].symbol for i in donors]
    r_mean = float(np.mean(dist[first]))
    shift = np.mean([LIGANDS[d][1] for d in symbols])
    ionic = np.mean([LIGANDS[d][2] for d in symbols])
    e_edge = shift + 5.0 * (2.05 - r_mean)
    p = _centrosymmetry_loss(rel[first] / dist[first, None])
    step = 0.5 + np.arctan((energies - e_edge) / 1.5) / np.pi
    pre_edge = (0.04 + 0.22 * p) * np.exp(-0.5 * ((energies - e_edge + 9.0) / 1.2) ** 2)
    e_white = e_edge + 12.0 * (1.6 / r_mean) ** 2  # Natoli: (E - E_edge) R**2 = const
    white = (0.3 + 0.08 * len(symbols) * ionic) * np.exp(-0.5 * ((energies - e_white) / 3.0) ** 2)
    near = dist < _EXAFS_CUTOFF
    k = _K_PER_SQRT_EV * np.sqrt(np.clip(energies - e_edge, 0.0, None))
    amp = 0.05 * np.sqrt(numbers[near] / 8.0) / dist[near] ** 2
    phase = -1.0 - 0.05 * numbers[near]
    waves = np.sin(2 * k[:, None] * dist[near] + phase) * np.exp(-0.01 * k[:, None] ** 2)
    chi = (k / (k**2 + 0.5))[:, None] * amp * waves
    return step * (1.0 + 4.0 * chi.sum(axis=1)) + white + pre_edge
