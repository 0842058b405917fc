"""Deep ensembles: several nets, their mean as the prediction, their spread as the error bar.

:class:`DeepEnsembleRegressor` fits ``n_ensemble`` copies of a regressor
(a :class:`~xanesnet_sk.model.XANESNetRegressor`, the net inside a
``TransformedTargetRegressor``, or any scikit-learn regressor with a
``random_state``), each with its own seed drawn from ``random_state``.
``predict(X)`` is the members' mean; ``predict(X, return_std=True)`` also
returns the members' standard deviation, scaled so that it is calibrated
(see Notes).  :func:`~xanesnet_sk.pipeline.make_xanesnet_pipeline` builds one
with ``n_ensemble=N``; ``Pipeline.predict(X, return_std=True)`` passes
``return_std`` through to it.
"""

import sys
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy.stats import norm
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ._console import watched

# Imports inside functions: the net (torch) only when no estimator is given.

__all__ = ["DeepEnsembleRegressor", "coverage", "calibration_curve"]

#: Share of a normal distribution within +-2 standard deviations.
TWO_SIGMA = 0.9544997361036416


class DeepEnsembleRegressor(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """An ensemble of independently seeded regressors with calibrated error bars.

    Parameters
    ----------
    estimator : estimator object, default=None
        The regressor to copy (``sklearn.base.clone``); ``None`` uses
        ``XANESNetRegressor()``.  Every parameter named ``random_state`` in
        it (``random_state`` itself, or nested ones such as
        ``regressor__random_state``) is set to the member's seed.
    n_ensemble : int, default=5
        Number of members.  With 1, ``predict(X, return_std=True)`` raises
        (one net has no spread).
    bootstrap : bool, default=False
        Train each member on a bootstrap resample (drawn with replacement)
        of the training data instead of all of it.  Deep ensembles usually
        do better without (the random initialisation and batch order make
        members differ enough); bootstrapping is XANESNET's ``bootstrap``
        mode.
    calibration : {"holdout"} or None, default="holdout"
        How the spread is turned into a calibrated standard deviation.
        ``"holdout"``: ``validation_fraction`` of the training data is held
        out, the members train on the rest, and one scale factor
        ``std_scale_`` is fitted on the held-out points so that
        ``TWO_SIGMA`` (95.45 %) of them fall within ±2 scaled standard
        deviations of the mean (a split-conformal quantile).  ``None``:
        members train on all data and the raw spread is returned
        (``std_scale_ = 1``); raw ensemble spreads are usually too narrow.
        Members that agree exactly (a deterministic estimator such as
        ``Ridge()`` without ``bootstrap``) have a spread of exactly 0: with
        ``"holdout"`` that is a ValueError at fit (no factor calibrates it),
        with ``None`` the returned std is 0.
    validation_fraction : float in (0, 0.5], default=0.1
        Share of the training samples held out for the calibration.
    n_jobs : int or None, default=None
        Members trained in parallel by joblib (prediction runs in this
        process); ``None`` is one at a time, ``-1`` all cores.  Results are the same for any
        ``n_jobs`` on the same machine with the same thread count per fit.  An
        estimator holding a class or function defined in ``__main__`` (your
        script), in a function body, or a lambda, cannot come back from a
        worker process: its members train in this process, with a warning.
    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds, the calibration split and the bootstrap
        samples; an integer makes the whole ensemble reproducible.
    verbose : int, default=0
        joblib's verbosity while members train.  Members trained in worker
        processes (``n_jobs`` other than 1) show one progress bar over the
        members on standard error when it is a terminal or a Jupyter kernel;
        members trained here show their own nets' bars (``progress``).

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.
    seeds_ : ndarray of int
        Seed of each member.
    std_scale_ : float
        Factor applied to the members' standard deviation (1 without
        calibration).
    raw_coverage_ : float or None
        Share of held-out calibration points within ±2 raw standard
        deviations (how narrow the raw spread was); ``None`` without
        calibration.
    n_features_in_ : int
        Number of features seen during ``fit`` (when the members record it).

    Notes
    -----
    *Why a scale factor.*  Members of a deep ensemble start from different
    random weights and see the batches in a different order, so they
    disagree most where the training data say least; but they share the
    architecture and the data, so the spread understates the error of their
    mean (on the V K-edge set only 54.8 % of held-out points fall within ±2 raw
    standard deviations instead of 95 %).  One multiplicative factor fitted
    on held-out data fixes the coverage without changing which predictions
    are flagged as uncertain: the rank of every spectrum's error bar, hence
    the correlation between error bar and error, is unchanged.  The price is
    the held-out share of training data.

    *Units.*  Mean and standard deviation are in the units of the members'
    predictions: for the pipeline of ``make_xanesnet_pipeline(n_ensemble=N)``
    the members include the target standardisation, so both are in the
    spectra's own units.

    References
    ----------
    B. Lakshminarayanan, A. Pritzel and C. Blundell, "Simple and scalable
    predictive uncertainty estimation using deep ensembles", NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import SGDRegressor
    >>> from xanesnet_sk.ensemble import DeepEnsembleRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = X @ [1.0, -2.0, 0.5] + rng.normal(0, 0.1, 200)
    >>> ens = DeepEnsembleRegressor(SGDRegressor(max_iter=5, tol=None), n_ensemble=4,
    ...                             random_state=0).fit(X, y)
    >>> mean, std = ens.predict(X[:2], return_std=True)
    >>> mean.shape, std.shape, bool((std > 0).all())
    ((2,), (2,), True)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "calibration": [StrOptions({"holdout"}), None],
        "validation_fraction": [Interval(Real, 0, 0.5, closed="right")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        n_ensemble=5,
        *,
        bootstrap=False,
        calibration="holdout",
        validation_fraction=0.1,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_ensemble = n_ensemble
        self.bootstrap = bootstrap
        self.calibration = calibration
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _base(self):
        if self.estimator is not None:
            return self.estimator
        from .model import XANESNetRegressor

        return XANESNetRegressor()

    def _calibrates(self):
        return self.calibration is not None and self.n_ensemble > 1

    def fit(self, X, y, **fit_params):
        """Fit the members (on bootstrap samples if asked) and the calibration.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or list
            Training inputs, whatever the members take (features, or
            structures for a pipeline that featurises).
        y : array-like of shape (n_samples, n_outputs) or (n_samples,)
            Targets.
        **fit_params : dict
            Passed to every member's ``fit``.

        Returns
        -------
        self : DeepEnsembleRegressor
            The fitted ensemble.
        """
        self._validate_params()
        rng = check_random_state(self.random_state)
        n = _num_samples(X)
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"X has {n} samples but y has {len(y)}")
        self.seeds_ = rng.randint(0, 2**31 - 1, size=self.n_ensemble)
        fit_idx = np.arange(n)
        cal_idx = None
        if self._calibrates():
            n_cal = int(round(self.validation_fraction * n))
            if n_cal < 2 or n - n_cal < 2:
                raise ValueError(
                    f"calibration='holdout' needs at least 2 held-out and 2 training "
                    f"samples; {n} samples with validation_fraction="
                    f"{self.validation_fraction} hold out {n_cal} (use more data, a larger "
                    "validation_fraction, or calibration=None)"
                )
            order = rng.permutation(n)
            cal_idx, fit_idx = np.sort(order[:n_cal]), np.sort(order[n_cal:])
        samples = []
        for _ in range(self.n_ensemble):
            if self.bootstrap:
                samples.append(np.sort(rng.choice(fit_idx, size=len(fit_idx), replace=True)))
            else:
                samples.append(fit_idx)
        base = self._base()
        n_jobs = self.n_jobs
        if self.n_ensemble > 1 and effective_n_jobs(n_jobs) != 1:
            name = _unsendable(base)
            if name is not None:
                warnings.warn(
                    f"DeepEnsembleRegressor: {name} is defined in __main__ (your script) or "
                    "inside a function, so worker processes could train the members but not "
                    f"send them back; training the {self.n_ensemble} members one at a time in "
                    f"this process instead (same results); move {name} into an importable "
                    "module to train them in parallel",
                    UserWarning, stacklevel=2,
                )
                n_jobs = 1
        tasks = (delayed(_fit_member)(base, int(seed), _take(X, idx), y[idx], fit_params)
                 for seed, idx in zip(self.seeds_, samples))
        if effective_n_jobs(n_jobs) != 1 and watched(sys.stderr):
            # members in worker processes show no bars of their own: one over the members
            done = Parallel(n_jobs=n_jobs, verbose=self.verbose, return_as="generator")(tasks)
            members = list(tqdm(done, total=self.n_ensemble, desc=type(self).__name__,
                                unit="member", leave=False, file=sys.stderr))
        else:
            members = Parallel(n_jobs=n_jobs, verbose=self.verbose)(tasks)
        self.estimators_ = members
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(members[0], name):
                setattr(self, name, getattr(members[0], name))
        self.std_scale_ = 1.0
        self.raw_coverage_ = None
        if cal_idx is not None:
            y_cal = y[cal_idx]
            mean, std = self._mean_std(_take(X, cal_idx))
            z = _standardised_error(y_cal, mean, std)
            self.raw_coverage_ = float(np.mean(z <= 2.0))
            # the smallest factor that puts TWO_SIGMA of the held-out points within 2 std
            quantile = float(np.quantile(z, TWO_SIGMA, method="higher"))
            if not np.isfinite(quantile):
                agree = float(np.mean(np.isinf(z)))
                raise ValueError(
                    f"DeepEnsembleRegressor: the {self.n_ensemble} members of {_short(base)} "
                    f"agree exactly on {agree:.0%} of the held-out values while their mean "
                    "misses them, so no factor can calibrate their spread (it would be "
                    "infinite; a deterministic estimator fits the same model whatever its "
                    "seed): use bootstrap=True or an estimator whose fit depends on its "
                    "random_state, or calibration=None for the raw spread"
                )
            self.std_scale_ = max(quantile / 2.0, np.finfo(float).tiny)
        return self

    def _member_predictions(self, X):
        check_is_fitted(self, "estimators_")
        # in this process: a forward pass is far cheaper than shipping the members to workers
        return np.stack([np.asarray(m.predict(X), dtype=np.float64) for m in self.estimators_])

    def _mean_std(self, X):
        preds = self._member_predictions(X)
        mean = preds.mean(axis=0)
        if len(preds) < 2:
            return mean, np.zeros_like(mean)
        std = preds.std(axis=0, ddof=1)
        # members that agree exactly have a spread of exactly 0, not the rounding error of
        # their mean (at most a few eps * |mean|): checked where the spread is that small
        tiny = std <= 64 * np.finfo(np.float64).eps * np.abs(mean)
        if tiny.any():
            std[tiny] = np.where((preds[:, tiny] == preds[0, tiny]).all(axis=0), 0.0,
                                 std[tiny])
        return mean, std

    def predict(self, X, return_std=False):
        """The members' mean prediction, and with ``return_std`` its standard deviation.

        Parameters
        ----------
        X : array-like or list
            Inputs, as for ``fit``.
        return_std : bool, default=False
            Also return the calibrated standard deviation (the members'
            sample standard deviation times ``std_scale_``).

        Returns
        -------
        mean : ndarray of shape (n_samples, n_outputs) or (n_samples,)
            The ensemble's prediction.
        std : ndarray of the same shape
            Only with ``return_std=True``: the one-standard-deviation error
            bar of ``mean``, in the same units.
        """
        check_is_fitted(self, "estimators_")
        if return_std and self.n_ensemble < 2:
            raise ValueError(
                "return_std=True needs an ensemble of at least 2 members; this one has "
                f"n_ensemble={self.n_ensemble} (one net has no spread)"
            )
        mean, std = self._mean_std(X)
        if return_std:
            return mean, std * self.std_scale_
        return mean

    def predict_members(self, X):
        """Every member's prediction, stacked.

        Parameters
        ----------
        X : array-like or list
            Inputs, as for ``fit``.

        Returns
        -------
        predictions : ndarray of shape (n_ensemble, n_samples, ...)
        """
        return self._member_predictions(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        base_tags = self._base().__sklearn_tags__()
        tags.target_tags.multi_output = base_tags.target_tags.multi_output
        tags.target_tags.single_output = base_tags.target_tags.single_output
        tags.input_tags = base_tags.input_tags
        tags.non_deterministic = self.random_state is None
        return tags


def _unsendable(estimator):
    """Name of a class or function in ``estimator``'s parameters that a worker process
    cannot pickle back by reference (defined in ``__main__``, in a function, or a
    lambda), else None."""

    def culprit(obj):
        if isinstance(obj, (list, tuple)):
            return next((c for c in map(culprit, obj) if c is not None), None)
        if isinstance(obj, dict):
            return culprit(list(obj.values()))
        if isinstance(obj, (str, bytes, int, float, bool, complex, type(None), np.ndarray)):
            return None
        if hasattr(obj, "get_params") and not isinstance(obj, type):
            return _unsendable(obj) or culprit(type(obj))
        target = obj if isinstance(obj, type) or callable(obj) and hasattr(
            obj, "__qualname__") else type(obj)
        qualname = getattr(target, "__qualname__", "")
        if getattr(target, "__module__", None) == "__main__" or "<locals>" in qualname \
                or qualname == "<lambda>":
            return qualname.rsplit("<locals>.", 1)[-1]
        return None

    return culprit(list(estimator.get_params(deep=False).values()))


def _short(estimator):
    """A one-line name of ``estimator`` for messages, e.g. ``Ridge()``."""
    text = " ".join(repr(estimator).split())
    return text if len(text) <= 60 else type(estimator).__name__ + "(...)"


def _fit_member(base, seed, X, y, fit_params):
    member = clone(base)
    seeded = {k: seed for k in member.get_params(deep=True)
              if k == "random_state" or k.endswith("__random_state")}
    member.set_params(**seeded)
    return member.fit(X, y, **fit_params)


def _num_samples(X):
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(X)


def _take(X, idx):
    """Rows ``idx`` of an array, DataFrame or list."""
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if hasattr(X, "shape"):
        return X[idx]
    return [X[i] for i in idx]


def _standardised_error(y, mean, std):
    """|y - mean| / std, pointwise, with 0 / 0 = 0 and x / 0 = inf."""
    err = np.abs(np.asarray(y, dtype=np.float64).reshape(mean.shape) - mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = err / std
    z[(err == 0)] = 0.0
    return z.ravel()


def coverage(y_true, mean, std, k=2.0):
    """Share of points within ``k`` standard deviations of the prediction.

    Parameters
    ----------
    y_true, mean, std : array-like of the same shape
        Targets, predicted means and predicted standard deviations.
    k : float, default=2.0
        Half-width of the interval in standard deviations.

    Returns
    -------
    float
        Fraction of ``|y_true - mean| <= k * std`` over all points.

    Examples
    --------
    >>> from xanesnet_sk.ensemble import coverage
    >>> coverage([0.0, 1.0, 3.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    0.6666666666666666
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    return float(np.mean(_standardised_error(y_true, mean, std) <= k))


def calibration_curve(y_true, mean, std, levels=None):
    """Expected against observed coverage of Gaussian intervals.

    Parameters
    ----------
    y_true, mean, std : array-like of the same shape
        Targets, predicted means and standard deviations.
    levels : array-like of float in (0, 1), default=None
        Nominal coverages; ``None`` uses 0.05, 0.10, ..., 0.95 and 0.99.

    Returns
    -------
    expected : ndarray
        The nominal coverages.
    observed : ndarray
        Share of points inside the central interval of each nominal
        coverage under a normal distribution with the predicted mean and
        standard deviation.  A calibrated model lies on the diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.ensemble import calibration_curve
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=20000)
    >>> expected, observed = calibration_curve(y, np.zeros_like(y), np.ones_like(y))
    >>> bool(np.abs(expected - observed).max() < 0.02)
    True
    """
    if levels is None:
        levels = np.append(np.arange(0.05, 0.951, 0.05), 0.99)
    expected = np.asarray(levels, dtype=np.float64)
    if expected.ndim != 1 or not np.all((expected > 0) & (expected < 1)):
        raise ValueError("levels must be a 1-D array of coverages strictly between 0 and 1")
    z = _standardised_error(y_true, np.asarray(mean, float), np.asarray(std, float))
    half_widths = norm.ppf(0.5 + expected / 2)
    observed = np.array([np.mean(z <= w) for w in half_widths])
    return expected, observed
