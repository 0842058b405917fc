"""Screening candidate structures against a measured spectrum.

:func:`screen` featurises every candidate structure (streamed in chunks, so
memory is bounded by two chunks and the ranking table, not by the input),
predicts its spectrum with a forward model (with the deep ensemble's
standard deviation when the model has one), optionally broadens the
prediction to the measurement's resolution, and ranks the candidates by
their distance to the measurement, normalised and aligned onto the model's
grid by :func:`~xanesnet_sk.measured.prepare_measured`.

**The distance.**  With ``y`` the measured spectrum on the model's grid (edge step 1) and
``p`` a candidate's prediction, a scale ``a`` (the least-squares
``argmin_a sum (y - a p)**2``, clipped to be positive; ``a = 1`` with
``scale=False``) takes up the difference between the model's normalisation
(e.g. raw FDMNES mu) and the measurement's.  Then

- ``delta_mu = 100 mean|y - a p| / mean|y|`` (the project's Δμ, in %);
- ``chi2 = mean((y - a p)**2 / ((a s)**2 + sigma**2))`` over the grid, with
  ``s`` the ensemble's standard deviation at each point (0 without an
  ensemble) and ``sigma`` the measurement's noise (estimated from its
  point-to-point scatter unless given).

``score`` is the ``metric`` chosen (default ``delta_mu``); rank 1 is the
smallest.
"""

import heapq
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from numbers import Integral
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pandas as pd
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from wacsf import WACSFTransformer, absorber_indices, read_structures
from wacsf._molecules import Molecules, read_molecules
from wacsf._readers import _structure_files

from .measured import PreparedSpectrum, as_measured, prepare_measured
from .spectra import LorentzianBroadening, xanesnet_grid

# Imports inside functions: matplotlib, skorch and the model classes (torch) only when a
# screen uses them.

__all__ = ["screen", "ScreenResult", "iter_candidates", "METRICS"]

#: The distances :func:`screen` ranks by.
METRICS = ("delta_mu", "chi2")


