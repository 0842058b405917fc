"""WACSFTransformer: the scikit-learn estimator around the wACSF kernels."""

import copy
import logging
import math
import os
from collections.abc import Mapping, Sized
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numba
import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from . import _backends
from ._params import feature_names, resolve_grids
from ._structures import MIN_DISTANCE, _first_near_absorber, iter_chunks, pack

# Imports inside functions: the compiled kernels (_cpu) only when a transform runs them.

__all__ = ["WACSFTransformer"]

logger = logging.getLogger("wacsf")


class WACSFTransformer(TransformerMixin, BaseEstimator):
    r"""Weighted atom-centred symmetry functions (wACSF) of absorbing sites.

    Turns structures (``ase.Atoms`` or structure files) into fixed-length
    feature vectors ``[G1, G2 x n_g2, G4 x n_g4]`` describing the radial and
    angular environment of an absorbing atom, as used by XANESNET to predict
    X-ray absorption spectra: one row per structure (the atom ``absorber``),
    or one row per atom of ``absorber_element``.  Molecules, clusters and
    periodic structures (``atoms.pbc`` on any axis, any cell, including
    cells smaller than ``2 r_cut``) are all handled exactly.  Stateless:
    ``fit`` only validates the parameters, and ``transform`` may be called
    without it.

    Parameters
    ----------
    r_cut : float, default=6.0
        Cutoff radius r_c in Angstrom.
    r_min : float, default=0.0
        Start of the radial grids in Angstrom.
    n_g2 : int, default=32
        Number of radial G2 functions (ignored when ``g2_scheme`` is an array).
    n_g4 : int, default=64
        Number of angular G4 functions; must be divisible by
        ``len(lambdas) * len(zetas)`` (ignored when ``g4_scheme`` is an array).
    g2_scheme : {"shifted", "centred"} or array-like of shape (n, 2), default="shifted"
        Radial grid of G2 (see :func:`wacsf.g2_grid`), or explicit rows of
        ``(eta, mu)``.
    g4_scheme : {"centred", "shifted"} or array-like of shape (n, 2), default="centred"
        Radial grid of G4 (see :func:`wacsf.g4_grid`), or explicit rows of
        ``(eta, mu)``, each repeated for every lambda and zeta.
    g4_span : {"xanesnet", "spanning"}, default="xanesnet"
        ``"xanesnet"`` keeps the first ``n_g4 / (len(lambdas) len(zetas))``
        points of an ``n_g4``-point grid, as the XANESNET code does and as the
        published data were made (r_k from 1.0 to about 1.5 Angstrom with the
        defaults); ``"spanning"`` spreads them from ``r_min + 1`` to
        ``r_cut - 0.5``.
    lambdas : sequence of {+1, -1}, default=(1.0, -1.0)
        Angular lambda values of G4.
    zetas : sequence of float >= 1, default=(1.0, 2.0, 4.0, 8.0)
        Angular zeta values of G4.
    weights : "Z", mapping or callable, default="Z"
        Element weights w_j in G2 and G4: ``"Z"`` uses the atomic number; a
        mapping takes atomic numbers (or element symbols) to weights; a
        callable maps an int array of atomic numbers to float weights (e.g.
        ``lambda z: 0.1 * z``).  G1 is unweighted.
    g4_pairs : {"unordered", "ordered"}, default="unordered"
        Sum G4 over unordered pairs j < k (the XANESNET code) or over ordered
        pairs j != k (the paper's eq. 4; exactly twice the unordered sum).
    rjk_cutoff : {"clamped", "xanesnet"}, default="clamped"
        The cutoff on the distance r_jk between the two neighbours in G4.
        ``"clamped"``: f_c(r_jk) is 0 beyond ``r_cut``, as the paper's
        formula, Behler's and DScribe's ACSF.  ``"xanesnet"``: the cosine
        ``(cos(pi r_jk / r_cut) + 1) / 2`` for every r_jk, unclamped, as every
        public XANESNET code computes it.  j and k are both within ``r_cut``
        of the absorber, so r_jk reaches up to ``2 r_cut``, where the unclamped
        cosine rises back towards 1.  The two differ only through pairs with
        r_jk > ``r_cut``: on the 110 Fe complexes, by up to 2e-5 relative in G4
        at the defaults, and by up to 2.4 % of G4 (109 of the 110 complexes
        touched) at XANESNET's own input settings (``r_min=1``, ``n_g2=16``,
        ``n_g4=32``, ``zetas=(1,)``).  See Notes for the settings that
        reproduce each XANESNET code.
    absorber : "auto", int, sequence of int or str, default="auto"
        Which atom absorbs, one per structure.  ``"auto"``: the structure's
        ``atoms.info["absorber"]`` where it has one (as
        :func:`xanesnet_sk.load_dataset` and ``load_npz`` record it), else
        atom 0; an int: that index in every structure (negative counts from
        the end); a sequence: one index per structure; another string: the
        name of an ``atoms.info`` key holding the index.  Leave it at
        ``"auto"`` (or 0) when ``absorber_element`` is given.
    absorber_element : str, int or None, default=None
        Featurise *every* atom of this element (symbol such as ``"Fe"``, or
        atomic number) in every structure: one row per site, in structure
        order then atom order; ``sites_`` says which row is which.  The
        measured K-edge spectrum of a structure is the mean of its sites'
        spectra.  ``None``: one row per structure, the atom ``absorber``.
    on_missing_absorber : {"raise", "skip"}, default="raise"
        With ``absorber_element``: a structure with no atom of that element
        is an error naming it (``"raise"``), or is left out with a warning
        (``"skip"``; ``sites_`` then shows which structures have rows).
    backend : {"auto", "numba", "cuda", "numpy"}, default="auto"
        ``"numba"``: parallel CPU kernels; ``"cuda"``: Numba CUDA kernels
        (``pip install "xanesnet-sk[cuda]"`` and a GPU, or
        ``NUMBA_ENABLE_CUDASIM=1`` for the simulator); ``"numpy"``: the plain
        reference implementation (slow); ``"auto"``: CUDA when a GPU is
        present and the batch is large enough to pay for the transfer, else
        Numba.  The backend used is stored in ``backend_`` after
        ``transform`` and logged at INFO level on the ``"wacsf"`` logger.
    n_jobs : int, default=None
        CPU threads for the Numba backend; ``None`` or ``-1`` use all.  On
        more than one, the next chunk is packed while the threads featurise
        the last one (2 threads: 1.85x one thread end to end on 2 cores).
    chunk_size : int, default=5000
        Rows (structures, or sites with ``absorber_element``) featurised per
        kernel call.  ``X`` is consumed chunk by chunk, so with a generator
        (``ase.io.iread``, ``ase.db`` rows) only one or two chunks of
        structures are held at a time: 100,000 structures from a generator
        peak at 140 MB above the output array.  Paces the progress bar; never changes a
        number.
    dtype : {"float64", "float32"}, default="float64"
        Output dtype and precision.  ``"float32"``: the Numba CPU and CUDA
        kernels compute in float32 (twice the SIMD lanes; the CPU kernel keeps
        the neighbour search, G2 and the G4 block sums in float64), within
        2.2e-6 relative of float64 on the 110 Fe complexes (every value that
        float32 holds as a normal number; with a shifted G4 grid, values
        below 1e-10 of their column's largest, far from their Gaussian's
        centre, can differ by more) and about 1.4x as fast on one CPU
        thread (median of interleaved rounds on a 2-core AMD EPYC, AVX2;
        the docs' benchmarks page).  The NumPy backend computes in float64
        and converts.
    progress : bool, default=None
        Show a progress bar per chunk; ``None`` shows one only when there is
        more than one chunk.

    Attributes
    ----------
    backend_ : str
        The backend the last ``transform`` used.
    sites_ : ndarray of shape (n_rows, 2), int
        After ``transform``: the (structure index, atom index) of every row
        of its output, in structure order then atom order.

    See Also
    --------
    wacsf.g2_grid, wacsf.g4_grid : the radial parameter grids.
    wacsf.read_structures : read structure files, including xyz files with
        atomic numbers in the first column.

    Notes
    -----
    For the absorber i with neighbours j, k within ``r_cut`` (distances r,
    angle theta_jik at i, weights w) [1]_:

    .. math::

        f_c(r) &= \tfrac12\left(\cos(\pi r / r_c) + 1\right) \text{ for } r \le r_c,
                  \text{ else } 0 \\
        G^1 &= \sum_j f_c(r_{ij}) \\
        G^2 &= \sum_j w_j f_c(r_{ij}) e^{-\eta (r_{ij} - \mu)^2} \\
        G^4 &= 2^{1-\zeta} \sum_{j<k} w_j w_k (1 + \lambda\cos\theta_{jik})^\zeta
               f_c(r_{ij}) f_c(r_{ik}) f_c(r_{jk})
               e^{-\eta[(r_{ij}-\mu)^2 + (r_{ik}-\mu)^2 + (r_{jk}-\mu)^2]}

    G4's (eta, mu) varies slowest, then lambda, then zeta.  With
    ``rjk_cutoff="xanesnet"``, f_c(r_jk) is the cosine without the clamp to 0
    beyond r_c.

    To reproduce the features of a XANESNET code, set (run side by side, each
    code agrees with this transformer to about 1e-15 relative with these
    settings; the grids are XANESNET's by default):

    =====================================  =======================================
    to reproduce                           set
    =====================================  =======================================
    the paper's formulas (eqs. 1-7)        the defaults (``rjk_cutoff="clamped"``)
    XANESNET 2022 (the original code)      ``rjk_cutoff="xanesnet"`` (weights Z,
                                           the default)
    XANESNET REDUX                         ``rjk_cutoff="xanesnet"`` (weights Z)
    XANESNET, current NewcastleRSE code    with its input settings:
                                           ``weights=lambda z: 0.1 * z,
                                           r_min=1, n_g2=16, n_g4=32,
                                           zetas=(1,), rjk_cutoff="xanesnet"``
    =====================================  =======================================

    Per call: ``fit`` (or the first ``transform``) validates the parameters
    and builds the grids once; ``transform`` repeats that only after a
    parameter changes.  A list of up to 16 molecules that one thread
    featurises anyway skips the chunking machinery (the same kernel, the same
    numbers): ``transform([atoms])`` of a 39-atom Fe complex takes about
    50-70 us, of which the kernel is about 33 us (2-core AMD EPYC, shared).

    Periodic structures: the neighbours j, k are every periodic image
    ``j + n . cell`` (integer n along the periodic axes of ``atoms.pbc``;
    the absorber's own images included) within ``r_cut`` (an image at exactly
    ``r_cut`` included), found by a compiled per-site image search or, for
    structures where that search would visit more than 3e7 (site, atom,
    image) triples, by the `vesin <https://luthaf.fr/vesin>`_ neighbour list
    (both give the same neighbours bit for bit); ``r_jk`` is the
    distance between the two images, so a periodic structure gives the same
    features as its environment written out as an explicit cluster.  A
    structure with ``pbc`` set on an axis needs a cell with a non-zero,
    independent vector on that axis.  Non-periodic structures never go
    through the neighbour list.

    References
    ----------
    .. [1] C. D. Rankine and T. J. Penfold, "Accurate, affordable, and
       generalizable machine learning simulations of transition metal X-ray
       absorption spectra using the XANESNET deep neural network",
       J. Chem. Phys. 156, 164102 (2022).

    Examples
    --------
    >>> from ase.build import molecule
    >>> from wacsf import WACSFTransformer
    >>> X = [molecule("H2O"), molecule("CH4")]
    >>> wacsf = WACSFTransformer(n_g2=8, n_g4=16, backend="numpy")
    >>> wacsf.fit_transform(X).shape
    (2, 25)
    >>> wacsf.get_feature_names_out()[:2].tolist()
    ['g1', 'g2_eta=0.98_mu=0.5']

    Every Fe site of a periodic crystal (bcc Fe: one atom in a 2.87 A cell):

    >>> from ase.build import bulk
    >>> fe = WACSFTransformer(n_g2=8, n_g4=16, absorber_element="Fe")
    >>> fe.fit_transform([bulk("Fe", "bcc", a=2.87, cubic=True)]).shape
    (2, 25)
    >>> fe.sites_.tolist()
    [[0, 0], [0, 1]]
    """

    _parameter_constraints: dict = {
        "r_cut": [Interval(Real, 0, None, closed="neither")],
        "r_min": [Interval(Real, 0, None, closed="left")],
        "n_g2": [Interval(Integral, 0, None, closed="left")],
        "n_g4": [Interval(Integral, 0, None, closed="left")],
        "g2_scheme": [StrOptions({"shifted", "centred"}), "array-like"],
        "g4_scheme": [StrOptions({"shifted", "centred"}), "array-like"],
        "g4_span": [StrOptions({"xanesnet", "spanning"})],
        "lambdas": ["array-like"],
        "zetas": ["array-like"],
        "weights": [StrOptions({"Z"}), Mapping, callable],
        "g4_pairs": [StrOptions({"unordered", "ordered"})],
        "rjk_cutoff": [StrOptions({"clamped", "xanesnet"})],
        "absorber": [Interval(Integral, None, None, closed="neither"), str, "array-like"],
        "absorber_element": [str, Interval(Integral, 1, 118, closed="both"), None],
        "on_missing_absorber": [StrOptions({"raise", "skip"})],
        "backend": [StrOptions({"auto", "numba", "cuda", "numpy"})],
        "n_jobs": [Interval(Integral, -1, None, closed="left"), None],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float64", "float32"})],
        "progress": ["boolean", None],
    }

    def __init__(
        self,
        r_cut=6.0,
        r_min=0.0,
        n_g2=32,
        n_g4=64,
        g2_scheme="shifted",
        g4_scheme="centred",
        g4_span="xanesnet",
        lambdas=(1.0, -1.0),
        zetas=(1.0, 2.0, 4.0, 8.0),
        weights="Z",
        g4_pairs="unordered",
        rjk_cutoff="clamped",
        absorber="auto",
        absorber_element=None,
        on_missing_absorber="raise",
        backend="auto",
        n_jobs=None,
        chunk_size=5000,
        dtype="float64",
        progress=None,
    ):
        self.r_cut = r_cut
        self.r_min = r_min
        self.n_g2 = n_g2
        self.n_g4 = n_g4
        self.g2_scheme = g2_scheme
        self.g4_scheme = g4_scheme
        self.g4_span = g4_span
        self.lambdas = lambdas
        self.zetas = zetas
        self.weights = weights
        self.g4_pairs = g4_pairs
        self.rjk_cutoff = rjk_cutoff
        self.absorber = absorber
        self.absorber_element = absorber_element
        self.on_missing_absorber = on_missing_absorber
        self.backend = backend
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.dtype = dtype
        self.progress = progress

    def _grids(self):
        return resolve_grids(
            self.r_cut, self.r_min, self.n_g2, self.n_g4, self.g2_scheme,
            self.g4_scheme, self.g4_span, self.lambdas, self.zetas,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Validate the parameters; wACSF learn nothing from data.

        Parameters
        ----------
        X : ignored
            Accepted for the scikit-learn API; structures are not needed.
        y : ignored

        Returns
        -------
        self : WACSFTransformer
        """
        self._settings(refresh=True)
        return self

    def _settings(self, refresh=False):
        """The validated parameters and everything ``transform`` needs that does not
        depend on ``X`` (grids, kernel arguments, weight table): computed by ``fit``, or
        by the first ``transform``, and again only when a parameter changes."""
        cached = self.__dict__.get("_settings_cache")
        if not refresh and cached is not None and cached.matches(self):
            return cached
        self._validate_params()
        grids = self._grids()
        self._check_absorber()
        settings = _Settings(self, grids)
        self._settings_cache = settings
        return settings

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_settings_cache", None)  # derived from the parameters; rebuilt on use
        return state

    def _check_absorber(self):
        if self.absorber_element is not None and not (
            (isinstance(self.absorber, str) and self.absorber == "auto")
            or (isinstance(self.absorber, Integral) and self.absorber == 0)
        ):
            raise ValueError(
                f"give either absorber (one site per structure) or absorber_element (every "
                f"atom of an element), not both: absorber={self.absorber!r}, "
                f"absorber_element={self.absorber_element!r}"
            )

    def fit_transform(self, X, y=None):
        """Featurise structures, checking targets ``y`` against the rows when given.

        With ``absorber_element`` the rows are sites, not structures: ``y``
        (as a pipeline passes it on to the next step) must give one row per
        site row, in the order of ``sites_``.  Targets that cannot be matched
        to the sites (one per structure where a structure was skipped or has
        several sites, or as many as both) are a ValueError naming the
        structures, never spectra shifted onto the wrong sites.

        Parameters
        ----------
        X : iterable of ase.Atoms or paths, or a path
            Structures, as for :meth:`transform`.
        y : array-like of shape (n_rows, ...) or None, default=None
            Targets of the rows (checked only).

        Returns
        -------
        ndarray of shape (n_rows, n_features)
            The features.
        """
        Xt = self.fit(X, y).transform(X)
        if y is not None:
            _check_site_targets(self, X, y)
        return Xt

    def transform(self, X):
        """Featurise structures.

        Parameters
        ----------
        X : iterable of ase.Atoms or paths, or a path
            Structures (molecules, clusters or periodic): a list, any
            iterable consumed lazily in chunks (a generator,
            ``ase.io.iread(...)``, rows of an ``ase.db``), structure files,
            or a directory of them (see :func:`wacsf.read_structures`).  A
            directory is read a chunk at a time, its plain xyz files parsed
            together straight into the kernel's arrays (no ``ase.Atoms``
            each; the same atoms, names and errors as ``read_structures``).

        Returns
        -------
        features : ndarray of shape (n_rows, n_features)
            One row per structure, or with ``absorber_element`` one row per
            site; ``sites_`` maps rows to (structure, atom).
        """
        settings = self._settings()
        if settings.small_ok:
            out = _transform_small(self, X, settings)
            if out is not None:
                return out
        # the normal path (here, not in a helper: packing's warnings name the caller's line)
        grids, n_features = settings.grids, settings.n_features
        n_hint = len(X) if isinstance(X, Sized) and not isinstance(X, (str, os.PathLike)) else None
        backend = _backends.resolve(self.backend, n_hint if n_hint is not None else self.chunk_size)
        self.backend_ = backend
        logger.info("wacsf: %s structures on backend %r",
                    n_hint if n_hint is not None else "a stream of", backend)
        kernel = _backends.get_kernel(backend, dtype=self.dtype)
        pair_scale = settings.pair_scale
        # the Numba kernels write float32 themselves; the others compute in float64
        outs, sites = _Rows(n_hint if self.absorber_element is None else None, n_features,
                            self.dtype, native=backend == "numba"), []
        chunks = iter_chunks(X, self.chunk_size, self.absorber_element)

        def finished(done):
            out, packed_sites, n_chunk = done
            _check_finite(out, packed_sites)
            outs.done(out)
            sites.append(packed_sites)
            bar.update(n_chunk)

        with _backends.num_threads(backend, self.n_jobs), _Progress(
            self.progress, n_hint, self.chunk_size
        ) as bar, _Threads(backend, kernel, {"rjk_cutoff": self.rjk_cutoff}) as threads:
            for chunk in chunks:
                # with threads, this chunk is packed while the last one's kernel runs
                packed = pack(
                    chunk, weights=self.weights, absorber=self.absorber,
                    absorber_element=self.absorber_element, r_cut=float(self.r_cut),
                    on_missing_absorber=self.on_missing_absorber,
                )
                out = outs.next(packed.n_structures)
                args = None
                if packed.n_structures:
                    args = (
                        packed.positions, packed.weights, packed.offsets, packed.absorbers,
                        float(self.r_cut), grids["g2_eta"], grids["g2_mu"], grids["g4_eta"],
                        grids["g4_mu"], grids["lambdas"], grids["zetas"], pair_scale, out,
                    )
                for done in threads.submit(args, (out, packed.sites, len(chunk))):
                    finished(done)
            for done in threads.drain():
                finished(done)
        self.sites_ = sites[0] if len(sites) == 1 else np.concatenate(sites)
        if not len(self.sites_):
            element = self.absorber_element
            symbol = chemical_symbols[element] if isinstance(element, Integral) else element
            raise ValueError(f"no structure has a {symbol} atom: nothing to featurise")
        return outs.result()

    def get_feature_names_out(self, input_features=None):
        """Feature names carrying their parameters.

        ``g1``, ``g2_eta={eta}_mu={mu}``, ``g4_eta={eta}_mu={mu}_lambda={lambda}_zeta={zeta}``,
        available before ``fit``.

        Parameters
        ----------
        input_features : ignored
            Structures have no input feature names.

        Returns
        -------
        names : ndarray of str objects
        """
        return feature_names(self._grids())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = []
        return tags


#: ``transform`` of at most this many structures, on one thread (or fewer than two
#: per thread), skips the chunking machinery: :func:`_transform_small`.
SMALL_INPUT = 16


class _Settings:
    """What ``transform`` needs that does not depend on ``X``, for one set of parameters.

    ``matches(estimator)`` says whether the estimator's parameters are still
    those it was made from: the same objects (``is``), and, for the mutable
    ones (lists, arrays, dicts), equal to a copy taken then -- so that
    ``set_params``, assigning an attribute or editing a list in place all
    revalidate.  A callable ``weights`` is taken to be a pure function.
    """

    def __init__(self, est, grids):
        names = est._get_param_names()
        self.names = tuple(names)
        self.values = tuple(getattr(est, name) for name in names)
        self.mutable = tuple(
            (name, copy.deepcopy(value)) for name, value in zip(names, self.values)
            if isinstance(value, (list, dict, np.ndarray, set)) or (
                isinstance(value, Mapping) and not isinstance(value, (str, bytes)))
        )
        self.grids = grids
        self.n_features = 1 + grids["g2_eta"].size + grids["g4_eta"].size * (
            grids["lambdas"].size * grids["zetas"].size
        )
        self.pair_scale = 2.0 if est.g4_pairs == "ordered" else 1.0
        from ._cpu import _rjk_limit, _serial_kernel, _serial_kernel32

        self.dtype = np.dtype(est.dtype)
        self.serial_kernel = _serial_kernel32 if self.dtype == np.float32 else _serial_kernel
        r_cut = float(est.r_cut)
        #: the serial kernel's arguments after (positions, weights, offsets, absorbers)
        self.kernel_params = (
            r_cut, _rjk_limit(r_cut, est.rjk_cutoff), grids["g2_eta"], grids["g2_mu"],
            grids["g4_eta"], grids["g4_mu"], grids["lambdas"], grids["zetas"], self.pair_scale,
        )
        self.table = _weights_table(est.weights)
        absorber = est.absorber
        self.small_ok = (
            est.backend in ("auto", "numba") and est.absorber_element is None
            and self.table is not None
            and ((isinstance(absorber, str) and absorber == "auto")
                 or (isinstance(absorber, Integral) and not isinstance(absorber, bool)))
        )
        self.absorber = absorber if self.small_ok and not isinstance(absorber, str) else None

    def matches(self, est):
        """Whether ``est``'s parameters are still the ones these settings were made from."""
        d = est.__dict__
        for name, value in zip(self.names, self.values):
            if d.get(name, _MISSING) is not value:
                return False
        for name, copied in self.mutable:
            if not _equal(d[name], copied):
                return False
        return True


