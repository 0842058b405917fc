"""Data sets: structure/spectrum directories, ``.npz`` files, the V set, synthetic data.

- :func:`load_dataset`: structure files (xyz, extxyz, CIF, POSCAR) and
  spectrum files matched by file stem.
- :func:`save_dataset` / :func:`load_npz`: one ``.npz`` holding features or
  structures, spectra and their grid (keys below).
- :func:`load_v_dataset`: the published V K-edge set (``tmqm_k_edge_v.npz``).
- :func:`make_synthetic_xanes`: synthetic complexes and spectra for demos and
  fast tests.

``.npz`` keys: ``y`` (n x p spectra), ``energies`` (p,), ``names`` (n,),
``x`` (n x f features) and ``feature_names`` (f,), or structures as
``positions`` (N x 3, all atoms concatenated), ``numbers`` (N,), ``offsets``
(n + 1,; structure i is rows ``offsets[i]:offsets[i+1]``) and ``absorbers``
(n,), with ``cells`` (n x 3 x 3) and ``pbc`` (n x 3) when any is periodic;
optional ``e0`` (n,) and ``description``.
"""

import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from wacsf import WACSFTransformer, read_structures

from ._synthetic import synthetic_xanes
from .io import read_spectrum
from .spectra import xanesnet_grid

__all__ = [
    "GridMismatchError",
    "XanesDataset",
    "load_dataset",
    "load_npz",
    "load_v_dataset",
    "make_synthetic_xanes",
    "save_dataset",
]

#: Structure file suffixes (case-insensitive) that :func:`load_dataset` reads.
XYZ_SUFFIXES = (".xyz", ".extxyz", ".cif", ".vasp", ".poscar")
#: Spectrum file suffixes (case-insensitive) that :func:`load_dataset` reads.
SPECTRUM_SUFFIXES = (".txt", ".dat")
#: Above this many files :func:`load_dataset` shows a progress bar by default.
PROGRESS_THRESHOLD = 200
_SHOW = 5  # names listed in error messages


@dataclass
class XanesDataset:
    """Spectra with their structures and/or features.

    Attributes
    ----------
    spectra : ndarray of shape (n_samples, n_points)
        float64 spectra, one per row, on ``energies``.
    energies : ndarray of shape (n_points,)
        The shared energy grid (eV; absolute, or relative to the edge as the
        source had it).
    names : list of str
        Sample names (file stems); ``sample_<i>`` when the source has none.
    structures : list of ase.Atoms or None
        Structures, ``atoms.info["absorber"]`` holding the absorber's index.
    features : ndarray of shape (n_samples, n_features) or None
        Precomputed features (e.g. wACSF).
    feature_names : ndarray of str or None
        Names of the feature columns.
    e0 : ndarray of shape (n_samples,) or None
        Edge energies from the files' headers (NaN where a file had none);
        None when no file had one.
    description : str
        Where the data come from.
    """

    spectra: np.ndarray
    energies: np.ndarray
    names: list | None = None
    structures: list | None = None
    features: np.ndarray | None = None
    feature_names: np.ndarray | None = None
    e0: np.ndarray | None = None
    description: str = ""

    def __post_init__(self):
        self.spectra = np.asarray(self.spectra, dtype=np.float64)
        self.energies = np.asarray(self.energies, dtype=np.float64)
        if self.spectra.ndim != 2 or self.energies.shape != (self.spectra.shape[1],):
            raise ValueError(
                f"XanesDataset: spectra must be (n_samples, n_points) and energies "
                f"(n_points,), got {self.spectra.shape} and {self.energies.shape}"
            )
        n = self.spectra.shape[0]
        if self.names is None:
            self.names = [f"sample_{i}" for i in range(n)]
        self.names = [str(name) for name in self.names]
        if self.features is not None:
            self.features = np.asarray(self.features, dtype=np.float64)
        if self.e0 is not None:
            self.e0 = np.asarray(self.e0, dtype=np.float64)
        for field in ("names", "structures", "features", "e0"):
            value = getattr(self, field)
            if value is not None and len(value) != n:
                raise ValueError(
                    f"XanesDataset: {field} has {len(value)} entries but there are {n} spectra"
                )
        if self.feature_names is not None:
            self.feature_names = np.asarray(self.feature_names, dtype=object)

    def __len__(self):
        return self.spectra.shape[0]


