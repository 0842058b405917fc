"""The XANESNET multilayer perceptron as a scikit-learn regressor (skorch).

``XANESNetModule`` is the torch module, ``XANESNetRegressor`` the skorch
net around it, and ``TensorBatchIterator`` the lean mini-batch iterator
that makes a 512-epoch fit on a few thousand spectra take tens of seconds
on a laptop CPU instead of minutes.
"""

import sys
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.validation import validate_data
from skorch import NeuralNet, NeuralNetRegressor
from skorch.callbacks import Callback, LRScheduler
from skorch.dataset import Dataset as SkorchDataset
from skorch.utils import to_numpy
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from ._console import watched
from ._predict_path import _plain_input

__all__ = ["XANESNetModule", "XANESNetRegressor", "TensorBatchIterator", "DerivativeLoss"]

#: skorch methods between ``predict`` and the module's forward; a subclass that overrides
#: one of them predicts through skorch's own loop.
_SKORCH_PREDICT = ("predict_proba", "forward_iter", "evaluation_step", "infer",
                   "get_dataset", "get_iterator", "_get_predict_nonlinearity")


class XANESNetModule(nn.Module):
    """Multilayer perceptron of XANESNET: features in, spectrum out.

    Architecture ``[n_features x hidden_sizes[0] x ... x n_outputs]``; each
    hidden layer is ``Linear -> BatchNorm1d -> activation -> Dropout``, the
    output layer is linear.

    Parameters
    ----------
    n_features : int, default=97
        Length of the input feature vector (N in the paper).
    n_outputs : int, default=226
        Number of outputs (energy points of the spectrum).
    hidden_sizes : sequence of int, default=(512, 512)
        Width of each hidden layer; ``()`` gives a linear model.
    dropout : float, default=0.25
        Dropout probability after each hidden layer; 0 disables it.
    batch_norm : bool, default=True
        Whether each hidden layer has batch normalisation (before the
        activation).
    activation : type of torch.nn.Module, default=torch.nn.ReLU
        Activation class, instantiated once per hidden layer.
    init : {"he_uniform", "torch"}, default="he_uniform"
        ``"he_uniform"``: weights drawn from U(-b, b) with b = sqrt(6 / fan_in)
        (He et al. 2015; Keras' ``he_uniform``), biases zero, as in the paper;
        ``"torch"``: PyTorch's default initialisation of ``nn.Linear``.

    Examples
    --------
    >>> import torch
    >>> from xanesnet_sk.model import XANESNetModule
    >>> module = XANESNetModule(n_features=10, n_outputs=5, hidden_sizes=(8,))
    >>> module(torch.zeros(3, 10)).shape
    torch.Size([3, 5])
    """

    def __init__(
        self,
        n_features=97,
        n_outputs=226,
        hidden_sizes=(512, 512),
        dropout=0.25,
        batch_norm=True,
        activation=nn.ReLU,
        init="he_uniform",
    ):
        super().__init__()
        if init not in ("he_uniform", "torch"):
            raise ValueError(f"init must be 'he_uniform' or 'torch', got {init!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.hidden_sizes = tuple(hidden_sizes)
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.init = init

        layers = []
        n_in = n_features
        for width in self.hidden_sizes:
            layers.append(nn.Linear(n_in, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n_in = width
        layers.append(nn.Linear(n_in, n_outputs))
        self.layers = nn.Sequential(*layers)
        if init == "he_uniform":
            for layer in self.layers:
                if isinstance(layer, nn.Linear):
                    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
                    nn.init.zeros_(layer.bias)

    def forward(self, X):
        """Spectra (n_samples, n_outputs) predicted from X of shape (n_samples, n_features)."""
        return self.layers(X)


def _tensors_of(dataset):
    """(X, y) tensors behind a skorch Dataset (or a Subset of one), else None."""
    indices = None
    if isinstance(dataset, Subset):
        indices = np.asarray(dataset.indices)
        dataset = dataset.dataset
    if type(dataset) is not SkorchDataset:
        return None
    X, y = dataset.X, dataset.y
    if not isinstance(X, (np.ndarray, torch.Tensor)):
        return None
    if y is not None and not isinstance(y, (np.ndarray, torch.Tensor)):
        return None
    X = torch.as_tensor(X)
    y = None if y is None else torch.as_tensor(y)
    if indices is not None:
        idx = torch.as_tensor(indices, dtype=torch.long)
        X = X[idx]
        y = None if y is None else y[idx]
    return X, y


class TensorBatchIterator:
    """Mini-batches sliced from whole in-memory tensors, without a DataLoader.

    skorch's default ``DataLoader`` fetches every sample through
    ``Dataset.__getitem__`` and collates the batch in Python, which costs more
    than the forward and backward pass of a small MLP.  This iterator turns
    the data into tensors once (no copy for C-contiguous float32 arrays, one
    transfer when ``device`` is a GPU) and yields ``(X[idx], y[idx])`` with
    ``idx`` from ``torch.randperm`` (the global torch generator, so a seeded
    net is reproducible).  Anything other than a skorch ``Dataset`` over
    arrays or tensors (or a ``Subset`` of one) falls back to a ``DataLoader``.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch.utils.data.Dataset
        The data, as built by ``NeuralNet.get_dataset``.
    batch_size : int, default=32
        Samples per batch.
    shuffle : bool, default=False
        Draw a new permutation at every pass over the data.
    drop_last : bool, default=False
        Drop the last, incomplete batch.  When it is kept and would hold a
        single sample, that sample joins the previous batch instead (batch
        normalisation cannot train on one sample).
    device : str or torch.device, default=None
        Where to put the tensors; ``None`` leaves them where they are.
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False, device=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = device
        tensors = _tensors_of(dataset)
        self._fallback = None
        if tensors is None:
            self._fallback = DataLoader(
                dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last
            )
            self.X = self.y = None
        else:
            X, y = tensors
            if device is not None:
                X = X.to(device)
                y = None if y is None else y.to(device)
            self.X, self.y = X, y

    def __len__(self):
        if self._fallback is not None:
            return len(self._fallback)
        n, b = len(self.X), self.batch_size
        if self.drop_last:
            return n // b
        n_batches = -(-n // b)
        return n_batches - 1 if (n % b == 1 and n_batches > 1) else n_batches

    def __iter__(self):
        if self._fallback is not None:
            yield from self._fallback
            return
        n = len(self.X)
        stops = _batch_stops(n, self.batch_size, self.drop_last)
        if self.shuffle:
            order = torch.randperm(n, device=self.X.device)
            start = 0
            for stop in stops:
                idx = order[start:stop]
                yield self.X[idx], (None if self.y is None else self.y[idx])
                start = stop
        else:
            start = 0
            for stop in stops:
                yield self.X[start:stop], (None if self.y is None else self.y[start:stop])
                start = stop


def _batch_stops(n, batch_size, drop_last=False):
    """Ends of the mini-batches of ``n`` samples, as :class:`TensorBatchIterator` cuts them
    (a last batch of one sample joins the previous one unless ``drop_last``)."""
    stops = list(range(batch_size, n + 1, batch_size))
    if not drop_last and n % batch_size:
        if n % batch_size == 1 and stops:
            stops[-1] = n
        else:
            stops.append(n)
    return stops


class DerivativeLoss(nn.Module):
    """A pointwise loss plus the same loss on the first (and second) derivative.

    ``loss = base(p, y) + derivative_weight * base(D p, D y)
    + curvature_weight * base(D2 p, D2 y)``, where ``D`` is the forward
    difference along the last axis (the energy axis of a spectrum) and
    ``D2`` the second difference.  Matching the derivatives makes the net
    care about the line shape (peak positions, edge slope) and not only the
    pointwise error.

    Parameters
    ----------
    base : torch.nn.Module, default=None
        The pointwise loss (an instance); ``None`` is ``torch.nn.MSELoss()``.
    derivative_weight : float, default=1.0
        Weight of the first-difference term.
    curvature_weight : float, default=0.0
        Weight of the second-difference term.

    Notes
    -----
    The differences are taken on whatever the net predicts: inside
    :func:`~xanesnet_sk.pipeline.make_xanesnet_pipeline` with target
    standardisation that is the spectrum standardised per energy point, so
    the term compares the slopes of the standardised spectra (the residual's
    slope weighted by each point's spread), not of the raw ones.

    Examples
    --------
    >>> import torch
    >>> from xanesnet_sk.model import DerivativeLoss
    >>> y = torch.tensor([[0.0, 1.0, 2.0]])
    >>> float(DerivativeLoss(derivative_weight=1.0)(y + 1.0, y))  # same slope: only MSE
    1.0
    """

    def __init__(self, base=None, derivative_weight=1.0, curvature_weight=0.0):
        super().__init__()
        self.base = nn.MSELoss() if base is None else base
        self.derivative_weight = float(derivative_weight)
        self.curvature_weight = float(curvature_weight)

    def forward(self, y_pred, y_true):
        """The combined loss of predictions against targets (both (batch, n_points))."""
        loss = self.base(y_pred, y_true)
        if self.derivative_weight and y_pred.shape[-1] > 1:
            loss = loss + self.derivative_weight * self.base(
                torch.diff(y_pred, dim=-1), torch.diff(y_true, dim=-1))
        if self.curvature_weight and y_pred.shape[-1] > 2:
            loss = loss + self.curvature_weight * self.base(
                torch.diff(y_pred, n=2, dim=-1), torch.diff(y_true, n=2, dim=-1))
        return loss


class XANESNetRegressor(NeuralNetRegressor):
    """XANESNET: a multilayer perceptron from wACSF features to XANES spectra.

    A skorch ``NeuralNetRegressor`` around :class:`XANESNetModule` that
    behaves as a scikit-learn regressor: ``fit(X, y)`` on arrays, ``predict``,
    ``score`` (R^2), ``clone``, ``get_params``/``set_params`` and
    ``GridSearchCV`` over every parameter below.  The input and output sizes
    are taken from ``X`` and ``y`` at fit time, so the net follows any
    feature filter upstream in a ``Pipeline``.

    The defaults are better than the paper's recipe (see Notes); the
    paper's recipe is ``XANESNetRegressor(**XANESNetRegressor.paper_params())``.

    Parameters
    ----------
    module : type of torch.nn.Module, default=XANESNetModule
        The torch module class.  :class:`XANESNetModule` (or a subclass)
        receives ``n_features``, ``n_outputs``, ``hidden_sizes``, ``dropout``
        and ``batch_norm`` from this net, and any further argument as
        ``module__<name>`` (e.g. ``module__init``, ``module__activation``).
        Any other module class receives only ``n_features`` and
        ``n_outputs`` (from the data) plus its own ``module__<name>``
        arguments, and its ``forward`` must map a (batch, n_features) tensor
        to (batch, n_outputs); ``hidden_sizes``, ``dropout`` and
        ``batch_norm`` then do nothing.  See "Your own module" in Notes.
    hidden_sizes : tuple of int, default=(512, 512)
        Width of each hidden layer.
    dropout : float, default=0.1
        Dropout probability after each hidden layer (paper: 0.25).
    batch_norm : bool, default=True
        Batch normalisation in each hidden layer.
    lr : float, default=1e-3
        Learning rate of the optimizer (paper: 1e-4).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate from ``lr`` to 0 over the
        epochs of a fit (``torch.optim.lr_scheduler.CosineAnnealingLR``
        through skorch's ``LRScheduler`` callback); ``"constant"`` keeps it
        (paper).
    max_epochs : int or "auto", default="auto"
        Number of passes over the training data (paper: 512).  ``"auto"``
        adapts it to the data size: 300 epochs, or as many as it takes to
        reach 10,000 optimizer steps when a smaller data set gives fewer
        (``max(300, ceil(10_000 / ceil(n_samples / batch_size)))``; 300 for
        the V set's 1,189 training spectra, about 3,300 for 90).  The number
        used is ``n_epochs_``.  See "Small data sets" in Notes.
    batch_size : int, default=32
        Mini-batch size (paper: 32).
    optimizer : type of torch.optim.Optimizer, default=torch.optim.Adam
        Optimizer class; further arguments as ``optimizer__<name>``.  Adam and
        AdamW use PyTorch's fused implementation unless ``optimizer__fused``
        or ``optimizer__foreach`` is given.
    criterion : type of torch.nn.Module, default=torch.nn.MSELoss
        Loss, averaged over samples and outputs.
    derivative_weight : float, default=0.0
        Weight of the first-derivative term added to ``criterion`` along the
        output (energy) axis, see :class:`DerivativeLoss`; 0 trains on the
        pointwise loss alone.  A parameter like any other, so
        ``GridSearchCV`` can tune it.
    curvature_weight : float, default=0.0
        Weight of the second-derivative term, likewise.
    random_state : int, RandomState instance or None, default=None
        Seeds torch (weights, shuffling, dropout) at the start of ``fit``:
        the same integer gives the same fitted net (same machine, same
        thread count).  The global torch generator is restored after
        ``fit``.  ``None`` draws from torch's current state.
    n_threads : int or None, default=None
        Threads torch may use during ``fit`` and ``predict`` (restored
        afterwards); ``None`` leaves ``torch.get_num_threads()`` alone.
        Under ``GridSearchCV(n_jobs=k)`` joblib already limits each worker's
        threads.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"`` when a GPU is available.
    verbose : int, default=0
        1 prints skorch's table of the training loss per epoch.
    progress : {"auto", True, False}, default="auto"
        A progress bar over the epochs of ``fit`` (on standard error: epochs
        done, the training loss, the time left).  ``"auto"`` shows it for long
        fits only: at least ``progress_min_steps`` (2,000) optimizer steps, in
        the main process (not in the worker processes of a grid search or an
        ensemble), with standard error a terminal or a Jupyter kernel, and
        ``verbose=0``.  ``True`` always shows it, ``False`` never.
    train_split : callable or None, default=None
        skorch's internal validation split; ``None`` trains on all data
        (cross-validation is scikit-learn's job).
    iterator_train, iterator_valid : type, default=TensorBatchIterator
        Mini-batch iterators; ``torch.utils.data.DataLoader`` gives skorch's
        stock behaviour (several times slower for this model).  Training
        batches are shuffled unless ``iterator_train__shuffle=False``.
    callbacks : list or None, default=None
        Extra skorch callbacks.
    **kwargs
        Any other ``NeuralNetRegressor`` argument, or routed arguments such
        as ``module__init="torch"`` or ``optimizer__weight_decay=1e-5``.

    Attributes
    ----------
    module_ : XANESNetModule
        The fitted torch module.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str
        Feature names, when ``X`` was a DataFrame with string column names.
    n_outputs_ : int
        Number of outputs (energy points) seen during ``fit``.
    n_epochs_ : int
        Epochs the last ``fit`` (or each ``partial_fit``) trained for:
        ``max_epochs``, resolved from the data size when ``"auto"``.
    history_ : skorch.History
        Per-epoch (and per-batch) training loss and timings.
    interrupted_ : bool
        Whether the last ``fit`` / ``partial_fit`` was cut short by a
        KeyboardInterrupt (Ctrl-C).  Unlike plain skorch, which returns the
        part-trained net silently, the interrupt is raised again after
        training ends; the net keeps its part-trained state.

    See Also
    --------
    xanesnet_sk.pipeline.make_xanesnet_pipeline : filters, scaling, target
        standardisation and this net in one ``Pipeline``.
    sklearn.neural_network.MLPRegressor : the MLP of XANESNET's newest code.

    Notes
    -----
    *Architecture* (paper section II.B.1): ``[N x 512 x 512 x n_out]``,
    ``Linear -> BatchNorm1d -> ReLU -> Dropout`` on each hidden layer, a
    linear output layer, He-uniform weights, Adam, mean squared error.

    *Defaults and the paper.*  :meth:`paper_params` gives the paper's recipe:
    Adam at a constant learning rate of 1e-4, batches of 32, 512 epochs,
    dropout 0.25.  Measured on the published V K-edge set (250 spectra held
    out, ``random_state=0``) the recipe gives a median Delta mu of about
    4.0 %; standardising the targets per energy point (done by
    :func:`~xanesnet_sk.pipeline.make_xanesnet_pipeline`) brings it to about
    3.0 %, and the defaults here (learning rate 1e-3 with cosine decay,
    dropout 0.1, 300 epochs on that set) to about 2.6 % in 40 % fewer epochs.

    *Small data sets.*  A fixed number of epochs is a training budget that
    shrinks with the data: 300 epochs of 1,189 V spectra are 11,400 optimizer
    steps, 300 epochs of 88 spectra only 900, and such a net is undertrained.
    On the real Fe (110) and S (108) sets, 5-fold cross-validation
    (``xanesnet-sk validate --splits 5 --repeats 1 --seed 0``) gave a median
    Delta mu of 8.6 % and 45.8 % after 300 epochs (S worse than its mean
    spectrum, 43.2 %, and than a standardised ``RidgeCV``, 35.8 %), 8.6 %
    and 36.7 % after 1,000, and 8.7 % and 31.7 % after 3,000; weight decay
    (AdamW, up to 0.1) and narrower layers changed little.  So
    ``max_epochs="auto"`` keeps at least 10,000 steps: the V set is
    unchanged (300 epochs) and small sets train for longer, which costs
    seconds at their size (about 20 s for 100 spectra on one core).  With
    it, ``validate`` gives 8.5 % on Fe and 32.3 % on S, ahead of ``RidgeCV``
    (10.1 % and 35.8 %) under the same folds.

    *Data types.*  ``X`` and ``y`` must be array-like (unlike plain skorch,
    no ``Dataset`` or dict); they are converted to float32, the precision
    the net trains in.  ``predict`` returns float64 (the float32 outputs,
    widened) of shape (n_samples, n_outputs), or (n_samples,) when ``y``
    was 1-D.

    *Speed.*  Each epoch slices batches out of whole tensors
    (:class:`TensorBatchIterator`) instead of skorch's per-sample
    ``DataLoader``, and Adam runs fused: about 15,000 optimizer steps per
    minute on two CPU cores for the paper's architecture.

    *Pickling.*  A fitted net pickles with ``pickle`` or ``joblib.dump``
    (skorch stores the torch state inside the pickle).  Loading a pickle
    runs arbitrary code: only ever load pickles you made yourself or
    fully trust, never ones downloaded or received from others.  To share a
    model, share the training code and data, or ``save_params`` files
    (torch state dicts loaded with ``weights_only=True``).


    *Your own module.*  Any ``torch.nn.Module`` class whose constructor
    takes ``n_features`` and ``n_outputs`` can replace the MLP, e.g. a 1-D
    convolution over the feature vector::

        class ConvNet(torch.nn.Module):
            def __init__(self, n_features, n_outputs, channels=8, kernel_size=5):
                super().__init__()
                self.conv = torch.nn.Conv1d(1, channels, kernel_size, padding="same")
                self.out = torch.nn.Linear(channels * n_features, n_outputs)

            def forward(self, X):
                h = torch.relu(self.conv(X.unsqueeze(1)))
                return self.out(h.flatten(1))

        net = XANESNetRegressor(ConvNet, module__channels=16)
        GridSearchCV(net, {"module__channels": [4, 16]}, cv=5)

    The training loop, target standardisation in the pipeline, ensembles,
    ``random_state`` and ``n_threads`` work unchanged.

    *Tracking.*  skorch's own callbacks log training, e.g.
    ``callbacks=[skorch.callbacks.TensorBoard(SummaryWriter(log_dir))]``
    (``pip install "xanesnet-sk[tracking]"``) or
    ``skorch.callbacks.MlflowLogger``; ``xanesnet-sk learn --log-dir DIR``
    does the former.

    References
    ----------
    C. D. Rankine and T. J. Penfold, "Accurate, affordable, and generalizable
    machine learning simulations of transition metal x-ray absorption
    spectra using the XANESNET deep neural network", J. Chem. Phys. 156,
    164102 (2022).

    Examples
    --------
    >>> import numpy as np
    >>> from xanesnet_sk import XANESNetRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(64, 10)), rng.normal(size=(64, 20))
    >>> net = XANESNetRegressor(hidden_sizes=(32, 32), max_epochs=3, random_state=0)
    >>> net.fit(X, y).predict(X).shape
    (64, 20)
    >>> paper = XANESNetRegressor(**XANESNetRegressor.paper_params())
    >>> paper.lr, paper.max_epochs, paper.dropout
    (0.0001, 512, 0.25)
    """

    _parameter_constraints = {
        "hidden_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "derivative_weight": [Interval(Real, 0, None, closed="left")],
        "curvature_weight": [Interval(Real, 0, None, closed="left")],
        "progress": ["boolean", StrOptions({"auto"})],
    }

    #: ``progress="auto"``: a bar for fits of at least this many optimizer steps.
    progress_min_steps = 2_000

    #: ``max_epochs="auto"``: at least this many epochs ...
    auto_min_epochs = 300
    #: ... and at least this many optimizer steps.
    auto_min_steps = 10_000

    # routed module arguments that this net sets itself
    _module_args = ("n_features", "n_outputs", "hidden_sizes", "dropout", "batch_norm")

    def __init__(
        self,
        module=XANESNetModule,
        *,
        hidden_sizes=(512, 512),
        dropout=0.1,
        batch_norm=True,
        lr=1e-3,
        lr_schedule="cosine",
        max_epochs="auto",
        batch_size=32,
        optimizer=torch.optim.Adam,
        criterion=torch.nn.MSELoss,
        derivative_weight=0.0,
        curvature_weight=0.0,
        random_state=None,
        n_threads=None,
        device="cpu",
        verbose=0,
        progress="auto",
        train_split=None,
        iterator_train=TensorBatchIterator,
        iterator_valid=TensorBatchIterator,
        callbacks=None,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            train_split=train_split,
            callbacks=callbacks,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.lr_schedule = lr_schedule
        self.random_state = random_state
        self.n_threads = n_threads
        self.derivative_weight = derivative_weight
        self.curvature_weight = curvature_weight
        self.progress = progress

    @classmethod
    def paper_params(cls):
        """Parameters of the paper's training recipe (section II.B.1).

        Returns
        -------
        params : dict
            ``hidden_sizes=(512, 512)``, ``dropout=0.25``, ``batch_norm=True``,
            ``lr=1e-4`` (constant), ``batch_size=32``, ``max_epochs=512``, Adam,
            MSE.  Use as ``XANESNetRegressor(**XANESNetRegressor.paper_params())``
            and, for the paper's pipeline, without target standardisation.
        """
        return {
            "hidden_sizes": (512, 512),
            "dropout": 0.25,
            "batch_norm": True,
            "lr": 1e-4,
            "lr_schedule": "constant",
            "max_epochs": 512,
            "batch_size": 32,
            "optimizer": torch.optim.Adam,
            "criterion": torch.nn.MSELoss,
        }

    # ------------------------------------------------------------------ skorch hooks

    def get_default_callbacks(self):
        """skorch's default callbacks, plus the cosine learning-rate decay if chosen."""
        callbacks = list(super().get_default_callbacks())
        if self.lr_schedule == "cosine":
            callbacks.append(
                (
                    "lr_schedule",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                        T_max=_positive_int(self._epochs()),
                    ),
                )
            )
        if self.progress is not False:
            callbacks.append(("progress_bar", EpochProgressBar()))
        return callbacks

    def shows_progress(self, n_samples):
        """Whether a fit on ``n_samples`` samples shows the progress bar (``progress``).

        Parameters
        ----------
        n_samples : int
            Number of training samples.

        Returns
        -------
        bool
        """
        if self.progress != "auto":
            return bool(self.progress)
        steps = self.epochs_for(n_samples) * self._batches(n_samples)
        return steps >= self.progress_min_steps and not self.verbose and watched(sys.stderr)

    def epochs_for(self, n_samples):
        """Epochs a fit on ``n_samples`` samples trains for (``max_epochs`` resolved).

        Parameters
        ----------
        n_samples : int
            Number of training samples.

        Returns
        -------
        int
            ``max_epochs`` when it is an integer; for ``"auto"``,
            ``max(auto_min_epochs, ceil(auto_min_steps / batches per epoch))``.
        """
        if self.max_epochs != "auto":
            return self.max_epochs
        return max(self.auto_min_epochs, -(-self.auto_min_steps // self._batches(n_samples)))

    def _batches(self, n_samples):
        """Mini-batches per epoch on ``n_samples`` samples."""
        batch = self.batch_size if isinstance(self.batch_size, Integral) and self.batch_size > 0 \
            else 1
        return max(1, -(-int(n_samples) // batch))

    def _epochs(self):
        """Epochs of the fit under way (``max_epochs`` outside a fit)."""
        if hasattr(self, "n_epochs_"):
            return self.n_epochs_
        return self.auto_min_epochs if self.max_epochs == "auto" else self.max_epochs

    def get_params_for(self, prefix):
        """Routed parameters; the module also gets its sizes and architecture knobs."""
        params = super().get_params_for(prefix)
        if prefix == "module":
            own = self._uses_own_module()
            taken = ("n_features", "n_outputs") if own else self._module_args
            clash = sorted(set(params) & set(taken))
            if clash:
                raise ValueError(
                    f"Set {', '.join(clash)} as XANESNetRegressor parameters, not as "
                    f"{', '.join('module__' + c for c in clash)} (n_features and n_outputs "
                    "come from the data)."
                    if not own else
                    f"{', '.join('module__' + c for c in clash)} cannot be set: n_features "
                    "and n_outputs come from the data."
                )
            if not hasattr(self, "n_features_in_"):
                raise ValueError(
                    "The net's input and output sizes come from X and y: call fit(X, y) "
                    "instead of initialize()."
                )
            params.update(n_features=self.n_features_in_, n_outputs=self.n_outputs_)
            if not own:
                params.update(
                    hidden_sizes=tuple(int(h) for h in self.hidden_sizes),
                    dropout=float(self.dropout),
                    batch_norm=bool(self.batch_norm),
                )
        elif prefix in ("iterator_train", "iterator_valid"):
            iterator = getattr(self, prefix)
            if prefix == "iterator_train":
                params.setdefault("shuffle", True)
            if isinstance(iterator, type) and issubclass(iterator, TensorBatchIterator):
                params.setdefault("device", self.device)
        return params

    def _uses_own_module(self):
        """True when ``module`` is not XANESNetModule (nor a subclass)."""
        return not (isinstance(self.module, type) and issubclass(self.module, XANESNetModule))

    def initialize_criterion(self):
        """The criterion, wrapped in :class:`DerivativeLoss` when a derivative weight is set."""
        super().initialize_criterion()
        if self.derivative_weight or self.curvature_weight:
            self.criterion_ = DerivativeLoss(
                self.criterion_, self.derivative_weight, self.curvature_weight
            )
        return self

    def get_params_for_optimizer(self, prefix, named_parameters):
        """Optimizer arguments; Adam/AdamW run fused unless told otherwise."""
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if (
            self.optimizer in (torch.optim.Adam, torch.optim.AdamW)
            and "fused" not in kwargs
            and "foreach" not in kwargs
            and _fused_adam_supported(self.device)
        ):
            kwargs["fused"] = True
        return args, kwargs

    def _set_training(self, training=True):
        # skorch switches train/eval mode on every batch, which walks every
        # submodule; do it only when the mode actually changes
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and any(
                m.training != training for m in module.modules()
            ):
                module.train(training)

    def _check_params(self):
        """ValueError (sklearn's InvalidParameterError) for an invalid parameter.

        Run by :meth:`initialize`; callable before any data is at hand.  A
        CUDA ``device`` is refused when torch sees no CUDA GPU.
        """
        validate_parameter_constraints(
            self._parameter_constraints,
            {key: getattr(self, key) for key in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        module = self.module
        if not (isinstance(module, nn.Module)
                or (isinstance(module, type) and issubclass(module, nn.Module))):
            hint = (f"module={module}, the class itself, not the string {module!r}"
                    if isinstance(module, str) else "module=MyModule (the class itself)")
            raise ValueError(
                f"module must be a torch.nn.Module class, got {module!r}: pass {hint}"
            )
        try:
            sizes = [int(h) for h in self.hidden_sizes]
        except (TypeError, ValueError):
            sizes = [0]
        if any(h < 1 for h in sizes):
            raise ValueError(f"hidden_sizes must be positive integers, got {self.hidden_sizes!r}")
        if self.device is None:  # skorch: leave tensors and module where they are
            return
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device {self.device!r} is not a torch device ({exc})") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r}, but torch finds no CUDA GPU on this "
                             "machine (torch.cuda.is_available() is False); use device='cpu'")

    def initialize(self):
        """Validate the parameters, seed torch if asked, build module and optimizer.

        A module of the user's own (``module`` not :class:`XANESNetModule`) is
        run once on a batch of two zero feature vectors, in eval mode and
        without gradients, so that one whose ``forward`` fails on
        ``n_features`` inputs or does not return ``(batch, n_outputs)`` is
        refused with a message naming it, before any training.
        """
        self._check_params()
        if self.random_state is not None:
            torch.manual_seed(_seed_of(self.random_state))
        super().initialize()
        if self._uses_own_module():
            self._check_module_output()
        return self

    def _probe_input(self):
        """The batch :meth:`_check_module_output` runs the module on."""
        return torch.zeros(2, self.n_features_in_)

    def _check_module_output(self):
        """ValueError unless ``module_`` maps a (2, n_features) batch to (2, n_outputs)."""
        module = self.module_
        name = getattr(self.module, "__name__", type(module).__name__)
        probe = self._probe_input()
        shape = tuple(probe.shape)
        modes = {m: m.training for m in module.modules()}
        module.eval()
        try:
            with torch.no_grad():
                out = module(probe.to(self.device))
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ValueError(
                f"module {name} fails on a batch of shape {shape} ({type(exc).__name__}: "
                f"{detail}): its forward must take (batch, n_features) with the n_features "
                f"it is given ({self.n_features_in_} here)"
            ) from exc
        finally:
            for m, training in modes.items():
                m.training = training
        if isinstance(out, (tuple, list)):
            out = out[0]
        got = tuple(getattr(out, "shape", ()))
        if got != (shape[0], self.n_outputs_):
            raise ValueError(
                f"module {name} returns shape {got} for a batch of shape {shape}, but y has "
                f"{self.n_outputs_} outputs: its forward must return (batch, n_outputs); "
                "build its last layer with the n_outputs argument it is given"
            )

    # ------------------------------------------------------------------ sklearn API

    def _threads(self):
        return _NumThreads(self.n_threads)

    def _rng_scope(self):
        if self.random_state is None:
            return _NullContext()
        devices = []
        if str(self.device).startswith("cuda") and torch.cuda.is_available():
            devices = [torch.device(self.device).index or torch.cuda.current_device()]
        return torch.random.fork_rng(devices=devices)

    def _validate_fit_data(self, X, y, reset):
        X, y = validate_data(
            self, X, y, reset=reset, multi_output=True, y_numeric=True, dtype=np.float32
        )
        y = np.asarray(y, dtype=np.float32)
        if reset:
            self.y_ndim_ = y.ndim
        y = y.reshape(len(y), -1)
        if reset:
            self.n_outputs_ = y.shape[1]
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} outputs, but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}."
            )
        if self.batch_norm and not self._uses_own_module() and len(X) < 2:
            raise ValueError(
                f"Batch normalisation needs at least 2 training samples, got {len(X)}."
            )
        return np.ascontiguousarray(X), np.ascontiguousarray(y)

    def fit(self, X, y, **fit_params):
        """Initialise the net (unless ``warm_start``) and train it on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (converted to float32).
        y : array-like of shape (n_samples, n_outputs) or (n_samples,)
            Targets, e.g. spectra (converted to float32).
        **fit_params : dict
            Passed on to skorch's ``fit``.

        Returns
        -------
        self : XANESNetRegressor
            The fitted net.
        """
        reset = not (self.warm_start and self.initialized_)
        X, y = self._validate_fit_data(X, y, reset=reset)
        self.n_epochs_ = self.epochs_for(len(X))
        with self._rng_scope(), self._threads():
            super().fit(X, y, **fit_params)
        return self._raise_if_interrupted()._check_finite()

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``n_epochs_`` more epochs, initialising first if needed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples, n_outputs) or (n_samples,)
            Targets.
        classes : None
            Unused; for API compatibility.
        **fit_params : dict
            Passed on to skorch's ``partial_fit``.

        Returns
        -------
        self : XANESNetRegressor
            The fitted net.
        """
        X, y = self._validate_fit_data(X, y, reset=not self.initialized_)
        self.n_epochs_ = self.epochs_for(len(X))
        with self._threads():
            super().partial_fit(X, y, classes=classes, **fit_params)
        return self._raise_if_interrupted()._check_finite()

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's training loop; a KeyboardInterrupt is recorded in ``interrupted_``.

        skorch stops training quietly on Ctrl-C and returns the part-trained
        net as if it were complete.  Here the interrupt is recorded and raised
        again by :meth:`fit` / :meth:`partial_fit` once skorch has finished
        its end-of-training callbacks, so that a pipeline, a cross-validation
        or a command never takes a cut-short net for a trained one.
        """
        self.interrupted_ = False
        try:
            if epochs is None:
                epochs = self._epochs()
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            self.interrupted_ = True
            raise

    def _check_finite(self):
        """ValueError when training produced non-finite weights or a non-finite loss
        (as ``sklearn.neural_network.MLPRegressor`` does)."""
        for name, param in self.module_.named_parameters():
            if not torch.isfinite(param).all():
                raise ValueError(
                    f"Training produced non-finite weights ({name}): the learning rate "
                    f"(lr={self.lr!r}) may be too high, or the data hold very large values."
                )
        losses = [row["train_loss"] for row in self.history_ if "train_loss" in row]
        if losses and not np.isfinite(losses[-1]):
            raise ValueError(
                f"Training produced a non-finite loss ({losses[-1]}) in the last epoch: the "
                f"learning rate (lr={self.lr!r}) may be too high."
            )
        return self

    def _raise_if_interrupted(self):
        if getattr(self, "interrupted_", False):
            done = completed_epochs(self)
            raise KeyboardInterrupt(
                f"training interrupted after {done} of {self._epochs()} epochs; the net "
                "keeps its part-trained state (interrupted_ is True)"
            )
        return self

    def predict(self, X, return_std=False):
        """Predict spectra for X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (converted to float32).
        return_std : bool, default=False
            Only ``False``: one net has no error bar.  ``True`` raises a
            ValueError that points to ensembles
            (``make_xanesnet_pipeline(n_ensemble=5)``).

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_outputs) or (n_samples,)
            Predictions as float64 (computed in float32); 1-D when the net
            was fitted on a 1-D ``y``.
        """
        if return_std:
            raise ValueError(
                "return_std=True needs an ensemble: a single net has no spread.  Build the "
                "pipeline with make_xanesnet_pipeline(..., n_ensemble=5) (or wrap the net in "
                "xanesnet_sk.ensemble.DeepEnsembleRegressor)."
            )
        self.check_is_fitted(["module_", "n_features_in_"])
        X = self._predict_input(X)
        with self._threads():
            batch_size = self._direct_batch_size(len(X))
            if batch_size is None:
                y_pred = super().predict(X)
            else:
                y_pred = self._forward_batches(X, batch_size)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        return y_pred.ravel() if self.y_ndim_ == 1 else y_pred

    def _predict_input(self, X):
        """``validate_data(self, X, reset=False, dtype=np.float32)``, C-contiguous.

        A plain finite float array of the fitted width and at least one row
        passes every check of ``validate_data`` and comes out as the same
        float32 values; it skips sklearn's generic machinery (about 0.1 ms,
        more than the net needs for one row).  Anything else (NaN, a wrong
        width, a DataFrame, a list) goes through ``validate_data``, which
        raises or warns as it always has.
        """
        if _plain_input(self, X):
            return np.ascontiguousarray(X, dtype=np.float32)
        return np.ascontiguousarray(validate_data(self, X, reset=False, dtype=np.float32))

    def _direct_batch_size(self, n_samples):
        """Batch size of skorch's prediction loop when :meth:`_forward_batches` reproduces
        it exactly, else None (skorch's own loop then runs).

        That is: skorch's own prediction methods, a skorch ``Dataset`` and
        :class:`TensorBatchIterator` without options other than its batch size
        and device, and a CPU device.
        """
        cls = type(self)
        if not (self.iterator_valid is TensorBatchIterator and self.dataset is SkorchDataset
                and cls.get_params_for is XANESNetRegressor.get_params_for
                and all(getattr(cls, name) is getattr(NeuralNet, name)
                        for name in _SKORCH_PREDICT)):
            return None
        routed = [key for key in vars(self) if key.startswith(("iterator_valid__", "dataset__"))]
        if str(self.device) != "cpu" or set(routed) - {"iterator_valid__batch_size"}:
            return None
        batch_size = vars(self).get("iterator_valid__batch_size", self.batch_size)
        return n_samples if batch_size == -1 else batch_size

    def _forward_batches(self, X, batch_size):
        """skorch's ``predict_proba`` on float32 array X without its per-batch machinery.

        The same batches (:func:`_batch_stops`), the module in eval mode, no
        autograd (``inference_mode`` for :class:`XANESNetModule`, ``no_grad``
        as skorch for a module of the user's own), the predict nonlinearity,
        outputs joined: the same numbers bit for bit, in a fraction of the
        time for small inputs.
        """
        nonlin = self._get_predict_nonlinearity()
        X = torch.as_tensor(X)
        self._set_training(False)
        grad_off = torch.no_grad() if self._uses_own_module() else torch.inference_mode()
        outputs = []
        start = 0
        with grad_off:
            for stop in _batch_stops(len(X), batch_size):
                out = self.module_(X[start:stop])
                out = out[0] if isinstance(out, tuple) else out
                outputs.append(to_numpy(nonlin(out)))
                start = stop
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, 0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.non_deterministic = self.random_state is None
        return tags


def completed_epochs(net):
    """Number of epochs of ``net``'s history that ran to the end (have a training loss)."""
    history = getattr(net, "history_", None) or []
    return sum(1 for row in history if "train_loss" in row)


class EpochProgressBar(Callback):
    """tqdm bar over the epochs of a fit, with the training loss; shown when the net's
    :meth:`XANESNetRegressor.shows_progress` says so, and held only during the fit."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Open the bar (or none, see ``progress``)."""
        self.bar_ = tqdm(total=net._epochs(), desc=type(net).__name__, unit="epoch",
                         leave=False, file=sys.stderr, disable=not net.shows_progress(len(X)))

    def on_epoch_end(self, net, **kwargs):
        """Advance the bar and show the loss."""
        self.bar_.set_postfix(loss=f"{net.history[-1, 'train_loss']:.4g}", refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        """Close the bar."""
        self.bar_.close()
        del self.bar_


def _positive_int(value):
    # invalid values are reported by ``initialize``; here they must not raise
    return int(value) if isinstance(value, Integral) and value > 0 else 1


def _seed_of(random_state):
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


_FUSED_CACHE = {}


def _fused_adam_supported(device):
    """Whether this torch has a fused Adam for ``device`` (tried once per device type)."""
    kind = torch.device(device).type
    if kind not in _FUSED_CACHE:
        try:
            param = torch.zeros(1, device=kind, requires_grad=True)
            torch.optim.Adam([param], fused=True)
            _FUSED_CACHE[kind] = True
        except (RuntimeError, TypeError, ValueError):
            _FUSED_CACHE[kind] = False
    return _FUSED_CACHE[kind]


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _NumThreads:
    """Set ``torch.set_num_threads(n)`` inside the block; restore it on exit."""

    def __init__(self, n_threads):
        self.n_threads = n_threads
        self._previous = None

    def __enter__(self):
        if self.n_threads is not None:
            self._previous = torch.get_num_threads()
            torch.set_num_threads(int(self.n_threads))
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            torch.set_num_threads(self._previous)
        return False
