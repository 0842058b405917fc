"""
The inverse model: from a spectrum to the first shell
=====================================================

The question XANES users most often ask runs the other way: what structure
does a spectrum imply?  :func:`xanesnet_sk.make_inverse_pipeline` is the
same net with spectra in and structure descriptors out.  Here the targets
are the two numbers a chemist reads first, the mean first-shell distance and
the coordination number of the absorber
(:class:`xanesnet_sk.inverse.FirstShell`), on synthetic complexes.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xanesnet_sk import make_inverse_pipeline, make_synthetic_xanes
from xanesnet_sk.inverse import FirstShell

data = make_synthetic_xanes(n_samples=400, random_state=0)
shell = FirstShell().fit_transform(data.structures)     # (n, 2): distance, coordination
print(shell.shape, "first-shell distance", shell[:, 0].min().round(2), "to",
      shell[:, 0].max().round(2), "Å; coordination", sorted(set(shell[:, 1].astype(int).tolist())))
spectra_train, spectra_test, shell_train, shell_test = train_test_split(
    data.spectra, shell, test_size=100, random_state=0)

# %%
# Fit spectra -> (distance, coordination).  Both target columns are
# standardised inside the pipeline, so one net learns both.  A ridge
# regression on the standardised spectra is the baseline.
inverse = make_inverse_pipeline(random_state=0, max_epochs=150, n_threads=1)
inverse.fit(spectra_train, shell_train)
predicted = inverse.predict(spectra_test)
ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
baseline = ridge.fit(spectra_train, shell_train).predict(spectra_test)
for i, name in enumerate(("first-shell distance (Å)", "coordination number")):
    print(f"{name:26s} net R² {r2_score(shell_test[:, i], predicted[:, i]):.2f}, "
          f"MAE {mean_absolute_error(shell_test[:, i], predicted[:, i]):.3f};  "
          f"RidgeCV R² {r2_score(shell_test[:, i], baseline[:, i]):.2f}")

# %%
# The synthetic spectra depend smoothly on exactly these two quantities, so
# both models do well here.  On the 110 real Fe complexes (5-fold) the net
# reaches R² 0.61 for the distance and 0.63 for the coordination number,
# against 0.44 and 0.55 for RidgeCV (:doc:`/benchmarks`).
#
# Predicted against true on the 100 held-out complexes.  The coordination
# number comes out as a real number: round it to read it as a count.
fig_parity, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
for ax, i, name in zip(axes, (0, 1), ("first-shell distance (Å)", "coordination number")):
    ax.scatter(shell_test[:, i], predicted[:, i], s=12, alpha=0.7, label="inverse net")
    ax.scatter(shell_test[:, i], baseline[:, i], s=10, alpha=0.5, marker="x", label="RidgeCV")
    low = min(shell_test[:, i].min(), predicted[:, i].min())
    high = max(shell_test[:, i].max(), predicted[:, i].max())
    ax.plot([low, high], [low, high], color="k", lw=0.8)
    ax.set(xlabel=f"true {name}", ylabel=f"predicted {name}")
axes[0].legend(frameon=False, fontsize=8)
