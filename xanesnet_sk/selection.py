"""Feature filters used by the XANESNET pipeline that scikit-learn lacks.

scikit-learn has variance filters (``VarianceThreshold``, or
``SelectPercentile`` with :func:`feature_variance` as the score) but no
filter of mutually correlated features; :class:`CorrelationFilter` is one,
written as a ``SelectorMixin`` so that ``get_support``,
``inverse_transform`` and feature names come for free.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["CorrelationFilter", "feature_variance"]


def feature_variance(X, y=None):
    """Variance of each feature, as a score function for ``SelectPercentile``.

    ``SelectPercentile(feature_variance, percentile=75)`` keeps the 75 % of
    features with the largest variance, i.e. drops the lowest-variance
    quarter as the XANESNET paper does (``VarianceThreshold`` takes an
    absolute threshold, not a share).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features.
    y : ignored
        Present for the score-function signature ``score_func(X, y)``.

    Returns
    -------
    variances : ndarray of shape (n_features,)
        Population variance of each column.
    """
    return np.var(np.asarray(X, dtype=np.float64), axis=0)


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Drop features strongly correlated with an earlier kept feature.

    Features are visited in column order; a feature is kept unless the
    absolute Pearson correlation with a feature already kept exceeds
    ``threshold``.  So of every highly correlated group, the first column
    survives (put the features you prefer first).  Constant features have no
    defined correlation and are kept (a variance filter handles them).

    Parameters
    ----------
    threshold : float in [0, 1] or None, default=None
        Largest allowed ``|r|`` between two kept features.  ``None`` keeps
        every feature (the filter is then a passthrough that still checks
        its input and carries feature names).

    Attributes
    ----------
    support_ : ndarray of bool of shape (`n_features_in_`,)
        Mask of kept features.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str of shape (`n_features_in_`,)
        Names of the features seen during ``fit``, when ``X`` has string
        column names.

    See Also
    --------
    sklearn.feature_selection.VarianceThreshold : drop low-variance features.
    feature_variance : score function to drop a share of features by variance.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.selection import CorrelationFilter
    >>> x = np.arange(10.0)
    >>> X = np.column_stack([x, 2 * x + 1, np.sin(x)])
    >>> CorrelationFilter(threshold=0.95).fit(X).get_support()
    array([ True, False,  True])
    """

    _parameter_constraints = {"threshold": [Interval(Real, 0, 1, closed="both"), None]}

    def __init__(self, threshold=None):
        self.threshold = threshold

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Find the features to keep.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features.
        y : ignored
            Not used; present for API consistency.

        Returns
        -------
        self : CorrelationFilter
            The fitted filter.
        """
        X = validate_data(self, X, dtype=np.float64)
        n_features = X.shape[1]
        support = np.ones(n_features, dtype=bool)
        if self.threshold is not None and X.shape[0] > 1:
            centred = X - X.mean(axis=0)
            norms = np.sqrt((centred**2).sum(axis=0))
            varying = norms > 0
            unit = np.zeros_like(centred)
            unit[:, varying] = centred[:, varying] / norms[varying]
            corr = np.abs(unit.T @ unit)
            kept = []
            for j in range(n_features):
                if varying[j] and kept and np.max(corr[j, kept]) > self.threshold:
                    support[j] = False
                elif varying[j]:
                    kept.append(j)
        self.support_ = support
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
