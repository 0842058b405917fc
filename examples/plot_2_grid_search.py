"""
Search descriptor and net parameters together
=============================================

Because the featuriser is the first step of the XANESNET ``Pipeline``,
``GridSearchCV`` tunes wACSF parameters (``wacsf__*``) and net parameters
(``model__regressor__*``) in one search, cross-validated on structures, with
the paper's error measure as the score.  Few epochs and a small grid keep
this example fast; the paper's studies are ``xanesnet-sk wacsf-search``.
"""

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold

from xanesnet_sk import load_dataset, make_synthetic_xanes, make_xanesnet_pipeline
from xanesnet_sk.metrics import make_delta_mu_scorer

root = Path(os.environ.get("XANESNET_SK_DATA", ""))
if os.environ.get("XANESNET_SK_DATA") and (root / "fe_k_edge").is_dir():
    data = load_dataset(root / "fe_k_edge" / "xyz", root / "fe_k_edge" / "xanes")
    print("110 real Fe complexes with FDMNES spectra")
else:
    data = make_synthetic_xanes(n_samples=200, random_state=0)
    print("200 synthetic Fe complexes")
structures, spectra = data.structures, data.spectra

# %%
# The grid: the number of radial functions G2 (G4 kept at 64) and the
# net's dropout.  ``make_delta_mu_scorer`` returns minus the median delta
# mu (%), because scikit-learn maximises scores.
# One torch thread (``n_threads=1``): on a busy two-core machine two
# threads wait on each other, and a net this small gains little from two.
pipe = make_xanesnet_pipeline(random_state=0, max_epochs=40, n_threads=1,
                              wacsf_params={"n_jobs": 2})
grid = {"wacsf__n_g2": [8, 16, 32], "model__regressor__dropout": [0.1, 0.25]}
search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0),
                      scoring=make_delta_mu_scorer())
search.fit(structures, spectra)
print("best:", search.best_params_, f"median delta mu {-search.best_score_:.2f} %")

# %%
# Every candidate, as a table and as a heat map of the cross-validated
# median delta mu.
results = pd.DataFrame(search.cv_results_)
results["median delta mu (%)"] = -results["mean_test_score"]
table = results.pivot(index="param_model__regressor__dropout", columns="param_wacsf__n_g2",
                      values="median delta mu (%)")
table  # noqa: B018 (the gallery shows the last expression of a block)

# %%
fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
values = table.to_numpy(dtype=float)
image = ax.imshow(values, cmap="viridis_r")
ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
ax.set(xlabel="n_g2", ylabel="dropout", title="3-fold CV, median Δμ (%)")
for (i, j), value in np.ndenumerate(values):
    # dark text on light cells, white on dark ones (relative luminance of the cell)
    red, green, blue, _ = image.cmap(image.norm(value))
    light = 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.5
    ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="k" if light else "w")
colour_bar = fig.colorbar(image, ax=ax)
colour_bar.set_label("median Δμ (%), lower is better")
