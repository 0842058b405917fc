"""``Pipeline.predict`` of the XANESNET pipeline without per-call overhead.

scikit-learn re-validates the input of every step on every call (array
checks, dataframe detection, tags, fitted checks): about 0.2 ms per step,
three times the wACSF featurisation of one structure.  For the steps the
XANESNET pipeline is built from, and an input that is a plain finite float
array of the fitted width, those checks cannot fire; this module computes
such a step's output directly, with the same operations as scikit-learn in
the same order, so the numbers are the same bit for bit.  Any other step or
input (a DataFrame, NaN, a wrong width, ``set_output``, metadata routing, an
unfitted step, float32 data in the scaler) goes through the step's own
method, which raises or warns as it always does.
"""

import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.feature_selection import SelectPercentile, VarianceThreshold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.validation import _is_fitted

from .selection import CorrelationFilter

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def direct_path_allowed(params):
    """Whether a ``predict`` call may take the direct path at all: no predict
    parameters, no metadata routing, default dense output, no array API dispatch."""
    if params or _routing_enabled():
        return False
    config = sklearn.get_config()
    return config["transform_output"] == "default" and not config["array_api_dispatch"]


def last_step_fitted(pipeline):
    """True when ``check_is_fitted(pipeline)`` passes because its last step is fitted.

    The same test as ``Pipeline.__sklearn_is_fitted__`` (the last step that
    is not ``"passthrough"``), without the estimator tags that
    ``check_is_fitted`` collects from every step on every call.  False means
    only: let ``check_is_fitted`` decide.
    """
    last = next((est for _, est in reversed(pipeline.steps)
                 if not (isinstance(est, str) and est == "passthrough")), None)
    if last is None or isinstance(last, str) or isinstance(last, type):
        return False
    return bool(_is_fitted(last))


def transform_step(step, X):
    """``step.transform(X)``, computed directly where that gives the same array."""
    direct = _TRANSFORMS.get(type(step))
    if direct is not None and _plain_input(step, X):
        out = direct(step, X)
        if out is not None:
            return out
    return step.transform(X)


def predict_step(estimator, X):
    """``estimator.predict(X)`` of a pipeline's last step.

    A ``TransformedTargetRegressor`` around a net and a ``StandardScaler``
    (the pipeline's default) predicts through its regressor, whose own
    ``predict`` is then as fast as it can be, and undoes the target scaling
    directly; any other last step predicts as usual.
    """
    if type(estimator) is TransformedTargetRegressor and all(
        hasattr(estimator, name) for name in ("regressor_", "transformer_", "_training_dim")
    ):
        pred = estimator.regressor_.predict(X)
        pred = _inverse_transform(estimator.transformer_,
                                  pred.reshape(-1, 1) if pred.ndim == 1 else pred)
        if estimator._training_dim == 1 and pred.ndim == 2 and pred.shape[1] == 1:
            pred = pred.squeeze(axis=1)
        return pred
    return estimator.predict(X)


def _plain_input(step, X):
    """X is a finite float ndarray with rows, of the width ``step`` was fitted on (without
    feature names), and ``step`` returns plain arrays: its validation would pass X as is."""
    fitted = vars(step)
    return (
        type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOAT_DTYPES and X.shape[0] >= 1
        and "n_features_in_" in fitted and "feature_names_in_" not in fitted
        and fitted["n_features_in_"] == X.shape[1]
        and fitted.get("_sklearn_output_config", {}).get("transform", "default") == "default"
        and bool(np.isfinite(X).all())
    )


def _select(step, X):
    # SelectorMixin.transform: validate_data(dtype=None) keeps X as it is, then
    # _safe_indexing(X, mask, axis=1), i.e. X[:, mask]; an empty selection warns there
    mask = step.get_support()
    if not mask.any():
        return None
    return X[:, mask]


def _scale(step, X):
    # StandardScaler.transform: check_array(copy=self.copy, force_writeable=True), then
    # X -= mean_ and X /= scale_ cast to X's dtype; float64 only, where that cast is a
    # no-op in every scikit-learn version the project supports
    if X.dtype != np.float64:
        return None
    if step.copy or not X.flags.writeable:
        X = X.copy()
    if step.with_mean:
        X -= step.mean_
    if step.with_std:
        X /= step.scale_
    return X


def _inverse_transform(transformer, X):
    # StandardScaler.inverse_transform: check_array (no width check there, so the
    # direct path requires the fitted width), then X *= scale_ and X += mean_
    if type(transformer) is not StandardScaler or X.dtype != np.float64 \
            or not _plain_input(transformer, X):
        return transformer.inverse_transform(X)
    if transformer.copy or not X.flags.writeable:
        X = X.copy()
    if transformer.with_std:
        X *= transformer.scale_
    if transformer.with_mean:
        X += transformer.mean_
    return X


_TRANSFORMS = {
    SelectPercentile: _select,
    VarianceThreshold: _select,
    CorrelationFilter: _select,
    StandardScaler: _scale,
}
