"""Transfer learning: fine-tune a fitted XANESNET model on a new data set.

:class:`FineTunedRegressor` takes a fitted forward model (a
:func:`~xanesnet_sk.pipeline.make_xanesnet_pipeline` pipeline, an ensemble,
a bare :class:`~xanesnet_sk.model.XANESNetRegressor` or a loaded ``.skops``
model) and, in ``fit(X, y)``, continues training a deep copy of it on the new
data.  It is an ordinary scikit-learn regressor: ``clone``,
``cross_validate`` and ``GridSearchCV`` treat it like a model trained from
scratch, and the pretrained model is never changed.

:class:`ElementEncoder` appends a one-hot code of the absorbing element to
feature rows, so that one net can learn several absorbing elements at once
(see "One model for several absorbers" in the user guide).
"""

import copy
import fnmatch
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, _fit_context, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Freezer

from .ensemble import TWO_SIGMA, DeepEnsembleRegressor, _standardised_error, _take
from .inverse import direction_of
from .model import XANESNetRegressor, _seed_of
from .pipeline import make_xanesnet_pipeline

__all__ = ["FineTunedRegressor", "ElementEncoder", "add_element_column", "make_universal_pipeline",
           "element_input", "hidden_layer_patterns"]


class FineTunedRegressor(RegressorMixin, BaseEstimator):
    """A fitted XANESNET model, trained further on new data (fine-tuning).

    ``fit(X, y)`` deep-copies ``pretrained``, optionally refits its feature
    scaler and its target standardisation on the new data, and trains every
    net in it (one, or each member of an ensemble) for ``max_epochs`` more
    epochs at learning rate ``lr``, with the first ``freeze`` hidden layers
    frozen (skorch's :class:`~skorch.callbacks.Freezer`).  ``pretrained``
    itself is never changed.

    Parameters
    ----------
    pretrained : estimator
        A fitted forward model: a ``Pipeline`` from
        :func:`~xanesnet_sk.pipeline.make_xanesnet_pipeline` (with or
        without ``featurise``, one net or ``n_ensemble`` nets), a
        :class:`~xanesnet_sk.model.XANESNetRegressor`, a
        ``TransformedTargetRegressor`` or a
        :class:`~xanesnet_sk.ensemble.DeepEnsembleRegressor` around one, e.g.
        a model loaded with :func:`xanesnet_sk.serialization.load_safe`.
        ``fit`` takes the same ``X`` as this model (features for a
        ``featurise=False`` pipeline, structures otherwise) and ``y`` on the
        same energy grid.
    freeze : int, str, list of str or None, default=1
        Parameters kept fixed while fine-tuning.  An integer ``k`` freezes
        the first ``k`` hidden layers (their ``Linear`` and batch-norm
        weights; ``0`` trains everything, the number of hidden layers trains
        the output layer only); a string or list of strings are
        :func:`fnmatch` patterns of the module's parameter names (e.g.
        ``"layers.0.*"``), given to skorch's ``Freezer`` as they are.
        ``None`` is ``0``.
    lr : float, default=1e-3
        Learning rate of the fine-tuning (a fresh Adam state).
    max_epochs : int or "auto", default=1000
        Epochs of the fine-tuning; ``"auto"`` is the net's own rule
        (:meth:`~xanesnet_sk.model.XANESNetRegressor.epochs_for`: 300
        epochs, or enough to reach 10,000 optimizer steps on a small set).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Learning-rate schedule over the fine-tuning epochs.
    refit_scaler : bool, default=True
        Refit the pipeline's feature ``StandardScaler`` (the step named
        ``"scale"``) on the new data.  Feature filters before it are kept,
        so the net keeps its inputs.
    refit_target : bool, default=True
        Refit the target standardisation (the ``StandardScaler`` of each
        ``TransformedTargetRegressor``) on the new spectra.
    random_state : int or None, default=None
        Seeds torch for the fine-tuning (shuffling, dropout): the same integer
        gives the same fine-tuned model.

    Attributes
    ----------
    estimator_ : estimator
        The fine-tuned copy of ``pretrained``; ``predict`` uses it.
    n_features_in_ : int
        Number of features of ``X`` (when ``X`` is an array).

    See Also
    --------
    ElementEncoder : one net for several absorbing elements.

    Notes
    -----
    *Defaults* (``freeze=1``, ``lr=1e-3``, 1,000 epochs, cosine decay, both
    scalers refitted) are the best recipe measured on the real Fe set (110
    complexes, spectra broadened like the V set's) under ``KFold(5,
    shuffle=True, random_state=0)``, fine-tuning a V-trained pipeline: median
    Delta mu 4.41 %, against 4.45 % from scratch and 5.82 % for ``RidgeCV``
    (naive fine-tuning: 13-14 %; a fine-tuned V ensemble of 5: 4.89 %; a
    universal V + Fe net fine-tuned on Fe: 4.62 %).  Transfer from V matched,
    but did not beat, training from scratch on Fe; see the user guide page
    "Transfer learning" for every figure (``python -m benchmarks.accuracy
    transfer``).  An ensemble's calibration factor is refitted
    on a held-out share of the new data (its own ``validation_fraction``)
    when the ensemble was calibrated.

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk import FineTunedRegressor, make_xanesnet_pipeline
    >>> rng = np.random.default_rng(0)
    >>> x_big, y_big = rng.normal(size=(64, 8)), rng.normal(size=(64, 5))
    >>> x_new, y_new = rng.normal(size=(16, 8)), rng.normal(size=(16, 5))
    >>> small = dict(hidden_sizes=(16,), max_epochs=3, random_state=0)
    >>> pretrained = make_xanesnet_pipeline(featurise=False, **small).fit(x_big, y_big)
    >>> tuned = FineTunedRegressor(pretrained, max_epochs=5, random_state=0).fit(x_new, y_new)
    >>> tuned.predict(x_new).shape
    (16, 5)
    """

    _parameter_constraints = {
        "pretrained": [HasMethods(["predict"])],
        "freeze": [Interval(Integral, 0, None, closed="left"), str, list, tuple, None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "refit_scaler": ["boolean"],
        "refit_target": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        pretrained,
        *,
        freeze=1,
        lr=1e-3,
        max_epochs=1000,
        lr_schedule="cosine",
        refit_scaler=True,
        refit_target=True,
        random_state=None,
    ):
        self.pretrained = pretrained
        self.freeze = freeze
        self.lr = lr
        self.max_epochs = max_epochs
        self.lr_schedule = lr_schedule
        self.refit_scaler = refit_scaler
        self.refit_target = refit_target
        self.random_state = random_state

    # ------------------------------------------------------------------ checks

    def _check_freeze(self):
        """Beyond the constraints: a list of patterns holds strings only."""
        freeze = self.freeze
        if isinstance(freeze, (list, tuple)) and not all(isinstance(p, str) for p in freeze):
            raise ValueError("FineTunedRegressor: freeze must be a number of hidden layers (>= 0),"
                             f" a parameter-name pattern or a list of them, got {freeze!r}")

    def _check_pretrained(self, X, y):
        model = self.pretrained
        if direction_of(model) == "inverse":
            raise ValueError("FineTunedRegressor: the pretrained model is an inverse model "
                             "(spectra -> structure); fine-tuning needs a forward model "
                             "(structures or features -> spectra)")
        try:
            check_is_fitted(model)
        except NotFittedError:
            raise NotFittedError(
                f"FineTunedRegressor: the pretrained {type(model).__name__} is not fitted; "
                "fit it (or load a fitted model file) before fine-tuning") from None
        nets = [net for net, _ in _nets(model)]
        if not nets:
            raise TypeError(f"FineTunedRegressor: found no XANESNetRegressor in the pretrained "
                            f"{type(model).__name__}; pass a make_xanesnet_pipeline pipeline, "
                            "an ensemble or a net")
        n_in = getattr(model, "n_features_in_", None)
        shape = getattr(X, "shape", None)
        if n_in is not None and shape is not None and len(shape) == 2 and shape[1] != n_in:
            raise ValueError(f"FineTunedRegressor: X has {shape[1]} features but the pretrained "
                             f"model was fitted on {n_in}; compute the new features with the "
                             "same descriptor parameters")
        n_out = nets[0].n_outputs_
        width = y.shape[1] if y.ndim == 2 else 1
        if width != n_out:
            raise ValueError(f"FineTunedRegressor: y has {width} energy points but the "
                             f"pretrained model predicts {n_out}; resample the spectra onto the "
                             "model's energy grid")
        return nets

    # ------------------------------------------------------------------ fit / predict

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fine-tune a deep copy of ``pretrained`` on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or list
            Inputs, as the pretrained model takes them.
        y : array-like of shape (n_samples, n_outputs)
            Spectra on the pretrained model's energy grid.

        Returns
        -------
        self : FineTunedRegressor
            The fitted estimator.
        """
        self._check_freeze()
        y = np.asarray(y, dtype=np.float64)
        if len(y) != _num_samples(X):
            raise ValueError(f"FineTunedRegressor: X has {_num_samples(X)} samples but y has "
                             f"{len(y)}")
        self._check_pretrained(X, y)
        model = copy.deepcopy(self.pretrained)
        if isinstance(model, Pipeline):
            front, last = model[:-1], model.steps[-1][1]
            if self.refit_scaler:
                _refit_scaler(model, X)
            Xt = front.transform(X) if len(front) else X
        else:
            last, Xt = model, X
        seed = None if self.random_state is None else _seed_of(self.random_state)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            if isinstance(last, DeepEnsembleRegressor):
                self._tune_ensemble(last, Xt, y, seed)
            else:
                self._tune_member(last, Xt, y)
        self.estimator_ = model
        shape = getattr(X, "shape", None)
        if shape is not None and len(shape) == 2:
            self.n_features_in_ = shape[1]
        return self

    def _tune_ensemble(self, ensemble, X, y, seed):
        n = len(y)
        fit_idx, cal_idx = np.arange(n), None
        if ensemble._calibrates():
            n_cal = int(round(ensemble.validation_fraction * n))
            if n_cal < 2 or n - n_cal < 2:
                raise ValueError(f"FineTunedRegressor: recalibrating the ensemble needs at least "
                                 f"2 held-out and 2 training samples; {n} samples hold out "
                                 f"{n_cal}")
            order = np.random.default_rng(seed).permutation(n)
            cal_idx, fit_idx = np.sort(order[:n_cal]), np.sort(order[n_cal:])
        for member in ensemble.estimators_:
            self._tune_member(member, _take(X, fit_idx), y[fit_idx])
        if cal_idx is not None:
            mean, std = ensemble._mean_std(_take(X, cal_idx))
            z = _standardised_error(y[cal_idx], mean, std)
            ensemble.raw_coverage_ = float(np.mean(z <= 2.0))
            ensemble.std_scale_ = max(float(np.quantile(z, TWO_SIGMA, method="higher")) / 2.0,
                                      np.finfo(float).tiny)

    def _tune_member(self, member, X, y):
        if isinstance(member, TransformedTargetRegressor):
            net = member.regressor_
            if self.refit_target and member.transformer_ is not None:
                member.transformer_.fit(y.reshape(len(y), -1))
            yt = member.transformer_.transform(y.reshape(len(y), -1)) \
                if member.transformer_ is not None else y
            _tune_net(net, X, yt, self)
        elif isinstance(member, XANESNetRegressor):
            _tune_net(member, X, y, self)
        else:
            raise TypeError(f"FineTunedRegressor: cannot fine-tune a {type(member).__name__}")

    def predict(self, X, return_std=False):
        """Spectra predicted by the fine-tuned model.

        Parameters
        ----------
        X : array-like or list
            Inputs, as for ``fit``.
        return_std : bool, default=False
            Also return the error bar (fine-tuned ensembles only).

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_outputs)
        std : ndarray of the same shape
            Only with ``return_std=True``.
        """
        check_is_fitted(self, "estimator_")
        if return_std:
            return self.estimator_.predict(X, return_std=True)
        return self.estimator_.predict(X)

    def __sklearn_clone__(self):
        """A clone that keeps the *fitted* ``pretrained`` (sklearn's clone would unfit it).

        ``pretrained`` is shared, not copied: ``fit`` deep-copies it and never
        changes it, so clones in ``cross_validate`` or ``GridSearchCV`` all
        start from the same weights.
        """
        params = self.get_params(deep=False)
        pretrained = params.pop("pretrained")
        return type(self)(pretrained, **{k: clone(v, safe=False) for k, v in params.items()})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.non_deterministic = self.random_state is None
        return tags


# ---------------------------------------------------------------------- helpers


def _num_samples(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _nets(model):
    """(net, owner) for every XANESNetRegressor in a fitted model."""
    if isinstance(model, Pipeline):
        return _nets(model.steps[-1][1])
    if isinstance(model, DeepEnsembleRegressor):
        return [pair for m in getattr(model, "estimators_", []) for pair in _nets(m)]
    if isinstance(model, TransformedTargetRegressor):
        net = getattr(model, "regressor_", None)
        return [(net, model)] if isinstance(net, XANESNetRegressor) else []
    if isinstance(model, XANESNetRegressor):
        return [(model, None)]
    return []


def _refit_scaler(pipeline, X):
    """Refit the step named "scale" (a StandardScaler) on X passed through the steps before it."""
    names = [name for name, _ in pipeline.steps]
    if "scale" not in names or not isinstance(pipeline.named_steps["scale"], StandardScaler):
        return
    i = names.index("scale")
    Xt = pipeline[:i].transform(X) if i else X
    pipeline.named_steps["scale"].fit(Xt)


def hidden_layer_patterns(module, k):
    """Parameter-name patterns of the first ``k`` hidden layers of a module.

    Parameters
    ----------
    module : XANESNetModule
        The torch module (``net.module_``).
    k : int
        Number of hidden layers, counted from the input.

    Returns
    -------
    list of str
        ``fnmatch`` patterns such as ``"layers.0.*"`` (the ``Linear``) and
        ``"layers.1.*"`` (its batch normalisation), for skorch's ``Freezer``.

    Examples
    --------
    >>> from xanesnet_sk.model import XANESNetModule
    >>> hidden_layer_patterns(XANESNetModule(4, 2, hidden_sizes=(8, 8)), 1)
    ['layers.0.*', 'layers.1.*']
    """
    layers = list(module.layers)
    linear = [i for i, layer in enumerate(layers) if isinstance(layer, torch.nn.Linear)]
    n_hidden = len(linear) - 1
    if k > n_hidden:
        raise ValueError(f"FineTunedRegressor: freeze={k} but the net has only {n_hidden} "
                         "hidden layers")
    end = linear[k] if k < len(linear) else len(layers)
    return [f"layers.{i}.*" for i in range(end)
            if any(True for _ in layers[i].parameters())]


def _tune_net(net, X, y, opts):
    """Train a fitted XANESNetRegressor further on (X, y), in place."""
    freeze = opts.freeze or 0
    if isinstance(freeze, Integral):
        if not hasattr(net.module_, "layers"):
            if freeze:
                raise ValueError("FineTunedRegressor: freeze=<int> needs XANESNetModule; pass "
                                 "parameter-name patterns for your own module")
            patterns = []
        else:
            patterns = hidden_layer_patterns(net.module_, freeze)
    else:
        patterns = [freeze] if isinstance(freeze, str) else list(freeze)
        names = [name for name, _ in net.module_.named_parameters()]
        unmatched = [p for p in patterns if not fnmatch.filter(names, p)]
        if unmatched:
            raise ValueError(f"FineTunedRegressor: freeze pattern(s) {unmatched} match no "
                             f"parameter of the net (its parameters: {', '.join(names)})")
    callbacks = list(net.callbacks or [])
    callbacks = [cb for cb in callbacks if not (isinstance(cb, tuple) and cb[0] == "freeze")]
    if patterns:
        callbacks.append(("freeze", Freezer(patterns)))
    # plain attributes: no re-initialisation of the fitted module
    net.lr = opts.lr
    net.lr_schedule = opts.lr_schedule
    net.max_epochs = opts.max_epochs
    net.callbacks = callbacks or None
    net.n_epochs_ = net.epochs_for(len(X))
    for p in net.module_.parameters():
        p.requires_grad_(True)
    net.initialize_callbacks()
    net.initialize_history()
    net.initialize_optimizer()
    net.warm_start = True
    random_state = net.random_state
    net.random_state = None  # seeded by the caller; keep fit from reseeding the weights' stream
    try:
        net.fit(X, y)
    finally:
        net.warm_start = False
        net.random_state = random_state
        for p in net.module_.parameters():
            p.requires_grad_(True)
    return net


class ElementEncoder(TransformerMixin, BaseEstimator):
    """Append a one-hot code of the absorbing element to feature rows.

    One net for several absorbing elements (V, Fe, ...) learns from all of
    them at once when each feature row says which element absorbs.  The
    element is the last column of the input (its atomic number, as
    :func:`add_element_column` appends it); the output is the features
    without it, followed by one column per element of ``elements``
    (1 for the row's element, 0 otherwise).

    Parameters
    ----------
    elements : sequence of int or None, default=None
        Atomic numbers with a column each, in this order; ``None`` takes the
        sorted elements seen in ``fit``.  An element not in the list is an
        error at ``transform``.

    Attributes
    ----------
    elements_ : ndarray of int
        The encoded elements, in column order.
    n_features_in_ : int
        Columns of the input (features + the element column).

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.transfer import ElementEncoder, add_element_column
    >>> X = add_element_column(np.zeros((2, 3)), [23, 26])
    >>> ElementEncoder().fit_transform(X)
    array([[0., 0., 0., 1., 0.],
           [0., 0., 0., 0., 1.]])
    """

    def __init__(self, elements=None):
        self.elements = elements

    def fit(self, X, y=None):
        """Learn the elements (when ``elements`` is None).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features + 1)
            Features with the atomic number of the absorber as the last column.
        y : ignored

        Returns
        -------
        self : ElementEncoder
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] < 1:
            raise ValueError("ElementEncoder: X must be 2-D with the absorber's atomic number "
                             "as its last column")
        elements = np.unique(X[:, -1]) if self.elements is None else np.asarray(self.elements)
        self.elements_ = np.asarray(elements, dtype=int)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Features followed by the one-hot element columns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features + 1)

        Returns
        -------
        ndarray of shape (n_samples, n_features + n_elements)
            The features followed by one column per element of ``elements_``.
        """
        check_is_fitted(self, "elements_")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"ElementEncoder: X has {X.shape[-1]} columns, expected "
                             f"{self.n_features_in_} (features + the element column)")
        z = X[:, -1].astype(int)
        unknown = sorted(set(z.tolist()) - set(self.elements_.tolist()))
        if unknown:
            raise ValueError(f"ElementEncoder: absorber element(s) {unknown} were not seen in "
                             f"fit (known: {self.elements_.tolist()})")
        onehot = (z[:, None] == self.elements_[None, :]).astype(np.float64)
        return np.hstack([X[:, :-1], onehot])

    def get_feature_names_out(self, input_features=None):
        """Input feature names (without the element column), then ``absorber_Z=<z>``."""
        check_is_fitted(self, "elements_")
        if input_features is None:
            input_features = [f"x{i}" for i in range(self.n_features_in_ - 1)]
        else:
            input_features = list(input_features)[:-1]
        return np.asarray(input_features + [f"absorber_Z={z}" for z in self.elements_],
                          dtype=object)


def add_element_column(X, elements):
    """Append the absorber's atomic number as a last column.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    elements : int or array-like of shape (n_samples,)
        Atomic number(s) of the absorbing element.

    Returns
    -------
    ndarray of shape (n_samples, n_features + 1)
    """
    X = np.asarray(X, dtype=np.float64)
    z = np.broadcast_to(np.asarray(elements, dtype=np.float64), (len(X),))
    return np.hstack([X, z[:, None]])


def make_universal_pipeline(elements, **kwargs):
    """One XANESNET pipeline for several absorbing elements (a "universal" model).

    ``Pipeline([("element", ElementEncoder(elements)), *steps])``, where the
    steps are those of ``make_xanesnet_pipeline(featurise=False, **kwargs)``:
    it takes feature rows with the absorber's atomic number as the last
    column (:func:`add_element_column`) and one-hot encodes it, so the net
    knows which element it predicts.  Each element's spectra keep their own
    edge-relative energy grid; all grids have the same number of points.

    Parameters
    ----------
    elements : sequence of int
        Atomic numbers of the absorbing elements, e.g. ``[23, 26]`` (V, Fe).
    **kwargs
        Passed to :func:`~xanesnet_sk.make_xanesnet_pipeline` (``featurise``
        excepted): ``random_state``, ``n_ensemble`` (error bars calibrated on
        a held-out share of the pooled data), the net's parameters.

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk.transfer import add_element_column, make_universal_pipeline
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([add_element_column(rng.normal(size=(20, 4)), 23),
    ...                add_element_column(rng.normal(size=(10, 4)), 26)])
    >>> y = rng.normal(size=(30, 6))
    >>> model = make_universal_pipeline([23, 26], hidden_sizes=(8,), max_epochs=2,
    ...                                 random_state=0).fit(X, y)
    >>> model.predict(X[-3:]).shape
    (3, 6)
    """
    if kwargs.get("featurise"):
        raise ValueError("make_universal_pipeline: featurise=True is not supported: featurise "
                         "the structures first and append the absorber's atomic number "
                         "(add_element_column)")
    kwargs.pop("featurise", None)
    steps = make_xanesnet_pipeline(featurise=False, **kwargs).steps
    return Pipeline([("element", ElementEncoder([int(z) for z in elements]))] + steps)


def element_input(model):
    """The atomic numbers a universal model encodes, or None for a one-element model.

    Looks at the first step of ``model`` (a Pipeline) for a fitted
    :class:`ElementEncoder`; its input then ends in the absorber's atomic
    number (:func:`add_element_column`).
    """
    steps = getattr(model, "steps", None)
    first = steps[0][1] if steps else None
    if isinstance(first, ElementEncoder) and hasattr(first, "elements_"):
        return [int(z) for z in first.elements_]
    return None