_MISSING = object()


def _equal(a, b):
    try:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                    and a.dtype == b.dtype and a.shape == b.shape
                    and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")))
        return type(a) is type(b) and bool(a == b)
    except Exception:  # e.g. a list holding arrays: just revalidate
        return False


def _weights_table(weights):
    """Weight by atomic number (index Z, 0..118; NaN where none), as packing computes it,
    or None when ``weights`` is not valid (packing then raises its error)."""
    from ._structures import _weight_table

    if isinstance(weights, str):
        if weights != "Z":
            return None
        return np.arange(119, dtype=np.float64)
    try:
        return _weight_table(weights)
    except Exception:
        return None


@numba.njit(cache=True)
def _small_checks(positions, numbers, table, offsets, absorbers, min_distance, weights):
    """Fill ``weights`` and return True when nothing is wrong with these structures:
    finite coordinates, 1 <= Z <= 118 with a finite weight, no atom within
    ``min_distance`` of its absorber.  False: the caller packs them the normal way,
    which names the problem."""
    for a in range(positions.shape[0]):
        for c in range(3):
            if not math.isfinite(positions[a, c]):
                return False
        z = numbers[a]
        if z < 1 or z > 118:
            return False
        w = table[z]
        if not math.isfinite(w):
            return False
        weights[a] = w
    limits = np.full(offsets.size - 1, min_distance)
    return _first_near_absorber(positions, offsets, absorbers, limits) < 0


