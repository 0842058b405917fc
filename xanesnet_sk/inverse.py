"""The inverse model: spectra in, structure descriptors out.

:func:`make_inverse_pipeline` turns XANES spectra into wACSF features or into
any structural targets the user gives, with the same net and standardisation
as the forward pipeline.  :class:`FirstShell` computes two targets a chemist
reads directly from a structure: the mean absorber-neighbour distance of the
first coordination shell and the coordination number.
"""

from numbers import Integral, Real

import numpy as np
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from wacsf import read_structures

from .pipeline import check_n_ensemble, model_step

__all__ = [
    "make_inverse_pipeline", "InversePipeline", "FirstShell", "direction_of",
]


def make_inverse_pipeline(
    preprocess=None,
    random_state=None,
    *,
    standardize_targets=True,
    n_ensemble=1,
    calibration="holdout",
    n_jobs=None,
    **model_params,
):
    """Build the inverse pipeline: spectra in, structure descriptors out.

    Steps, by name: ``"preprocess"`` (only when given), ``"scale"``
    (``StandardScaler`` on the spectra, per energy point) and ``"model"``
    (the net, inside a ``TransformedTargetRegressor`` that standardises
    every target column when ``standardize_targets=True``, inside a
    :class:`~xanesnet_sk.ensemble.DeepEnsembleRegressor` when
    ``n_ensemble`` > 1), exactly as in
    :func:`~xanesnet_sk.pipeline.make_xanesnet_pipeline`.

    Fit it with ``fit(spectra, targets)``: ``spectra`` an array of shape
    (n_samples, n_energies) on one energy grid, ``targets`` e.g. the wACSF
    features of the same structures (``WACSFTransformer().fit_transform``)
    or the output of :class:`FirstShell`.

    Parameters
    ----------
    preprocess : transformer, list of (name, transformer) or None, default=None
        Spectrum transformers run first, e.g.
        ``EdgeStepNormaliser(energies)`` or
        ``[("resample", Resampler(energies, grid)), ("norm", EdgeStepNormaliser(grid))]``
        (from :mod:`xanesnet_sk.spectra`); ``None`` uses the spectra as they
        are.
    random_state : int, RandomState instance or None, default=None
        Seed of the net (or of the ensemble's seeds).
    standardize_targets : bool, default=True
        Standardise each target column before training (predictions come
        back in the targets' units).
    n_ensemble : int, default=1
        Number of nets; > 1 gives ``predict(X, return_std=True)``.
    calibration : {"holdout"} or None, default="holdout"
        Calibration of the ensemble's spread (``n_ensemble`` > 1).
    n_jobs : int or None, default=None
        Ensemble members trained in parallel.
    **model_params
        Parameters of :class:`~xanesnet_sk.model.XANESNetRegressor` (its
        defaults reach a median R^2 of 0.89 on the V set, see the user
        guide's inverse-model page).

    Returns
    -------
    pipeline : InversePipeline
        The unfitted pipeline (a ``sklearn.pipeline.Pipeline`` whose class
        tells a forward model from an inverse one, see :func:`direction_of`).

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.inverse import make_inverse_pipeline
    >>> rng = np.random.default_rng(0)
    >>> spectra, features = rng.normal(size=(40, 30)), rng.normal(size=(40, 4))
    >>> inv = make_inverse_pipeline(random_state=0, max_epochs=2, hidden_sizes=(8,))
    >>> inv.fit(spectra, features).predict(spectra[:3]).shape
    (3, 4)
    >>> [name for name, _ in inv.steps]
    ['scale', 'model']
    """
    check_n_ensemble(n_ensemble)
    steps = []
    if preprocess is not None:
        if isinstance(preprocess, (list, tuple)):
            steps.append(("preprocess", Pipeline(list(preprocess))))
        else:
            steps.append(("preprocess", preprocess))
    steps.append(("scale", StandardScaler()))
    steps.append(("model", model_step(random_state, standardize_targets, n_ensemble,
                                      calibration=calibration, n_jobs=n_jobs, **model_params)))
    return InversePipeline(steps)


class InversePipeline(Pipeline):
    """A ``Pipeline`` from spectra to structure descriptors.

    Exactly ``sklearn.pipeline.Pipeline``; the class only records the
    direction, so that code that loads a model (the command line above all)
    can refuse to use an inverse model as a forward one and the reverse.
    Built by :func:`make_inverse_pipeline`.
    """


def direction_of(pipeline):
    """``"inverse"`` for an :class:`InversePipeline`, else ``"forward"``.

    Parameters
    ----------
    pipeline : estimator

    Returns
    -------
    str

    Examples
    --------
    >>> from xanesnet_sk import make_xanesnet_pipeline
    >>> from xanesnet_sk.inverse import direction_of, make_inverse_pipeline
    >>> direction_of(make_inverse_pipeline()), direction_of(make_xanesnet_pipeline())
    ('inverse', 'forward')
    """
    return "inverse" if isinstance(pipeline, InversePipeline) else "forward"


#: Distances within this many Angstrom of :class:`FirstShell`'s cutoff count as at it
#: (inside): far below any physical meaning, far above the rounding of positions.
AT_CUTOFF = 1e-9