@dataclass
class ScreenResult:
    """What :func:`screen` returns.

    Parameters
    ----------
    ranking : pandas.DataFrame
        One row per candidate, best first: ``rank`` (1 = best), ``name``,
        ``score``, ``delta_mu``, ``chi2``, ``scale`` (the factor ``a``),
        ``mean_std`` (the ensemble's mean std, NaN without one), ``index``
        (position in the input), and ``n_sites`` (sites averaged).
    energies : ndarray of shape (n_points,)
        The model's edge-relative grid (eV).
    measured : PreparedSpectrum
        The measurement, normalised and on the grid.
    top_spectra : ndarray of shape (k, n_points)
        The ``top_k`` best predictions (scaled by ``a``, broadened), best first.
    top_std : ndarray of shape (k, n_points) or None
        Their ensemble std (scaled by ``a``), or None.
    metric : str
        The distance ranked by.
    """

    ranking: "object"
    energies: np.ndarray
    measured: "object"
    top_spectra: np.ndarray
    top_std: np.ndarray | None
    metric: str

    def plot(self, k=None, ax=None, path=None):
        """The measured spectrum over the ``k`` best predictions (with ±2 std bands).

        Parameters
        ----------
        k : int or None, default=None
            How many candidates (default: all kept, ``top_k``).
        ax : matplotlib Axes or None, default=None
            Where to draw; a new figure when None.
        path : str, path-like or None, default=None
            Save the figure there (and close it).

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        k = len(self.top_spectra) if k is None else min(int(k), len(self.top_spectra))
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
        else:
            fig = ax.figure
        e = self.energies
        colours = plt.get_cmap("viridis")(np.linspace(0, 0.85, max(k, 1)))
        for i in range(k):
            row = self.ranking.iloc[i]
            label = f"{int(row['rank'])}. {row['name']} ({self.metric} {row['score']:.3g})"
            ax.plot(e, self.top_spectra[i], color=colours[i], lw=1.2, label=label)
            if self.top_std is not None:
                ax.fill_between(e, self.top_spectra[i] - 2 * self.top_std[i],
                                self.top_spectra[i] + 2 * self.top_std[i], color=colours[i],
                                alpha=0.15, lw=0)
        ax.plot(e, self.measured.mu, "k.", ms=2.5, label="measured (normalised)")
        ax.set(xlabel="E - E0 (eV)", ylabel="normalised mu",
               title=f"{Path(self.measured.measured.source).name}: E0 = "
                     f"{self.measured.e0:.2f} eV, top {k} of {len(self.ranking)}")
        ax.legend(fontsize=7, loc="lower right")
        if path is not None:
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig


# ---------------------------------------------------------------- candidates


def iter_candidates(candidates):
    """``ase.Atoms`` of every candidate, lazily, each with ``info["name"]`` set.

    Parameters
    ----------
    candidates : str, path-like or iterable
        A directory of structure files (each file one candidate, named by its
        stem), one file (an ase database ``.db``: one candidate per row, named
        by its ``name`` key or ``<stem>_<id>``; a trajectory or multi-frame
        file: one per frame, ``<stem>_<k>``; else its structure), or an
        iterable of ``ase.Atoms``, paths or ase.db rows.

    Yields
    ------
    ase.Atoms
    """
    if isinstance(candidates, (str, os.PathLike)):
        path = Path(candidates)
        if path.is_dir():
            files = _structure_files(path)
            if not files:
                raise ValueError(f"{path}: no structure files (.xyz, .extxyz, .cif, POSCAR, ...)")
            for file in files:
                yield from read_structures([file])
            return
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file or directory")
        if path.suffix.lower() == ".db":
            db = ase.db.connect(str(path))
            with db:  # one connection for every row (ase opens one per row otherwise)
                for row in db.select():
                    atoms = row.toatoms()
                    atoms.info["name"] = str(row.get("name", f"{path.stem}_{row.id}"))
                    yield atoms
            return
        if path.suffix.lower() == ".traj":
            for k, atoms in enumerate(ase.io.iread(str(path), index=":")):
                atoms.info["name"] = f"{path.stem}_{k}"
                yield atoms
            return
        frames = read_structures(path, index=":")
        if len(frames) == 1:
            frames[0].info["name"] = path.stem
        yield from frames
        return
    for k, item in enumerate(candidates):
        if isinstance(item, Atoms):
            item.info.setdefault("name", str(k))
            yield item
        elif isinstance(item, (str, os.PathLike)):
            yield from read_structures([item])
        elif hasattr(item, "toatoms"):
            atoms = item.toatoms()
            atoms.info["name"] = str(item.get("name", item.id))
            yield atoms
        else:
            raise TypeError(f"candidate {k}: expected ase.Atoms, a structure file or an ase.db "
                            f"row, got {type(item).__name__}")


def _candidate_chunks(candidates, size):
    """The candidates of :func:`iter_candidates`, in chunks of ``size`` (the last one
    shorter): ``(offset, chunk)``, ``chunk`` a list of ``ase.Atoms`` or, for a directory's
    plain xyz files, a :class:`wacsf._molecules.Molecules` (read together, without an
    ``ase.Atoms`` each: the same atoms, names, order and errors)."""
    if isinstance(candidates, (str, os.PathLike)) and Path(candidates).is_dir():
        path = Path(candidates)
        files = _structure_files(path)
        if not files:
            raise ValueError(f"{path}: no structure files (.xyz, .extxyz, .cif, POSCAR, ...)")
        for k in range(0, len(files), size):
            yield k, read_molecules(files[k:k + size], base=k)  # iter_candidates's reading
        return
    yield from _aligned_chunks(iter_candidates(candidates), 0, size)


def _aligned_chunks(items, offset, size):
    """``(offset, chunk)`` of consecutive candidates ``items`` (an iterable of ``ase.Atoms``,
    or a :class:`wacsf._molecules.Molecules`) from input position ``offset``, cut at
    multiples of ``size`` of the whole input (so that a cluster's partitions make the very
    chunks a local run makes).  An iterable is consumed a chunk at a time."""
    if isinstance(items, Molecules):
        start = 0
        while start < len(items):
            stop = min(len(items), start + size - (offset + start) % size)
            yield offset + start, items[start:stop]
            start = stop
        return
    stream = iter(items)
    while True:
        chunk = list(islice(stream, size - offset % size))
        if not chunk:
            return
        yield offset, chunk
        offset += len(chunk)


def _candidate_partitions(candidates, size):
    """The candidates as consecutive partitions of ``size``, each described by a small
    picklable ``(kind, ...)`` tuple that :func:`_read_partition` turns into its
    ``ase.Atoms`` (on a cluster's worker): ``("files", [absolute paths])`` for a directory
    (the files are read where the partition runs), ``("db", path, first id, last id)`` and
    ``("traj", path, start, stop)`` for an ase database and a trajectory (their rows or
    frames read there), ``("atoms", [Atoms])`` for anything else (read here, streamed: one
    partition at a time).  Names and order are those of :func:`iter_candidates`.

    Yields
    ------
    (offset, description)
        ``offset``: the input position of the partition's first candidate.
    """
    if isinstance(candidates, (str, os.PathLike)):
        path = Path(candidates).absolute()
        if path.is_dir():
            files = _structure_files(path)
            if not files:  # iter_candidates's error, naming the directory as given
                raise ValueError(f"{Path(candidates)}: no structure files (.xyz, .extxyz, "
                                 ".cif, POSCAR, ...)")
            for k in range(0, len(files), size):
                yield k, ("files", files[k:k + size])
            return
        if path.is_file() and path.suffix.lower() == ".db":
            db = ase.db.connect(str(path))
            with db:  # one connection for every row (ase opens one per row otherwise)
                ids = [row.id for row in db.select(include_data=False)]
            for k in range(0, len(ids), size):
                part = ids[k:k + size]
                yield k, ("db", str(path), part[0], part[-1])
            return
        if path.is_file() and path.suffix.lower() == ".traj":
            from ase.io.trajectory import Trajectory

            with Trajectory(str(path)) as traj:
                n = len(traj)
            for k in range(0, n, size):
                yield k, ("traj", str(path), k, min(k + size, n))
            return
    stream = iter_candidates(candidates)
    offset = 0
    while True:
        atoms = list(islice(stream, size))
        if not atoms:
            return
        yield offset, ("atoms", atoms)
        offset += len(atoms)


def _read_partition(description):
    """The ``ase.Atoms`` of one partition of :func:`_candidate_partitions` (for files, a
    :class:`wacsf._molecules.Molecules` where all are molecules)."""
    kind, *what = description
    if kind == "atoms":
        return what[0]
    if kind == "files":  # Molecules when every file is a molecule (plain xyz: read fast)
        return read_molecules(what[0])
    if kind == "db":
        path, first, last = what
        out = []
        db = ase.db.connect(path)
        with db:  # one connection for every row (ase opens one per row otherwise)
            for row in db.select(f"id>={first},id<={last}"):
                atoms = row.toatoms()
                atoms.info["name"] = str(row.get("name", f"{Path(path).stem}_{row.id}"))
                out.append(atoms)
        return out
    if kind == "traj":
        path, start, stop = what
        out = []
        for k, atoms in enumerate(ase.io.iread(path, index=slice(start, stop)), start):
            atoms.info["name"] = f"{Path(path).stem}_{k}"
            out.append(atoms)
        return out
    raise ValueError(f"unknown partition kind {kind!r}")


# ---------------------------------------------------------------- the model


def _split(model, wacsf):
    """(featuriser, the rest) of a forward model."""
    from .inverse import direction_of

    if direction_of(model) == "inverse":
        raise ValueError("model: an inverse model (spectra to descriptors) cannot screen "
                         "structures; give a forward model (structures to spectra)")
    first = model.steps[0][1] if isinstance(model, Pipeline) else None
    if isinstance(first, WACSFTransformer):
        if wacsf is not None:
            raise ValueError("the model featurises structures itself: leave wacsf=None")
        return first, model[1:]
    if wacsf is None:
        raise ValueError("this model takes wACSF features: pass wacsf=WACSFTransformer(...) "
                         "with the parameters it was trained with")
    return wacsf, model


def _nets(estimator):
    """The fitted skorch nets inside ``estimator`` (pipelines, target transforms, ensembles)."""
    from skorch import NeuralNet

    if isinstance(estimator, NeuralNet):
        yield estimator
        return
    for _, step in getattr(estimator, "steps", ()):
        yield from _nets(step)
    if hasattr(estimator, "regressor_"):
        yield from _nets(estimator.regressor_)
    for member in getattr(estimator, "estimators_", ()) or ():
        yield from _nets(member)


@contextmanager
def _prediction_batches(estimator, size):
    """Predict in batches of ``size`` rows (skorch's default is the training batch, 32:
    about 10 times slower on the CPU); every net's ``batch_size`` is restored after."""
    changed = []
    try:
        for net in _nets(estimator):
            if "iterator_valid__batch_size" not in vars(net) and net.batch_size < size:
                changed.append((net, net.batch_size))
                net.batch_size = size
        yield
    finally:
        for net, size_before in changed:
            net.batch_size = size_before


def _has_std(rest):
    from .ensemble import DeepEnsembleRegressor

    last = rest.steps[-1][1] if hasattr(rest, "steps") else rest
    last = getattr(last, "regressor_", last)
    return isinstance(last, DeepEnsembleRegressor) and last.n_ensemble > 1


def _element_number(element):
    if element is None:
        return None
    if isinstance(element, Integral):
        if not 0 < int(element) < len(chemical_symbols):
            raise ValueError(f"absorber element {element} is not an atomic number")
        return int(element)
    symbol = str(element).strip().capitalize()
    if symbol not in atomic_numbers:
        raise ValueError(f"absorber element {element!r} is not an element symbol")
    return atomic_numbers[symbol]


def _check_absorbers(atoms_list, z, absorber, site_mode, measured_source):
    """ValueError naming the first candidate without the absorbing element."""
    if isinstance(atoms_list, Molecules):
        _check_molecules(atoms_list, z, absorber, site_mode, measured_source)
        return
    numbers = [atoms.arrays["numbers"] for atoms in atoms_list]
    if site_mode:
        bad = [k for k, n in enumerate(numbers) if not (n == z).any()]
    else:
        indices = _absorbing_atoms(atoms_list, absorber)
        at = np.fromiter(map(_item, numbers, indices.tolist()),
                         dtype=np.int64, count=len(numbers))
        bad = np.flatnonzero(at != z)
    if not len(bad):
        return
    k = int(bad[0])
    atoms = atoms_list[k]
    name = atoms.info.get("name", "?")
    where = atoms.info.get("source", name)
    if site_mode:
        raise ValueError(f"candidate {name} ({where}) has no {chemical_symbols[z]} atom, "
                         f"the absorbing element of {measured_source}")
    got = chemical_symbols[at[k]]
    raise ValueError(f"candidate {name} ({where}): its absorbing atom {int(indices[k])} is "
                     f"{got}, but {measured_source} is a {chemical_symbols[z]} edge; put the "
                     f"{chemical_symbols[z]} atom first or use absorber_element")


def _check_molecules(molecules, z, absorber, site_mode, measured_source):
    """:func:`_check_absorbers` of a :class:`wacsf._molecules.Molecules`, vectorised."""
    n, counts, offsets = len(molecules), molecules.counts, molecules.offsets
    if site_mode:
        owner = np.repeat(np.arange(n), counts)
        ok = np.bincount(owner[molecules.numbers == z], minlength=n) > 0
    else:
        local = None
        if isinstance(absorber, str) and absorber == "auto":  # plain xyz: no info
            local = np.zeros(n, dtype=np.int64)
        elif isinstance(absorber, Integral) and not isinstance(absorber, bool):
            local = np.full(n, int(absorber), dtype=np.int64)
            local = np.where(local < 0, local + counts, local)
            if ((local < 0) | (local >= counts)).any():
                local = None
        if local is None:  # anything else, and every error, the general way
            _check_absorbers(list(molecules), z, absorber, site_mode, measured_source)
            return
        ok = molecules.numbers[offsets[:-1] + local] == z
    if not ok.all():  # the general way names the candidate
        _check_absorbers(list(molecules), z, absorber, site_mode, measured_source)


def _item(array, index):
    return array[index]


def _absorbing_atoms(atoms_list, absorber):
    """:func:`wacsf.absorber_indices`, its error naming the candidate."""
    try:
        return absorber_indices(atoms_list, absorber)
    except ValueError:
        for atoms in atoms_list:  # which one
            try:
                absorber_indices([atoms], absorber)
            except ValueError as exc:
                name = atoms.info.get("name", "?")
                reason = str(exc).split(": ", 1)[-1]
                raise ValueError(f"candidate {name} ({atoms.info.get('source', name)}): "
                                 f"{reason}") from None
        raise


# ---------------------------------------------------------------- scoring


def _score(y, pred, std, noise, scale, weight):
    """(delta_mu, chi2, a) of every row of ``pred`` against ``y``."""
    if scale:
        a = (pred @ y) / np.maximum(np.einsum("ij,ij->i", pred, pred), 1e-300)
        a = np.clip(a, 1e-12, None)
    else:
        a = np.ones(len(pred))
    resid = a[:, None] * pred
    np.subtract(y[None, :], resid, out=resid)  # y - a p, in place
    delta_mu = 100.0 * np.abs(resid).mean(axis=1) / max(np.abs(y).mean(), 1e-300)
    np.square(resid, out=resid)
    if std is None:  # one variance everywhere: divide by it, not by an array of it
        resid /= max(noise ** 2, 1e-300)
    else:
        var = (a[:, None] * std) ** 2 + noise ** 2
        resid /= np.maximum(var, 1e-300)
    if not np.all(weight == 1.0):
        resid *= weight
    chi2 = resid.sum(axis=1) / weight.sum()
    return delta_mu, chi2, a


# ---------------------------------------------------------------- one screening, in parts


@dataclass
class _Part:
    """The scores of consecutive candidates (one chunk, or a partition's chunks joined),
    with the ``top_k`` best predictions among them."""

    offset: int
    names: list
    score: np.ndarray
    delta_mu: np.ndarray
    chi2: np.ndarray
    scale: np.ndarray
    mean_std: np.ndarray
    n_sites: np.ndarray
    top: list  # [(score, index, spectrum, std or None)], best first

    def __len__(self):
        return len(self.names)


def _best(items, top_k):
    """The ``top_k`` best of (score, index, spectrum, std) items: lowest score, then index."""
    return heapq.nsmallest(top_k, items, key=lambda item: (item[0], item[1]))


def _join(parts, top_k):
    """Consecutive parts as one (their tables in order, their best ``top_k``)."""
    if len(parts) == 1:
        return parts[0]
    joined = {key: np.concatenate([getattr(p, key) for p in parts])
              for key in ("score", "delta_mu", "chi2", "scale", "mean_std", "n_sites")}
    return _Part(offset=parts[0].offset, names=[n for p in parts for n in p.names],
                 top=_best([item for p in parts for item in p.top], top_k), **joined)


@dataclass
class _Screening:
    """Everything one screening computes with, checked and prepared once; picklable, so
    that a cluster's workers score their partitions with the very same object."""

    featuriser: object
    rest: object
    grid: np.ndarray
    prepared: object
    sigma: float
    broaden: object
    z: int | None
    site_mode: bool
    absorber_index: object
    with_std: bool
    metric: str
    scale: bool
    top_k: int
    chunk_size: int

    def score_chunk(self, chunk, offset):
        """The :class:`_Part` of ``chunk`` (a list of ``ase.Atoms``, input positions
        ``offset``, ``offset + 1``, ...)."""
        y = self.prepared.mu
        if self.z is not None:
            _check_absorbers(chunk, self.z, self.absorber_index, self.site_mode,
                             self.prepared.measured.source)
        X = self.featuriser.transform(chunk)
        with _prediction_batches(self.rest, self.chunk_size):
            if self.with_std:
                pred, std = self.rest.predict(X, return_std=True)
                pred, std = np.asarray(pred, float).reshape(len(X), -1), np.asarray(std, float)
                std = std.reshape(len(X), -1)
            else:
                pred, std = np.asarray(self.rest.predict(X), float).reshape(len(X), -1), None
        if pred.shape[1] != self.grid.size:
            raise ValueError(f"the model predicts {pred.shape[1]} points but its grid "
                             f"(energies) has {self.grid.size}")
        counts = np.ones(len(chunk), dtype=int)
        if self.site_mode:
            owner = self.featuriser.sites_[:, 0]
            counts = np.bincount(owner, minlength=len(chunk))
            pred = _mean_by(pred, owner, counts)
            std = None if std is None else _mean_by(std, owner, counts)
        if self.broaden is not None:
            pred = self.broaden.transform(pred)
            std = None if std is None else self.broaden.transform(std)
        bad = ~np.isfinite(pred).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"the model predicts NaN or inf for candidate "
                             f"{chunk[i].info.get('name', offset + i)}")
        dmu, chi2, a = _score(y, pred, std, self.sigma, self.scale, np.ones_like(self.grid))
        score = dmu if self.metric == "delta_mu" else chi2
        top = [(float(score[i]), offset + int(i), a[i] * pred[i],
                None if std is None else a[i] * std[i])
               for i in np.argsort(score, kind="stable")[:self.top_k]]
        return _Part(
            offset=offset,
            names=(list(chunk.names) if isinstance(chunk, Molecules) else
                   [str(atoms.info.get("name", offset + i)) for i, atoms in enumerate(chunk)]),
            score=score, delta_mu=dmu, chi2=chi2, scale=a,
            mean_std=std.mean(axis=1) if std is not None else np.full(len(chunk), np.nan),
            n_sites=counts, top=top)

    def score_stream(self, chunks, bar=None):
        """The parts of consecutive chunks of candidates, ``chunks`` an iterable of
        ``(offset, chunk)`` (see :func:`_candidate_chunks` and :func:`_aligned_chunks`:
        cut at multiples of ``chunk_size`` of the whole input, so a cluster's partitions
        predict the very batches a local run does).

        The next chunk is read (the iterable consumed: files read and parsed, structures
        made) while the last one is featurised, predicted and scored on a second Python
        thread: reading releases the GIL in its system calls and compiled parsing, and
        the featuriser's kernel and torch release it too.  One chunk is scored at a
        time, each by the same code, so the parts are those of one chunk after another;
        an error in a chunk comes before an error in reading the next.
        """
        stream = iter(chunks)
        pool = ThreadPoolExecutor(1, thread_name_prefix="screen")
        try:
            offset, chunk = next(stream, (0, None))
            while chunk is not None:
                future = pool.submit(self.score_chunk, chunk, offset)
                try:
                    offset, chunk = next(stream, (0, None))
                except BaseException:
                    future.result()  # this chunk's error, if any, first
                    raise
                part = future.result()
                if bar is not None:
                    bar.update(len(part))
                yield part
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def result(self, parts):
        """The :class:`ScreenResult` of the parts of the whole input, in input order."""
        if not parts or sum(len(p) for p in parts) == 0:
            raise ValueError("candidates: no structures to screen")
        whole = _join(parts, self.top_k)
        n = len(whole)
        table = pd.DataFrame({
            "name": whole.names, "score": whole.score, "delta_mu": whole.delta_mu,
            "chi2": whole.chi2, "scale": whole.scale, "mean_std": whole.mean_std,
            "n_sites": whole.n_sites, "index": np.arange(n),
        })
        table = table.sort_values(["score", "index"], kind="stable").reset_index(drop=True)
        table.insert(0, "rank", np.arange(1, n + 1))
        return ScreenResult(
            ranking=table, energies=self.grid, measured=self.prepared,
            top_spectra=np.vstack([item[2] for item in whole.top]),
            top_std=None if not self.with_std else np.vstack([item[3] for item in whole.top]),
            metric=self.metric,
        )