def load_dataset(xyz_dir, xanes_dir, on_unmatched="raise", absorber=0, grid=None, progress=None):
    """Load structures and spectra from two directories, matched by file stem.

    Parameters
    ----------
    xyz_dir : str or path-like
        Directory of ``.xyz`` files (element symbols or atomic numbers in
        the first column), read by :func:`wacsf.read_structures`.
    xanes_dir : str or path-like
        Directory of FDMNES or ORCA spectrum files (``.txt`` or ``.dat``),
        read by :func:`xanesnet_sk.io.read_spectrum`.  Other files are ignored.
    on_unmatched : {"raise", "drop"}, default="raise"
        A stem on one side only: ``"raise"`` a ValueError listing the first
        few and the count on each side, or ``"drop"`` it with a UserWarning
        saying which.
    absorber : int, default=0
        Index of the absorbing atom in every structure; stored in
        ``atoms.info["absorber"]``.
    grid : None, "first" or array-like, default=None
        The spectra of one data set must share their energy grid.  None:
        they must already (within 1e-6 of the grid's span), else ValueError
        naming the first file that differs.  ``"first"``: resample every
        spectrum linearly onto the grid of the first (in stem order).  An
        array: resample all onto it.  Resampling never extrapolates.
    progress : bool or None, default=None
        A tqdm progress bar (on stderr); None shows it above 200 files.

    Returns
    -------
    XanesDataset
        In sorted-stem order, with ``structures``, ``spectra``, ``energies``,
        ``names`` and ``e0``.

    Raises
    ------
    ValueError
        Unmatched stems (with ``on_unmatched="raise"``), duplicate stems in
        one directory (e.g. ``a.txt`` and ``a.dat``), unreadable, empty or
        non-finite files (naming the file), an absorber index out of range,
        or spectra on different grids (with ``grid=None``).

    Examples
    --------
    >>> import os, tempfile
    >>> from xanesnet_sk.io import write_spectrum
    >>> from xanesnet_sk.datasets import load_dataset
    >>> root = tempfile.mkdtemp()
    >>> for sub in ("xyz", "xanes"):
    ...     os.mkdir(os.path.join(root, sub))
    >>> with open(os.path.join(root, "xyz", "co.xyz"), "w") as fh:
    ...     _ = fh.write("2\\n\\n26 0 0 0\\n6 0 0 1.8\\n")
    >>> write_spectrum(os.path.join(root, "xanes", "co.txt"), [-1.0, 0.0, 1.0], [0.1, 0.5, 1.0])
    >>> ds = load_dataset(os.path.join(root, "xyz"), os.path.join(root, "xanes"))
    >>> ds.names, ds.spectra.shape, ds.structures[0].info["absorber"]
    (['co'], (1, 3), 0)
    """
    if on_unmatched not in ("raise", "drop"):
        raise ValueError(f"on_unmatched must be 'raise' or 'drop', got {on_unmatched!r}")
    if isinstance(absorber, bool) or not isinstance(absorber, int | np.integer):
        raise ValueError(f"absorber must be an int (an atom index), got {absorber!r}")
    xyz = _files_by_stem(xyz_dir, XYZ_SUFFIXES, "structure")
    xanes = _files_by_stem(xanes_dir, SPECTRUM_SUFFIXES, "spectrum")
    stems = _match(xyz, xanes, xyz_dir, xanes_dir, on_unmatched)
    show = len(stems) > PROGRESS_THRESHOLD if progress is None else bool(progress)
    structures, spectra = [], []
    for stem in _progress(stems, show):
        structures.append(_read_structure(xyz[stem], int(absorber)))
        spectra.append(read_spectrum(xanes[stem]))
    energies, y = _common_grid(spectra, [xanes[s] for s in stems], grid)
    e0 = np.array([np.nan if s.e0 is None else s.e0 for s in spectra])
    return XanesDataset(
        spectra=y,
        energies=energies,
        names=list(stems),
        structures=structures,
        e0=None if np.all(np.isnan(e0)) else e0,
        description=f"structures from {xyz_dir}, spectra from {xanes_dir}",
    )