class FirstShell(TransformerMixin, BaseEstimator):
    """First-shell distance and coordination number of the absorbing atom.

    For each structure, the neighbours of the absorber are the atoms within
    a cutoff of it (periodic images included for periodic structures).  The
    two output columns are

    ``first_shell_distance``
        the mean absorber-neighbour distance over those neighbours (in
        Angstrom); with no neighbour inside the cutoff, the distance of the
        nearest atom (so the column is never undefined);
    ``coordination_number``
        how many neighbours there are.

    Parameters
    ----------
    cutoff : float or "covalent", default="covalent"
        A distance in Angstrom for every pair, or ``"covalent"``: atom j is
        a neighbour of absorber i when ``d_ij <= (1 + tolerance) * (r_i +
        r_j)``, with ``r`` the covalent radii of ``ase.data`` (Cordero et al.
        2008), so that the shell follows the elements (Fe-O and Fe-C bonds of
        2.0 A and S-H of 1.35 A are all counted).
        A neighbour exactly at the cutoff counts (``d <= cutoff``, as the
        wACSF cutoff function is defined for ``r <= r_c``); a distance within
        ``AT_CUTOFF`` (1e-9 A) of the cutoff counts as at it, so that the
        rounding of positions never decides.
    tolerance : float, default=0.25
        Relative slack on the covalent bond length (``cutoff="covalent"``).
    absorber : "auto" or int, default="auto"
        Index of the absorbing atom: ``"auto"`` uses
        ``atoms.info["absorber"]`` (set by the project's readers), else 0.
    absorber_element : str or None, default=None
        If given (e.g. ``"Fe"``), the absorber is the first atom of this
        element in each structure, whatever ``absorber`` says; a structure
        without one is an error.

    Attributes
    ----------
    n_features_in_ : int
        Always 1 (one structure per sample).

    Examples
    --------
    >>> from ase import Atoms
    >>> from xanesnet_sk.inverse import FirstShell
    >>> water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    >>> FirstShell().fit_transform([water]).round(2)
    array([[0.96, 2.  ]])
    >>> FirstShell().get_feature_names_out().tolist()
    ['first_shell_distance', 'coordination_number']
    """

    _parameter_constraints = {
        "cutoff": [StrOptions({"covalent"}), Interval(Real, 0, None, closed="neither")],
        "tolerance": [Interval(Real, 0, None, closed="left")],
        "absorber": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
        "absorber_element": [str, None],
    }

    def __init__(self, cutoff="covalent", tolerance=0.25, absorber="auto",
                 absorber_element=None):
        self.cutoff = cutoff
        self.tolerance = tolerance
        self.absorber = absorber
        self.absorber_element = absorber_element

    def fit(self, X, y=None):
        """Check the parameters (nothing is learnt).

        Parameters
        ----------
        X : list of ase.Atoms
            Structures.
        y : None
            Ignored.

        Returns
        -------
        self : FirstShell
        """
        self._validate_params()
        self.n_features_in_ = 1
        return self

    def transform(self, X):
        """The two first-shell columns of every structure.

        Parameters
        ----------
        X : list of ase.Atoms or paths
            Structures (paths are read by :func:`wacsf.read_structures`).

        Returns
        -------
        ndarray of shape (n_structures, 2)
            ``first_shell_distance`` (Angstrom) and ``coordination_number``.
        """
        check_is_fitted(self, "n_features_in_")

        out = np.empty((len(X), 2))
        for k, atoms in enumerate(X):
            if not hasattr(atoms, "get_positions"):
                atoms = read_structures(atoms)
            out[k] = self._shell(atoms, k)
        return out

    def _absorber_index(self, atoms, k):
        if self.absorber_element is not None:
            hits = np.flatnonzero(np.asarray(atoms.get_chemical_symbols()) == self.absorber_element)
            if not len(hits):
                raise ValueError(f"structure {k} ({atoms.get_chemical_formula()}) has no "
                                 f"{self.absorber_element} atom (absorber_element)")
            return int(hits[0])
        index = atoms.info.get("absorber", 0) if self.absorber == "auto" else self.absorber
        if not isinstance(index, (Integral, np.integer)) or not 0 <= index < len(atoms):
            raise ValueError(
                f"structure {k}: absorber index {index!r} is not an atom of its {len(atoms)}"
            )
        return int(index)

    def _shell(self, atoms, k):
        if len(atoms) < 2 and not any(atoms.pbc):
            raise ValueError(f"structure {k}: a single atom has no neighbours")
        i = self._absorber_index(atoms, k)
        numbers = atoms.get_atomic_numbers()
        if self.cutoff == "covalent":
            radii = covalent_radii[numbers]
            reach = (1 + self.tolerance) * (radii[i] + radii.max())
        else:
            reach = float(self.cutoff)
        # grow the search sphere until it holds the nearest neighbour; ase's search keeps
        # d < reach only, so it reaches a little beyond the cutoff
        while True:
            first, second, dist = neighbor_list("ijd", atoms, reach + 2 * AT_CUTOFF)
            mine = first == i
            if mine.any():
                break
            reach *= 2.0
            if reach > 1e3:
                raise ValueError(f"structure {k}: no atom within 1000 A of the absorber")
        js, ds = second[mine], dist[mine]
        if self.cutoff == "covalent":
            limit = (1 + self.tolerance) * (radii[i] + covalent_radii[numbers[js]])
        else:
            limit = float(self.cutoff)
        inside = ds <= limit + AT_CUTOFF
        if not inside.any():
            return ds.min(), 0.0
        return ds[inside].mean(), float(inside.sum())

    def get_feature_names_out(self, input_features=None):
        """``["first_shell_distance", "coordination_number"]``.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        ndarray of str
        """
        return np.array(["first_shell_distance", "coordination_number"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