def screen(model, candidates, measured, *, e0=None, shift=0.0, energies=None,
           absorber_element=None, absorber=None, element=None, broadening=None,
           metric="delta_mu", scale=True, noise=None, top_k=5, chunk_size=4096, n_jobs=None,
           wacsf=None, flatten=False, pre_edge_params=None, progress=False):
    """Rank candidate structures by how well their predicted spectra match a measurement.

    Parameters
    ----------
    model : fitted estimator
        A forward model: a fitted :func:`~xanesnet_sk.make_xanesnet_pipeline`
        starting with a ``WACSFTransformer``, or a regressor on wACSF features
        together with ``wacsf``.  A deep ensemble gives each prediction its
        standard deviation.
    candidates : str, path-like or iterable
        Structures, streamed (see :func:`iter_candidates`): a directory, a
        trajectory, an ase database, a structure file, or an iterable of
        ``ase.Atoms`` (or files, or ase.db rows).
    measured : str, path-like, MeasuredSpectrum, PreparedSpectrum or (energies, mu)
        The measurement: read and normalised with
        :func:`~xanesnet_sk.measured.prepare_measured` (needs xraylarch),
        unless already a PreparedSpectrum on the model's grid.
    e0 : float or None, default=None
        The measured edge energy (eV) when known; None: the file's, else
        Larch's (the maximum of dmu/dE).
    shift : float, default=0.0
        Added to E0 when aligning (eV).
    energies : array-like or None, default=None
        The model's edge-relative grid; None: ``xanesnet_grid`` of the
        model's output size (the grid every model of this project is trained
        on unless told otherwise).
    absorber_element : str, int or None, default=None
        Average the predictions of every atom of this element in a candidate
        (the measured spectrum of a material with several sites); None: one
        absorbing atom per candidate (``absorber``, default the featuriser's).
    absorber : int or None, default=None
        Index of the absorbing atom without ``absorber_element`` (default:
        the featuriser's ``absorber``).
    element : str, int or None, default=None
        The absorbing element every candidate must have (at ``absorber``, or
        anywhere with ``absorber_element``); None: ``absorber_element``, else
        the measurement's ``Element.symbol``, else unchecked.
    broadening : float, transformer or None, default=None
        Broaden the predictions before comparing: a Lorentzian FWHM in eV
        (:class:`~xanesnet_sk.spectra.LorentzianBroadening` on the grid), or a
        spectra transformer such as
        :class:`~xanesnet_sk.spectra.ArctanBroadening` built on the grid.
    metric : {"delta_mu", "chi2"}, default="delta_mu"
        The distance ``score`` holds (see the module's notes).
    scale : bool, default=True
        Fit the factor ``a`` per candidate (the model's and the measurement's
        normalisations differ); False compares as they are.
    noise : float or None, default=None
        The measurement's noise (normalised units) in chi2; None: estimated.
    top_k : int, default=5
        How many best predictions to keep for the plot.
    chunk_size : int, default=4096
        Candidates featurised and predicted at a time (bounds memory); the
        next chunk is read while the last is featurised, predicted and
        scored on a second thread, so memory holds two chunks.
    n_jobs : int or None, default=None
        Featuriser threads (None: the featuriser's own setting).
    wacsf : WACSFTransformer or None, default=None
        The featuriser, for a model that takes features.
    flatten : bool, default=False
        Compare with Larch's flattened measurement.
    pre_edge_params : dict or None, default=None
        ``pre1``, ``pre2``, ``norm1``, ``norm2``, ``nnorm``, ``nvict``,
        ``step`` for the normalisation.
    progress : bool, default=False
        Show a progress bar of candidates.

    Returns
    -------
    ScreenResult

    Raises
    ------
    ValueError
        An inverse model; a measurement that does not cover the grid (naming
        the file); a candidate without the absorbing element (naming it).
    ImportError
        Normalising without xraylarch (``pip install "xanesnet-sk[experiment]"``).

    See Also
    --------
    xanesnet_sk.dask.screen : the same on a Dask cluster, one task per partition.
    """
    setup = _prepare(model, measured, e0=e0, shift=shift, energies=energies,
                     absorber_element=absorber_element, absorber=absorber, element=element,
                     broadening=broadening, metric=metric, scale=scale, noise=noise,
                     top_k=top_k, chunk_size=chunk_size, n_jobs=n_jobs, wacsf=wacsf,
                     flatten=flatten, pre_edge_params=pre_edge_params)
    bar = tqdm(desc="screening", unit="candidate") if progress else None
    parts, best = [], []
    try:
        for part in setup.score_stream(_candidate_chunks(candidates, setup.chunk_size), bar):
            best = _best(best + part.top, top_k)  # only the best spectra are kept
            part.top = []
            parts.append(part)
    finally:
        if bar is not None:
            bar.close()
    if parts:
        parts[0].top = best
    return setup.result(parts)