def _transform_small(est, X, settings):
    """``transform`` of a few molecules without the chunking machinery, or None.

    For a list or tuple of at most :data:`SMALL_INPUT` non-periodic
    ``ase.Atoms`` that one thread featurises anyway (one thread, or fewer
    than two structures per thread): packs them directly, checks them in one
    compiled pass, and runs the same serial kernel the normal path runs, so
    every number is the normal path's, bit for bit.  Any other input, and
    any input with a problem, returns None: the normal path then runs (and
    names the problem).
    """
    if type(X) is not list and type(X) is not tuple:
        return None
    n = len(X)
    if n == 0 or n > SMALL_INPUT:
        return None
    if n > 1:
        threads = _threads_for(est.n_jobs)
        if threads > 1 and n >= 2 * threads:
            return None
    fixed = settings.absorber
    positions, numbers, offsets, local = [], [], [0], []
    total = 0
    for atoms in X:
        if type(atoms) is not Atoms or atoms.pbc.any():
            return None
        arrays = atoms.arrays
        num = arrays["numbers"]
        count = len(num)
        if fixed is None:  # absorber="auto"
            i = atoms.info.get("absorber", 0)
            if type(i) is not int and not isinstance(i, np.integer):
                return None
            i = int(i)
        else:
            i = fixed
        if i < 0:
            i += count
        if not 0 <= i < count:
            return None
        positions.append(arrays["positions"])
        numbers.append(num)
        local.append(i)
        total += count
        offsets.append(total)
    if n == 1:
        positions, numbers = positions[0], numbers[0]
    else:
        positions, numbers = np.concatenate(positions), np.concatenate(numbers)
    if (positions.dtype != np.float64 or not positions.flags.c_contiguous
            or numbers.dtype != np.int64):
        return None
    sites = np.array(list(enumerate(local)), dtype=np.int64)
    offsets = np.array(offsets, dtype=np.int64)
    absorbers = offsets[:-1] + sites[:, 1]
    weights = np.empty(total)
    if not _small_checks(positions, numbers, settings.table, offsets, absorbers,
                         MIN_DISTANCE, weights):
        return None
    est.backend_ = "numba"
    logger.info("wacsf: %s structures on backend %r", n, "numba")
    out = np.empty((n, settings.n_features), dtype=settings.dtype)
    settings.serial_kernel(positions, weights, offsets, absorbers, *settings.kernel_params,
                           out, 1)
    if not _all_finite(out):
        _check_finite(out, sites)
    est.sites_ = sites
    return out


