"""The XANESNET workflow as one scikit-learn ``Pipeline``.

structures -> wACSF -> variance filter -> correlation filter -> standard
scaling -> (target standardisation around) the net.
"""

import os
from numbers import Integral, Real

from sklearn.compose import TransformedTargetRegressor
from sklearn.feature_selection import SelectPercentile, VarianceThreshold
from sklearn.pipeline import Pipeline, _final_estimator_has
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._predict_path import direct_path_allowed, last_step_fitted, predict_step, transform_step
from .ensemble import DeepEnsembleRegressor
from .model import XANESNetRegressor
from .selection import CorrelationFilter, feature_variance

# Imports inside functions: wacsf only when the pipeline featurises.

__all__ = ["make_xanesnet_pipeline", "XANESNetPipeline"]


def make_xanesnet_pipeline(
    featurise=True,
    random_state=None,
    variance_drop=0.0,
    correlation_threshold=None,
    wacsf_params=None,
    *,
    standardize_targets=True,
    memory=None,
    n_ensemble=1,
    bootstrap=False,
    calibration="holdout",
    n_jobs=None,
    **model_params,
):
    """Build the XANESNET pipeline: structures (or features) in, spectra out.

    Steps, by name (the prefixes of ``set_params`` and ``GridSearchCV``
    parameter grids):

    ``"wacsf"``
        :class:`wacsf.WACSFTransformer` (only with ``featurise=True``), e.g.
        ``wacsf__n_g2``, ``wacsf__n_g4``, ``wacsf__r_cut``, ``wacsf__zetas``.
    ``"variance"``
        ``SelectPercentile(feature_variance, percentile=100 * (1 -
        variance_drop))``: drops the lowest-variance share of features
        (``variance__percentile``); with ``variance_drop=None``,
        ``VarianceThreshold()`` (drops constant features only).
    ``"correlation"``
        :class:`~xanesnet_sk.selection.CorrelationFilter`
        (``correlation__threshold``; ``None`` keeps all).
    ``"scale"``
        ``StandardScaler()`` on the features.
    ``"model"``
        With ``standardize_targets=True`` (default), a
        ``TransformedTargetRegressor(regressor=XANESNetRegressor(...),
        transformer=StandardScaler())``: the net learns spectra standardised
        per energy point and predictions come back in the original units.
        Net parameters are then ``model__regressor__<name>``, e.g.
        ``model__regressor__lr``, ``model__regressor__max_epochs``,
        ``model__regressor__hidden_sizes``, ``model__regressor__dropout``,
        ``model__regressor__batch_norm``, ``model__regressor__batch_size``.
        With ``standardize_targets=False`` the step is the net itself and the
        names are ``model__<name>``.  With ``n_ensemble`` > 1 the step is a
        :class:`~xanesnet_sk.ensemble.DeepEnsembleRegressor` around the
        above: ``model__n_ensemble``, ``model__calibration``, and the net's
        parameters as ``model__estimator__regressor__<name>``.

    Parameters
    ----------
    featurise : bool, default=True
        Start with a ``WACSFTransformer``, so that ``fit`` and ``predict``
        take a list of ``ase.Atoms`` (or structure files).  ``False`` drops
        that step: the pipeline takes precomputed features, e.g. the ``x`` of
        ``tmqm_k_edge_v.npz``.
    random_state : int, RandomState instance or None, default=None
        Seed of the net (weights, shuffling, dropout); see
        :class:`~xanesnet_sk.model.XANESNetRegressor`.
    variance_drop : float in [0, 1) or None, default=0.0
        Share of features with the lowest variance to drop; the step is a
        ``SelectPercentile`` whose ``variance__percentile`` can be searched.
        The paper drops 25 % (``variance_drop=0.25``); on the V set (250 held
        out, ``random_state=0``) that raised the median Delta mu from 2.58 %
        to 2.97 %, because the lowest-variance features include the short
        G2 (mu < 1.2 A) that see hydrides, so the default keeps every feature.
        ``None`` uses ``VarianceThreshold()`` (drops constant features only).
    correlation_threshold : float in [0, 1] or None, default=None
        Drop features whose ``|r|`` with an earlier kept feature exceeds this;
        ``None`` disables the filter.
    wacsf_params : dict or None, default=None
        Parameters of ``WACSFTransformer`` (ignored with ``featurise=False``);
        ``None`` uses the paper's 97 features.
    standardize_targets : bool, default=True
        Standardise every energy point of the spectra before training (with
        the net's defaults: median Delta mu 2.6 % on the V K-edge set vs
        about 3.0 % without this change alone, see Notes of
        :class:`~xanesnet_sk.model.XANESNetRegressor`).
    memory : str, joblib.Memory or None, default=None
        Passed to ``Pipeline``: caches the fitted transformers (the wACSF step
        above all) across fits with the same featurisation, e.g. a grid
        search over net parameters only.
    n_ensemble : int, default=1
        Number of nets.  1 is one net; N > 1 trains N nets with seeds drawn
        from ``random_state`` (a deep ensemble): ``predict(X)`` is their mean
        and ``predict(X, return_std=True)`` returns ``(mean, std)`` with a
        calibrated standard deviation in the spectra's own units, see
        :class:`~xanesnet_sk.ensemble.DeepEnsembleRegressor`.
    bootstrap : bool, default=False
        Train each ensemble member on a bootstrap resample (``n_ensemble`` > 1).
    calibration : {"holdout"} or None, default="holdout"
        How the ensemble's spread is calibrated (``n_ensemble`` > 1):
        ``"holdout"`` holds out 10 % of the training data and fits a scale
        factor on it so that 95 % of held-out points fall within ±2 std;
        ``None`` trains on everything and returns the raw spread.
    n_jobs : int or None, default=None
        Ensemble members trained in parallel (joblib processes); ``None``
        uses as many processes as members, at most ``os.cpu_count()`` (on
        two cores, five nets on the V set then fit in about 2 minutes
        instead of 4); 1 trains them one at a time.  Members give the same
        results for any ``n_jobs`` when ``n_threads`` is set.
    **model_params
        Parameters of :class:`~xanesnet_sk.model.XANESNetRegressor`, e.g.
        ``max_epochs=512``, ``lr=1e-4`` or ``**XANESNetRegressor.paper_params()``.

    Returns
    -------
    pipeline : XANESNetPipeline
        The unfitted pipeline (a ``sklearn.pipeline.Pipeline`` that checks,
        with ``wacsf_params={"absorber_element": ...}``, that ``y`` has one
        spectrum per site row).

    Examples
    --------
    The paper's recipe on precomputed features:

    >>> from xanesnet_sk import XANESNetRegressor, make_xanesnet_pipeline
    >>> paper = make_xanesnet_pipeline(
    ...     featurise=False, standardize_targets=False, **XANESNetRegressor.paper_params())
    >>> [name for name, _ in paper.steps]
    ['variance', 'correlation', 'scale', 'model']

    Five nets with calibrated error bars:

    >>> ensemble = make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=5)
    >>> type(ensemble[-1]).__name__, ensemble[-1].n_ensemble
    ('DeepEnsembleRegressor', 5)

    ``ensemble.fit(x, y).predict(x_new, return_std=True)`` then gives
    ``(mean, std)``.

    A search over featurisation and net together, cross-validated as in the
    paper (slow; ``structures`` a list of ``ase.Atoms``, ``spectra`` an
    array)::

        from sklearn.model_selection import GridSearchCV, RepeatedKFold
        from xanesnet_sk.metrics import make_delta_mu_scorer

        search = GridSearchCV(
            make_xanesnet_pipeline(random_state=0),
            {"wacsf__n_g2": [16, 32], "model__regressor__dropout": [0.1, 0.25]},
            cv=RepeatedKFold(n_splits=5, n_repeats=5, random_state=0),
            scoring=make_delta_mu_scorer(),
            n_jobs=2,
        ).fit(structures, spectra)
    """
    if variance_drop is not None and (
        not isinstance(variance_drop, Real) or not 0 <= variance_drop < 1
    ):
        raise ValueError(f"variance_drop must be in [0, 1) or None, got {variance_drop!r}")
    check_n_ensemble(n_ensemble)
    steps = []
    if featurise:
        from wacsf import WACSFTransformer

        steps.append(("wacsf", WACSFTransformer(**(wacsf_params or {}))))
    if variance_drop is None:
        variance = VarianceThreshold()
    else:
        variance = SelectPercentile(feature_variance, percentile=100.0 * (1.0 - variance_drop))
    steps += [
        ("variance", variance),
        ("correlation", CorrelationFilter(threshold=correlation_threshold)),
        ("scale", StandardScaler()),
    ]
    if n_ensemble > 1 and n_jobs is None:
        n_jobs = min(n_ensemble, os.cpu_count() or 1)
    model = model_step(random_state, standardize_targets, n_ensemble, bootstrap=bootstrap,
                       calibration=calibration, n_jobs=n_jobs, **model_params)
    steps.append(("model", model))
    return XANESNetPipeline(steps, memory=memory)