def _files_by_stem(directory, suffixes, kind):
    """{stem: path} of the files with the given suffixes; ValueError on duplicate stems."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(
            f"{kind} directory {str(directory)!r} does not exist or is not a directory"
        )
    found = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in suffixes or not path.is_file():
            continue
        found.setdefault(path.stem, []).append(path)
    duplicates = {stem: paths for stem, paths in found.items() if len(paths) > 1}
    if duplicates:
        stem, paths = next(iter(duplicates.items()))
        raise ValueError(
            f"{len(duplicates)} duplicate stem(s) in {str(directory)!r}, e.g. {stem!r}: "
            f"{', '.join(p.name for p in paths)}; keep one file per stem"
        )
    if not found:
        raise ValueError(f"no {kind} files ({', '.join(suffixes)}) in {str(directory)!r}")
    return {stem: paths[0] for stem, paths in found.items()}


def _match(xyz, xanes, xyz_dir, xanes_dir, on_unmatched):
    """Sorted common stems; raise or warn about the others."""
    only_xyz = sorted(set(xyz) - set(xanes))
    only_xanes = sorted(set(xanes) - set(xyz))
    common = sorted(set(xyz) & set(xanes))
    if only_xyz or only_xanes:
        message = (
            f"{len(only_xyz)} structure(s) in {str(xyz_dir)!r} without a spectrum"
            f"{_listing(only_xyz)}; {len(only_xanes)} spectrum file(s) in {str(xanes_dir)!r} "
            f"without a structure{_listing(only_xanes)}"
        )
        if on_unmatched == "raise" or not common:
            hint = "" if common else " (no stem matches at all)"
            raise ValueError(message + hint + "; pass on_unmatched='drop' to drop them")
        warnings.warn("dropped unmatched files: " + message, UserWarning, stacklevel=3)
    return common


def _listing(stems):
    if not stems:
        return ""
    more = f", ... ({len(stems) - _SHOW} more)" if len(stems) > _SHOW else ""
    return ": " + ", ".join(stems[:_SHOW]) + more


def _progress(items, show):
    if not show:
        return items

    return tqdm(items, desc="loading", unit="file")


def _read_structure(path, absorber):
    atoms = read_structures([path])[0]
    if len(atoms) == 0:
        raise ValueError(f"{path}: no atoms")
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError(f"{path}: coordinates contain NaN or inf")
    if not -len(atoms) <= absorber < len(atoms):
        raise ValueError(f"{path}: absorber={absorber} but the structure has {len(atoms)} atoms")
    atoms.info["absorber"] = absorber % len(atoms)
    return atoms


class GridMismatchError(ValueError):
    """Spectra of one data set on different energy grids (from :func:`load_dataset`).

    ``detail`` says which files differ; ``hint`` how to resample them with
    the function's arguments (callers with other options give their own).
    """

    def __init__(self, detail, hint):
        super().__init__(f"{detail}: {hint}")
        self.detail = detail
        self.hint = hint


def _common_grid(spectra, paths, grid):
    """(energies, spectra array) on one grid: checked (None) or resampled."""
    if grid is None:
        ref = spectra[0].energies
        tol = 1e-6 * (ref[-1] - ref[0])
        for s, path in zip(spectra, paths, strict=True):
            if s.energies.shape != ref.shape or np.max(np.abs(s.energies - ref)) > tol:
                raise GridMismatchError(
                    f"{path}: energy grid ({s.energies.size} points, {s.energies[0]:g} to "
                    f"{s.energies[-1]:g} eV) differs from {paths[0]} ({ref.size} points, "
                    f"{ref[0]:g} to {ref[-1]:g} eV); spectra of one data set share a grid",
                    "pass grid='first' (or an array) to resample them",
                )
        return ref.copy(), np.vstack([s.mu for s in spectra])
    if isinstance(grid, str):
        if grid != "first":
            raise ValueError(f"grid must be None, 'first' or an array, got {grid!r}")
        target = spectra[0].energies.copy()
    else:
        target = np.asarray(grid, dtype=np.float64)
        if target.ndim != 1 or target.size < 2 or np.any(np.diff(target) <= 0):
            raise ValueError("grid must be a strictly increasing 1-D array of >= 2 energies")
    rows = []
    for s, path in zip(spectra, paths, strict=True):
        tol = 1e-9 * (s.energies[-1] - s.energies[0])
        if target[0] < s.energies[0] - tol or target[-1] > s.energies[-1] + tol:
            raise ValueError(
                f"{path}: spectrum spans {s.energies[0]:g} to {s.energies[-1]:g} eV, the grid "
                f"{target[0]:g} to {target[-1]:g} eV; resampling does not extrapolate"
            )
        rows.append(np.interp(target, s.energies, s.mu))
    return target, np.vstack(rows)


def save_dataset(path, dataset):
    """Write a :class:`XanesDataset` to a compressed ``.npz`` (keys: module docstring).

    Structures are stored as positions, atomic numbers and the absorber
    index, plus ``cells`` (n, 3, 3) and ``pbc`` (n, 3) when any structure is
    periodic (other ``atoms.info`` is not kept).

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file to write.
    dataset : XanesDataset
        What to store; its ``spectra`` and ``energies`` always, its
        ``features``/``structures``/``e0`` when present.

    Examples
    --------
    >>> import os, tempfile
    >>> from xanesnet_sk.datasets import load_npz, make_synthetic_xanes, save_dataset
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.npz")
    >>> save_dataset(path, make_synthetic_xanes(n_samples=5, random_state=0))
    >>> ds = load_npz(path)
    >>> len(ds), ds.spectra.shape, ds.structures[0].info["absorber"]
    (5, (5, 226), 0)
    """
    arrays = {
        "y": dataset.spectra,
        "energies": dataset.energies,
        "names": np.asarray(dataset.names, dtype=str),
        "description": np.asarray(dataset.description),
    }
    if dataset.features is not None:
        arrays["x"] = dataset.features
        if dataset.feature_names is not None:
            arrays["feature_names"] = np.asarray(dataset.feature_names, dtype=str)
    if dataset.structures is not None:
        arrays.update(_pack_structures(dataset.structures))
    if dataset.e0 is not None:
        arrays["e0"] = dataset.e0
    np.savez_compressed(path, **arrays)


def _pack_structures(structures):
    sizes = np.array([len(atoms) for atoms in structures])
    return {
        "positions": np.concatenate([atoms.positions for atoms in structures]).reshape(-1, 3),
        "numbers": np.concatenate([atoms.numbers for atoms in structures]).astype(np.int64),
        "offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        "absorbers": np.array([int(a.info.get("absorber", 0)) for a in structures]),
        **_cells(structures),
    }


def _cells(structures):
    """``cells`` and ``pbc`` arrays when any structure is periodic, else nothing."""
    pbc = np.array([np.asarray(a.pbc, dtype=bool) for a in structures]).reshape(-1, 3)
    if not pbc.any():
        return {}
    return {"cells": np.array([a.cell.array for a in structures]).reshape(-1, 3, 3),
            "pbc": pbc}


def _unpack_structures(path, arrays, names):
    positions, numbers, offsets = (arrays[k] for k in ("positions", "numbers", "offsets"))
    n = offsets.size - 1
    absorbers = arrays.get("absorbers", np.zeros(n, dtype=np.int64))
    if (
        positions.shape != (numbers.size, 3)
        or offsets[0] != 0
        or offsets[-1] != numbers.size
        or np.any(np.diff(offsets) < 1)
        or absorbers.shape != (n,)
    ):
        raise ValueError(
            f"{path}: inconsistent structure arrays: positions {positions.shape}, numbers "
            f"{numbers.shape}, offsets {offsets.shape} (from {offsets[0]} to {offsets[-1]}), "
            f"absorbers {absorbers.shape}"
        )
    cells, pbc = arrays.get("cells"), arrays.get("pbc")
    if (cells is None) != (pbc is None) or (
        cells is not None and (cells.shape != (n, 3, 3) or pbc.shape != (n, 3))
    ):
        raise ValueError(
            f"{path}: 'cells' and 'pbc' must both be present, of shapes ({n}, 3, 3) and "
            f"({n}, 3), for {n} structures; got "
            f"{None if cells is None else cells.shape} and {None if pbc is None else pbc.shape}"
        )
    structures = []
    for i in range(n):
        a, b = offsets[i], offsets[i + 1]
        atoms = Atoms(numbers=numbers[a:b], positions=positions[a:b])
        if cells is not None:
            atoms.cell, atoms.pbc = cells[i], pbc[i].astype(bool)
        atoms.info.update(name=names[i] if names is not None else f"sample_{i}")
        atoms.info["absorber"] = int(absorbers[i])
        structures.append(atoms)
    return structures


def read_npz_arrays(path):
    """Every array of an ``.npz`` file, as a dict; errors name the file.

    A truncated or corrupt file makes ``numpy.load`` raise ``BadZipFile``,
    ``EOFError`` or ``zlib.error`` without the file's name (and pickled
    object arrays are refused); here each becomes a ValueError naming it.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str to ndarray
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise ValueError("a .npy array, not an .npz archive")
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError, KeyError) as exc:
        what = str(exc) or type(exc).__name__
        raise ValueError(f"{path}: not a readable .npz file (truncated or corrupt?): "
                         f"{what}") from None