@numba.njit(cache=True)
def _all_finite(out):
    """Whether every element of the 2-d ``out`` is finite."""
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            if not math.isfinite(out[r, c]):
                return False
    return True


def _threads_for(n_jobs):
    """The Numba thread count ``transform`` runs on for ``n_jobs`` (see ``_backends``)."""
    if n_jobs is None or n_jobs == -1:
        return numba.get_num_threads()
    return min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)


def _check_finite(out, sites):
    if not np.all(np.isfinite(out)):
        row = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        s, i = (int(v) for v in sites[row])
        raise FloatingPointError(
            f"structure {s} (absorber atom {i}): wACSF are not finite; check the weights "
            f"and parameters"
        )


class _Threads:
    """The Numba kernel on ``n_jobs`` threads, overlapping the packing of the next chunk.

    Packing is Python and NumPy work that holds the GIL; the kernel releases
    it.  With more than one thread, each chunk is cut into
    ``RANGES_PER_THREAD`` ranges of structures per thread, of about equal
    cost, which a pool of that many Python threads takes in turn, each
    calling the serial, GIL-free kernel
    (:func:`wacsf._cpu.wacsf_features_range`) on its range, while the calling
    thread packs the next chunk.  A thread that shares its core with the
    packing simply takes fewer ranges (Numba's own ``prange`` would split
    the work statically, and wait for the slowest thread).  Each structure's
    numbers are those of the one-thread kernel, bit for bit.  A chunk's ranges
    are queued before the last chunk is waited for (memory holds at most two
    packed chunks: the one in flight and the next); results come back in
    input order.  On one thread, and for a chunk too
    small to share, the serial kernel runs on the calling thread; the other
    backends run their kernel in turn.
    """

    RANGES_PER_THREAD = 8

    def __init__(self, backend, kernel, kwargs):
        self.kernel, self.n_threads, self.numba = kernel, 1, backend == "numba"
        self.kwargs = kwargs  # keyword arguments of every kernel call
        if self.numba:
            self.n_threads = numba.get_num_threads()  # n_jobs, set by the caller
        self.pool, self.pending = None, None

    def __enter__(self):
        return self

    def submit(self, args, result):
        """Start the kernel on ``args`` (``None``: nothing to compute); return the results
        complete so far, in order.

        The new chunk's ranges are queued before the last chunk is waited for, so
        the threads go straight from the end of one chunk to the next.
        """
        previous, self.pending = self.pending, None
        futures = self._start(args)
        if futures is not None:
            self.pending = (futures, result)  # cancelled by __exit__ if waiting below fails
        finished = list(_wait(previous))
        if futures is None:
            finished.append(result)
        return finished

    def _start(self, args):
        """Run ``args`` here (None returned) or queue its ranges (their futures)."""
        if args is None:
            return None
        if not self.numba:
            self.kernel(*args, **self.kwargs)
            return None
        from . import _cpu

        n_structures = len(args[3])
        if self.n_threads < 2 or n_structures < 2 * self.n_threads:
            # the same serial kernel on this thread: one compiled kernel for every case
            _cpu.wacsf_features_range(*args, 0, n_structures, **self.kwargs)
            return None
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="wacsf")
        bounds = _cpu.cost_ranges(args[2], self.RANGES_PER_THREAD * self.n_threads)
        return [self.pool.submit(_cpu.wacsf_features_range, *args, bounds[k], bounds[k + 1],
                                 **self.kwargs)
                for k in range(len(bounds) - 1)]

    def drain(self):
        """The result of the chunk in flight, once its kernel has finished (raises its
        error)."""
        pending, self.pending = self.pending, None
        return _wait(pending)

    def __exit__(self, *exc):
        # on an error the ranges not started are dropped and the running ones waited
        # for (a thread cannot be stopped)
        if self.pending is not None:
            for future in self.pending[0]:
                future.cancel()
            self.pending = None
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _wait(pending):
    """The result of a ``(futures, result)`` pair once every future is done (raises the
    first error); nothing for ``None``."""
    if pending is not None:
        futures, result = pending
        for future in futures:
            future.result()
        yield result