def _prepare(model, measured, *, e0, shift, energies, absorber_element, absorber, element,
             broadening, metric, scale, noise, top_k, chunk_size, n_jobs, wacsf, flatten,
             pre_edge_params):
    """The :class:`_Screening` of :func:`screen`'s arguments (checked; the measurement
    read, normalised and aligned)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not (isinstance(top_k, Integral) and top_k >= 1):
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if not (isinstance(chunk_size, Integral) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    featuriser, rest = _split(model, wacsf)
    with_std = _has_std(rest)
    if energies is None:
        n_out = getattr(rest, "n_outputs_", None)
        if n_out is None:
            last = rest.steps[-1][1] if hasattr(rest, "steps") else rest
            n_out = getattr(getattr(last, "regressor_", last), "n_outputs_", 226)
        energies = xanesnet_grid(int(n_out))
    grid = np.asarray(energies, dtype=float).reshape(-1)
    if isinstance(measured, PreparedSpectrum):
        prepared = measured
        if prepared.mu.shape != grid.shape or not np.allclose(prepared.grid, grid):
            raise ValueError(f"{prepared.measured.source}: prepared on another grid than the "
                             "model's; prepare it with the model's energies")
    else:
        spectrum = as_measured(measured)
        prepared = prepare_measured(spectrum, grid, e0=e0, shift=shift, flatten=flatten,
                                    **(pre_edge_params or {}))
    y = prepared.mu
    sigma = prepared.noise if noise is None else float(noise)
    sigma = max(sigma, 1e-3 * max(np.abs(y).max(), 1e-12))  # floor: no division by ~0
    broaden = None
    if broadening is not None:
        if isinstance(broadening, (int, float)):
            broaden = LorentzianBroadening(grid, width=float(broadening)).fit(y[None, :])
        else:
            broaden = clone(broadening).fit(y[None, :])
    featuriser = clone(featuriser)
    site_mode = absorber_element is not None
    if site_mode:
        featuriser.set_params(absorber=0, absorber_element=absorber_element)
    elif absorber is not None:
        featuriser.set_params(absorber=int(absorber))
    if n_jobs is not None:
        featuriser.set_params(n_jobs=n_jobs)
    featuriser.set_params(progress=False)
    z = _element_number(element if element is not None else
                        absorber_element if absorber_element is not None else
                        prepared.measured.element)
    return _Screening(featuriser=featuriser, rest=rest, grid=grid, prepared=prepared,
                      sigma=sigma, broaden=broaden, z=z, site_mode=site_mode,
                      absorber_index=featuriser.get_params()["absorber"], with_std=with_std,
                      metric=metric, scale=scale, top_k=int(top_k), chunk_size=int(chunk_size))


def _mean_by(values, owner, counts):
    sums = np.zeros((counts.size, values.shape[1]))
    np.add.at(sums, owner, values)
    return sums / np.maximum(counts, 1)[:, None]