def load_npz(path, energies=None):
    """Read a data set from an ``.npz`` file (keys: module docstring).

    Parameters
    ----------
    path : str or path-like
        The file.
    energies : array-like of shape (n_points,), default=None
        The spectra's grid, used when the file stores none (``energies``
        key); with neither, ValueError.

    Returns
    -------
    XanesDataset
        With ``features`` when the file has ``x``, ``structures`` when it has
        ``positions``/``numbers``/``offsets``.
    """
    arrays = read_npz_arrays(path)
    if "y" not in arrays:
        raise ValueError(f"{path}: no spectra ('y') in this file (keys: {sorted(arrays)})")
    if "energies" in arrays:
        energies = arrays["energies"]
    elif energies is None:
        raise ValueError(
            f"{path}: the file stores no energies; pass energies= (the XANESNET grid is "
            "xanesnet_sk.spectra.xanesnet_grid(), or use load_v_dataset for the V set)"
        )
    y = np.asarray(arrays["y"], dtype=np.float64)
    if y.ndim != 2 or np.shape(energies) != (y.shape[1],):
        raise ValueError(
            f"{path}: 'y' has shape {y.shape}, energies {np.shape(energies)}; "
            "expected (n_samples, n_points) and (n_points,)"
        )
    for key in ("x", "y"):
        if key in arrays and not np.all(np.isfinite(arrays[key])):
            raise ValueError(f"{path}: {key!r} contains NaN or inf")
    names = [str(n) for n in arrays["names"]] if "names" in arrays else None
    structures = None
    if {"positions", "numbers", "offsets"} <= set(arrays):
        structures = _unpack_structures(path, arrays, names)
    try:
        return XanesDataset(
            spectra=y,
            energies=energies,
            names=names,
            structures=structures,
            features=arrays.get("x"),
            feature_names=arrays.get("feature_names"),
            e0=arrays.get("e0"),
            description=str(arrays.get("description", f"read from {path}")),
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_v_dataset(path):
    """Read the published V K-edge set, ``tmqm_k_edge_v.npz``.

    The file holds ``x`` (1439 x 97 wACSF, paper defaults) and ``y`` (1439 x
    226 spectra, arctangent-convolved and edge-step normalised) but no
    energies: their grid is ``linspace(-15, 60, 226)`` eV relative to the V
    K-edge (:func:`~xanesnet_sk.spectra.xanesnet_grid`), supplied here.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.

    Returns
    -------
    XanesDataset
        ``features``, ``spectra``, ``energies``, ``names`` (``sample_<i>``),
        and ``feature_names`` from :class:`wacsf.WACSFTransformer` when ``x``
        has its 97 default columns.
    """
    ds = load_npz(path, energies=xanesnet_grid(226))
    if ds.features is None:
        raise ValueError(f"{path}: no features ('x') in this file")
    if ds.feature_names is None and ds.features.shape[1] == 97:
        ds.feature_names = WACSFTransformer().get_feature_names_out()
    ds.description = f"V K-edge set (tmQM, paper defaults) from {path}"
    return ds


def make_synthetic_xanes(
    n_samples=200, n_points=226, *, noise=0.0, metal="Fe", random_state=None, return_dataset=True
):
    """Generate synthetic transition-metal complexes and XANES-like spectra.

    SYNTHETIC DATA, not physics: smooth model spectra that depend
    deterministically on each complex's geometry, for demos and fast tests.

    Each complex has the metal (the absorber) at index 0, a geometry drawn
    from octahedral, square-pyramidal, trigonal-bipyramidal, tetrahedral
    and square-planar (with small angular distortions), ligand atoms O, N, C,
    S, Cl or P at element-dependent bond lengths (about 1.8-2.4 A), a second
    shell (H, C, N, O) on most ligands, and a random orientation and
    position.  The spectrum on ``linspace(-15, 60, n_points)`` eV is the sum
    of

    - an arctangent edge whose position rises as the mean bond length falls
      and shifts with the ligand elements;
    - a pre-edge peak (about 9 eV below the edge) growing with the loss of
      centrosymmetry (mean over ligands of ``min_j |u_i + u_j|``, 0 for
      octahedral and square-planar, largest for tetrahedral);
    - a white line whose position follows Natoli's rule (``E - E_edge``
      proportional to ``1/R**2``) and whose height grows with the
      coordination number and the ligands' ionic character;
    - EXAFS-like oscillations ``sin(2 k R + phi(Z))`` from every atom within
      4.5 A, weighted by the backscatterer's Z, with ``k`` from the energy
      above the edge;

    plus Gaussian noise of standard deviation ``noise``.

    Parameters
    ----------
    n_samples : int, default=200
        Number of complexes.
    n_points : int, default=226
        Number of energy points.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the spectra.
    metal : str, default="Fe"
        Element symbol of the absorbing metal.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.
    return_dataset : bool, default=True
        Return a :class:`XanesDataset`; else ``(structures, spectra)`` (the
        energies are then ``xanesnet_grid(n_points)``).

    Returns
    -------
    XanesDataset or tuple of (list of ase.Atoms, ndarray of shape (n_samples, n_points))

    Examples
    --------
    >>> from xanesnet_sk.datasets import make_synthetic_xanes
    >>> ds = make_synthetic_xanes(n_samples=3, random_state=0)
    >>> ds.spectra.shape, ds.structures[0][0].symbol, ds.structures[0].info["geometry"] != ""
    ((3, 226), 'Fe', True)
    """
    structures, spectra = synthetic_xanes(n_samples, n_points, noise, metal, random_state)
    if not return_dataset:
        return structures, spectra
    return XanesDataset(
        spectra=spectra,
        energies=xanesnet_grid(n_points),
        names=[atoms.info["name"] for atoms in structures],
        structures=structures,
        description=f"synthetic {metal} complexes and spectra (make_synthetic_xanes)",
    )