class _Rows:
    """The output, filled chunk by chunk.

    When the number of rows is known up front (a sized input, one row per
    structure) the kernel writes straight into one preallocated array, so
    there is no copy at the end and the first touch of its pages happens in
    the kernel's threads; otherwise (a stream, one row per site, a float32
    output of a backend that computes in float64) the chunks are joined at
    the end.  ``native``: the kernel writes ``dtype`` itself (the Numba
    kernels, float32 or float64); else it writes float64, converted chunk by
    chunk.  Should a sized input give more rows than items after all, the
    rows so far become the first chunk.
    """

    def __init__(self, n_rows, n_features, dtype, native=False):
        self.n_features, self.dtype = n_features, np.dtype(dtype)
        self.kernel_dtype = self.dtype if native else np.dtype(np.float64)
        self.array = None
        if n_rows is not None and self.dtype == self.kernel_dtype:
            self.array = np.empty((n_rows, n_features), dtype=self.dtype)
        self.filled, self.parts = 0, []

    def next(self, n):
        """A (n, n_features) array of ``kernel_dtype`` for the kernel to fill: the next n
        rows of the output, in input order (the chunk before may still be being filled)."""
        if self.array is not None and self.filled + n > len(self.array):
            self.parts, self.array = [self.array[: self.filled]], None  # more rows than X
        if self.array is not None:
            self.filled += n
            return self.array[self.filled - n: self.filled]
        out = np.empty((n, self.n_features), dtype=self.kernel_dtype)
        self.parts.append(out)
        return out

    def done(self, out):
        """``out`` (from :meth:`next`) is filled: a separate chunk is converted to
        ``dtype`` now, so that float64 chunks do not pile up."""
        if self.dtype == self.kernel_dtype:
            return
        for i in range(len(self.parts) - 1, -1, -1):
            if self.parts[i] is out:
                self.parts[i] = out.astype(self.dtype)
                return

    def result(self):
        """The output, every chunk done."""
        if self.array is not None:
            return self.array if self.filled == len(self.array) else self.array[: self.filled]
        if not self.parts:
            return np.empty((0, self.n_features), dtype=self.dtype)
        if len(self.parts) == 1:
            return self.parts[0].astype(self.dtype, copy=False)
        return np.concatenate(self.parts).astype(self.dtype, copy=False)