class XANESNetPipeline(Pipeline):
    """The ``Pipeline`` that :func:`make_xanesnet_pipeline` builds.

    A ``sklearn.pipeline.Pipeline``; its own class so that a model file
    says which function built it (the safe format trusts it).  Targets are
    matched to the rows of a wACSF step with ``absorber_element`` by
    :meth:`wacsf.WACSFTransformer.fit_transform` itself, in this pipeline as in
    any other.  :meth:`predict` returns exactly what ``Pipeline.predict``
    returns, faster on small inputs.
    """

    @available_if(_final_estimator_has("predict"))
    def predict(self, X, **params):
        """Transform X through the steps and predict with the last one.

        Exactly ``Pipeline.predict``, the same numbers bit for bit and the
        same errors, without scikit-learn's per-step input checks where they
        cannot fire: the variance, correlation and scaling steps and the
        target scaling compute their output directly from a plain finite
        float64 array of the width they were fitted on, and the net predicts
        without skorch's per-batch machinery.  One structure through the
        default pipeline then takes a fraction of a millisecond instead of
        about two; every other input, step or setting takes the usual path.

        Parameters
        ----------
        X : iterable
            Structures (or features with ``featurise=False``), as for ``fit``.
        **params : dict
            Passed to the last step's ``predict`` (see ``Pipeline.predict``).

        Returns
        -------
        y_pred : ndarray
            The last step's prediction.
        """
        if not direct_path_allowed(params):
            return super().predict(X, **params)
        if not last_step_fitted(self):
            check_is_fitted(self)
        Xt = X
        for _, _, transform in self._iter(with_final=False):
            Xt = transform_step(transform, Xt)
        return predict_step(self.steps[-1][1], Xt)


def check_n_ensemble(n_ensemble):
    """ValueError unless ``n_ensemble`` is an integer >= 1 (a bool is not)."""
    if isinstance(n_ensemble, bool) or not isinstance(n_ensemble, Integral) or n_ensemble < 1:
        raise ValueError(f"n_ensemble must be an integer >= 1, got {n_ensemble!r}")


def model_step(random_state, standardize_targets, n_ensemble, *, bootstrap=False,
               calibration="holdout", n_jobs=None, **model_params):
    """The ``"model"`` step of the forward and inverse pipelines.

    A :class:`~xanesnet_sk.model.XANESNetRegressor`, inside a
    ``TransformedTargetRegressor(transformer=StandardScaler())`` when
    ``standardize_targets``, inside a
    :class:`~xanesnet_sk.ensemble.DeepEnsembleRegressor` when ``n_ensemble`` > 1.
    """
    model = XANESNetRegressor(random_state=random_state, **model_params)
    if standardize_targets:
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    if n_ensemble > 1:
        model = DeepEnsembleRegressor(
            model, n_ensemble, bootstrap=bootstrap, calibration=calibration, n_jobs=n_jobs,
            random_state=random_state,
        )
    return model
