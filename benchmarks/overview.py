"""The README's picture: held-out V K-edge spectra, computed and predicted.

``python -m benchmarks.overview`` trains the default net
(``make_xanesnet_pipeline(featurise=False, random_state=0)``) on the V set's
training split, ``train_test_split(x, y, test_size=250, random_state=0)`` of
``tmqm_k_edge_v.npz`` (``--data DIR`` or ``$XANESNET_SK_DATA``), predicts the
250 held-out spectra and draws four of them: the ones at the 10th, 50th, 75th
and 95th percentile of Δμ, each labelled with its Δμ, beside the histogram of
all 250.  Writes ``benchmarks/results/overview.png`` (``--output`` to change).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overview", description=__doc__)
    parser.add_argument("--data", help="folder with tmqm_k_edge_v.npz (default $XANESNET_SK_DATA)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "overview.png"))
    args = parser.parse_args(argv)
    root = Path(args.data or os.environ.get("XANESNET_SK_DATA", ""))
    if not (root / "tmqm_k_edge_v.npz").is_file():
        sys.exit("benchmarks.overview: pass --data DIR (holding tmqm_k_edge_v.npz) "
                 "or set XANESNET_SK_DATA")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.model_selection import train_test_split

    from xanesnet_sk import delta_mu, load_v_dataset, make_xanesnet_pipeline, xanesnet_grid

    data = load_v_dataset(root / "tmqm_k_edge_v.npz")
    x_train, x_test, y_train, y_test = train_test_split(
        data.features, data.spectra, test_size=250, random_state=0)
    model = make_xanesnet_pipeline(featurise=False, random_state=0).fit(x_train, y_train)
    pred = model.predict(x_test)
    errors = delta_mu(y_test, pred)
    energies = xanesnet_grid()

    fig, axes = plt.subplots(1, 5, figsize=(15, 3.2), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.1]})
    order = np.argsort(errors)
    for ax, pct in zip(axes[:4], (10, 50, 75, 95)):
        i = order[int(round(pct / 100 * (len(order) - 1)))]
        ax.plot(energies, y_test[i], color="black", lw=1.6, label="computed (FDMNES)")
        ax.plot(energies, pred[i], color="tab:orange", lw=1.4, ls="--", label="predicted")
        ax.set_title(f"{pct}th percentile: Δμ = {errors[i]:.1f} %", fontsize=10)
        ax.set_xlabel("E − E₀ (eV)")
    axes[0].set_ylabel("normalised μ(E)")
    axes[0].legend(frameon=False, fontsize=8, loc="lower right")
    axes[4].hist(errors, bins=np.arange(0, np.ceil(errors.max()) + 0.5, 0.5), color="tab:blue")
    axes[4].axvline(np.median(errors), color="black", ls=":",
                    label=f"median {np.median(errors):.2f} %")
    axes[4].set_xlabel("Δμ (%)")
    axes[4].set_ylabel("held-out spectra")
    axes[4].set_title("all 250 held-out V complexes", fontsize=10)
    axes[4].legend(frameon=False, fontsize=8)
    fig.suptitle("V K-edge XANES predicted from structure alone (default net, 1,189 training "
                 "complexes)", fontsize=11)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    print(f"median Δμ {np.median(errors):.2f} % over {len(errors)} held-out spectra -> {out}")


if __name__ == "__main__":
    main()