class _Progress:
    """A tqdm bar in structures/s: always (True), never (False), or (None) once a
    second chunk starts, i.e. only on inputs longer than one chunk."""

    def __init__(self, show, total, chunk_size):
        self.show, self.total, self.chunk_size = show, total, chunk_size
        self.bar, self.done = None, 0

    def __enter__(self):
        if self.show:
            self._open()
        return self

    def _open(self):
        self.bar = tqdm(total=self.total, initial=self.done, unit="structure", desc="wACSF")

    def update(self, n):
        if self.bar is None and self.show is None and self.done:
            self._open()
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _check_site_targets(featuriser, X, y):
    """ValueError unless ``y`` has one row per site row of a fitted ``featuriser`` (rows
    and targets matched by structure, never shifted onto other sites)."""
    if featuriser.absorber_element is None:
        return
    sites = getattr(featuriser, "sites_", None)
    if sites is None:
        return
    owner = np.asarray(sites)[:, 0]
    n_rows, n_y = len(owner), len(y)
    n_structures = len(X) if isinstance(X, Sized) and not isinstance(
        X, (str, bytes, os.PathLike)) else None
    one_each = np.array_equal(owner, np.arange(n_rows))
    if one_each and n_structures in (None, n_rows) and n_y == n_rows:
        return  # one row per structure, in order
    skipping = featuriser.on_missing_absorber == "skip"
    if n_structures is None and not skipping and not one_each:
        n_structures = int(owner.max()) + 1  # every structure has a site
    if n_y == n_rows and n_structures is not None and n_structures != n_rows:
        return  # one spectrum per site row, unmistakably
    element = featuriser.absorber_element
    symbol = chemical_symbols[element] if isinstance(element, Integral) else str(element)
    counts = np.bincount(owner, minlength=n_structures or 0)
    notes = []
    skipped, several = np.flatnonzero(counts == 0), np.flatnonzero(counts > 1)
    if skipped.size:
        notes.append(f"{skipped.size} without {symbol} skipped, e.g. structure {skipped[0]} "
                     f"has no {symbol}")
    if several.size:
        notes.append(f"{several.size} with several {symbol} sites, e.g. structure "
                     f"{several[0]} has {counts[several[0]]}")
    how = f" ({'; '.join(notes)})" if notes else ""
    fix = (f"for one spectrum per structure, leave out the structures without {symbol} and "
           "use SiteAveragedRegressor where a structure has several sites; for one spectrum "
           "per site, give one row of y per site row, in the order of the wacsf step's sites_")
    if n_y == n_rows:
        raise ValueError(
            f"y has {n_y} rows, as many as X has structures and as the {symbol} sites make "
            f"rows, but structures and site rows do not correspond{how}, so the spectra "
            f"cannot be matched to the sites (one spectrum per structure or per site row?): "
            f"leave out the structures without {symbol}, then give one spectrum per site row "
            "(in the order of the wacsf step's sites_), or one spectrum per structure to "
            "SiteAveragedRegressor"
        )
    if n_structures is not None and n_y == n_structures:
        raise ValueError(
            f"y has one spectrum per structure ({n_y}), but the wacsf step "
            f"(absorber_element={element!r}) makes one row per {symbol} site, {n_rows} "
            f"rows{how}: {fix}"
        )
    of = f" from {n_structures} structures" if n_structures is not None else ""
    raise ValueError(
        f"y has {n_y} rows, but the wacsf step (absorber_element={element!r}) made "
        f"{n_rows} site rows{of}{how}: give one spectrum per site row, in the order of the "
        "wacsf step's sites_"
    )
