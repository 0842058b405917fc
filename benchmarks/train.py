"""Training benchmark: XANESNetRegressor (paper recipe, our defaults) vs MLPRegressor.

Run ``python -m benchmarks.train`` (``--quick`` for a smoke run of a few
epochs, ``--json PATH`` to save the results).  Data: ``tmqm_k_edge_v.npz``
from ``--data`` (a file or the folder holding it) or ``$XANESNET_SK_DATA``.

All estimators get the same split, ``train_test_split(x, y, test_size=250,
random_state=0)``, and the same features: the pipeline's preprocessing
(drop the lowest-variance 25 %, standard scaling) is fitted once on the
training set and applied before the clock starts.  Each "fit" time is the
wall time of the regressor's ``fit`` alone, after one untimed warm-up fit of
two epochs (process CPU time is recorded too: on a machine shared with
other jobs, wall time grows but a one-thread fit's CPU time hardly does;
the 1-minute load average is saved with each row); Delta mu (per cent, per
held-out spectrum) is summarised by its median and quartiles.  Rows:

- ``ours, paper recipe``: ``XANESNetRegressor(**paper_params())`` on raw
  targets (512 epochs, Adam 1e-4, batch 32, dropout 0.25).
- ``ours, defaults``: ``TransformedTargetRegressor(XANESNetRegressor(),
  StandardScaler())``, as ``make_xanesnet_pipeline`` builds it (300 epochs,
  Adam 1e-3 with cosine decay, dropout 0.1, targets standardised).
- ``sklearn MLPRegressor``: ``hidden_layer_sizes=(512, 512)``, Adam 1e-4,
  batch 32, 512 epochs (early stopping off: ``n_iter_no_change`` =
  ``max_iter``), float64 as given, raw targets (XANESNET's newest code).
- ``ours, paper recipe, skorch DataLoader``: the paper recipe with
  skorch's stock ``DataLoader`` for a few epochs only (``--dataloader-epochs``),
  to show the per-epoch cost the fast iterator removes; its Delta mu is
  that of a barely trained net.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

DATA_ENV = "XANESNET_SK_DATA"
FILE_NAME = "tmqm_k_edge_v.npz"


def _data_path(arg):
    value = arg or os.environ.get(DATA_ENV)
    if not value:
        sys.exit(f"No data: pass --data PATH or set {DATA_ENV} (folder with {FILE_NAME}).")
    path = Path(value)
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        sys.exit(f"{path} does not exist")
    return path


def _machine():
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return model


def _versions():
    import sklearn
    import skorch
    import torch

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
    }


def _loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run(data_path, quick=False, threads=None, dataloader_epochs=32):
    """Fit every configuration once and return the results as a dict."""
    import torch
    from sklearn.base import clone
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler
    from torch.utils.data import DataLoader

    from xanesnet_sk.metrics import delta_mu
    from xanesnet_sk.model import XANESNetRegressor
    from xanesnet_sk.pipeline import make_xanesnet_pipeline

    load_start = _loadavg()
    if threads is not None:
        torch.set_num_threads(threads)
    data = np.load(data_path)
    x_tr, x_te, y_tr, y_te = train_test_split(data["x"], data["y"], test_size=250, random_state=0)
    prep = make_xanesnet_pipeline(featurise=False)[:-1].fit(x_tr, y_tr)
    f_tr, f_te = prep.transform(x_tr), prep.transform(x_te)

    paper = XANESNetRegressor(**XANESNetRegressor.paper_params(), random_state=0)
    ours = TransformedTargetRegressor(
        regressor=XANESNetRegressor(random_state=0), transformer=StandardScaler()
    )
    mlp = MLPRegressor(
        hidden_layer_sizes=(512, 512),
        solver="adam",
        learning_rate_init=1e-4,
        batch_size=32,
        max_iter=512,
        n_iter_no_change=512,
        random_state=0,
    )
    stock = XANESNetRegressor(
        **{**XANESNetRegressor.paper_params(), "max_epochs": dataloader_epochs},
        iterator_train=DataLoader,
        iterator_valid=DataLoader,
        random_state=0,
    )
    configs = [
        ("ours, paper recipe", paper, "max_epochs", 512),
        ("ours, defaults", ours, "regressor__max_epochs", 300),
        ("sklearn MLPRegressor", mlp, "max_iter", 512),
    ]
    if dataloader_epochs:
        configs.append(
            ("ours, paper recipe, skorch DataLoader", stock, "max_epochs", dataloader_epochs)
        )
    rows = []
    for label, estimator, epoch_param, epochs in configs:
        if quick:
            epochs = min(epochs, 3)
        estimator = clone(estimator).set_params(**{epoch_param: epochs})
        if epoch_param == "max_iter":
            estimator.set_params(n_iter_no_change=epochs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clone(estimator).set_params(**{epoch_param: 2}).fit(f_tr, y_tr)  # warm-up
            load_before = _loadavg()
            start, cpu_start = time.perf_counter(), time.process_time()
            estimator.fit(f_tr, y_tr)
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start
        errors = delta_mu(y_te, estimator.predict(f_te))
        q1, med, q3 = np.percentile(errors, [25, 50, 75])
        rows.append(
            {
                "label": label,
                "epochs": int(epochs),
                "fit_s": seconds,
                "fit_cpu_s": cpu_seconds,
                "s_per_epoch": seconds / max(epochs, 1),
                "delta_mu_median": float(med),
                "delta_mu_q1": float(q1),
                "delta_mu_q3": float(q3),
                "loadavg_1min_before": load_before,
            }
        )
        print(f"  {label}: {seconds:.1f} s, median dmu {med:.2f} %", file=sys.stderr, flush=True)
    ref = rows[0]
    for row in rows:
        row["fit_ratio_vs_paper_recipe"] = row["fit_s"] / ref["fit_s"]
        row["epoch_ratio_vs_paper_recipe"] = row["s_per_epoch"] / ref["s_per_epoch"]
    return {
        "benchmark": "train",
        "data": str(data_path),
        "n_train": int(len(f_tr)),
        "n_test": int(len(f_te)),
        "n_features_after_preprocessing": int(f_tr.shape[1]),
        "n_outputs": int(y_tr.shape[1]),
        "quick": quick,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": _machine(),
        "platform": platform.platform(),
        "versions": _versions(),
        "loadavg_1min_start": load_start,
        "loadavg_1min_end": _loadavg(),
        "results": rows,
    }


def format_table(result):
    """The results as a plain-text table."""
    head = (
        f"{'configuration':<40} {'epochs':>6} {'fit (s)':>8} {'s/epoch':>8} "
        f"{'x paper':>8} {'cpu (s)':>8} {'dmu med':>8} {'q1':>6} {'q3':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in result["results"]:
        lines.append(
            f"{r['label']:<40} {r['epochs']:>6d} {r['fit_s']:>8.1f} {r['s_per_epoch']:>8.4f} "
            f"{r['epoch_ratio_vs_paper_recipe']:>8.2f} {r['fit_cpu_s']:>8.1f} "
            f"{r['delta_mu_median']:>8.2f} "
            f"{r['delta_mu_q1']:>6.2f} {r['delta_mu_q3']:>6.2f}"
        )
    lines.append(
        f"({result['n_train']} train / {result['n_test']} held out, "
        f"{result['n_features_after_preprocessing']} features -> {result['n_outputs']} outputs; "
        f"torch threads {result['torch_threads']} of {result['cpu_count']} CPUs, "
        f"{result['machine']}; 'x paper' = s/epoch relative to 'ours, paper recipe'; "
        "cpu = process CPU time of the fit, all threads; dmu in %; "
        f"1-min load average {result['loadavg_1min_start']} at start)"
    )
    return "\n".join(lines)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data", help=f"{FILE_NAME} or its folder (default: ${DATA_ENV})")
    parser.add_argument("--quick", action="store_true", help="3 epochs per configuration")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument(
        "--dataloader-epochs", type=int, default=32,
        help="epochs of the stock-DataLoader row (0 leaves it out)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    result = run(_data_path(args.data), args.quick, args.threads, args.dataloader_epochs)
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
