"""
Featurise structures and inspect their wACSF
=============================================

:class:`wacsf.WACSFTransformer` turns each structure into one vector
``[G1, G2 x 32, G4 x 64]`` of its absorbing atom (paper defaults, 97
features).  Here we featurise a set of complexes, look at the feature names
(they carry the parameters), and draw the radial and angular terms the
functions are built from (the paper's Fig. 2).
"""

# %%
# Data: the 110 real Fe complexes when ``XANESNET_SK_DATA`` names the data
# directory, else synthetic Fe complexes (made up: geometry-dependent model
# spectra, not physics).
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from wacsf import WACSFTransformer, g2_grid, g4_grid, read_structures
from xanesnet_sk import make_synthetic_xanes

data_dir = Path(os.environ.get("XANESNET_SK_DATA", "")) / "fe_k_edge" / "xyz"
if os.environ.get("XANESNET_SK_DATA") and data_dir.is_dir():
    structures = read_structures(data_dir)
    print(f"{len(structures)} real Fe complexes from {data_dir.parent.name}")
else:
    structures = make_synthetic_xanes(n_samples=110, random_state=0).structures
    print(f"{len(structures)} synthetic Fe complexes")

# %%
# Featurise.  ``fit`` only checks the parameters: the transformer is
# stateless, and the output is a float64 array with one row per structure.
wacsf = WACSFTransformer(n_jobs=2)
X = wacsf.fit_transform(structures)
print(X.shape, X.dtype, "backend:", wacsf.backend_)

# %%
# The names say which function each column is, with its parameters, so a
# table of features needs no bookkeeping:
wacsf.set_output(transform="pandas")
table = wacsf.transform(structures[:5])
table.iloc[:, [0, 1, 2, 33, 34, 40]]

# %%
# The radial terms: 32 *shifted* Gaussians for G2 (equal widths, centres
# spread from 0.5 to 5.5 Angstrom) and 8 *centred* ones for G4 (centred on
# the absorber, growing widths; each repeated for lambda = +-1 and zeta = 1,
# 2, 4, 8), all times the cutoff function.  The angular term of G4 is
# ``2**(1 - zeta) (1 + lambda cos theta)**zeta``.
r = np.linspace(0, 6, 400)
f_c = 0.5 * (np.cos(np.pi * r / 6.0) + 1)
eta2, mu2 = g2_grid(32, r_cut=6.0)
eta4, mu4 = g4_grid(64, r_cut=6.0)
theta = np.linspace(0, np.pi, 400)

fig_terms, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
for e, m in zip(eta2, mu2):
    axes[0].plot(r, np.exp(-e * (r - m) ** 2) * f_c, lw=0.8)
axes[0].set(title="G2 radial terms, shifted", xlabel="r (Å)",
            ylabel="exp(−η (r − μ)²) · f_c(r)")
for e, m in zip(eta4, mu4):
    axes[1].plot(r, np.exp(-e * (r - m) ** 2) * f_c, lw=0.8)
axes[1].set(title="G4 radial terms, centred", xlabel="r (Å)",
            ylabel="exp(−η r²) · f_c(r)")
colours = dict(zip((1, 2, 4, 8), ("tab:blue", "tab:orange", "tab:green", "tab:red")))
for zeta, colour in colours.items():
    for lam, style in ((1, "-"), (-1, "--")):
        axes[2].plot(np.degrees(theta), 2 ** (1 - zeta) * (1 + lam * np.cos(theta)) ** zeta,
                     style, color=colour)
# one legend entry per colour (ζ) and one per line style (λ)
handles = [Line2D([], [], color=c, label=f"ζ = {z}") for z, c in colours.items()]
handles += [Line2D([], [], color="0.3", ls="-", label="λ = +1"),
            Line2D([], [], color="0.3", ls="--", label="λ = −1")]
axes[2].set_xticks([0, 45, 90, 135, 180])
axes[2].set(title="G4 angular term", xlabel="θ (degrees)",
            ylabel="2^(1−ζ) (1 + λ cos θ)^ζ", ylim=(0, 2.6))
axes[2].legend(handles=handles, fontsize=7, frameon=False, loc="upper center", ncols=2)

# %%
# What the set looks like in feature space: the mean and spread of every
# feature over the structures (G2 and G4 scale with the weights, here Z).
X = np.asarray(wacsf.set_output(transform="default").transform(structures))
fig_mean, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
ax.errorbar(np.arange(X.shape[1]), X.mean(axis=0), yerr=X.std(axis=0), fmt=".", ms=3, lw=0.6)
ax.axvspan(0.5, 32.5, color="0.93", zorder=0)
ax.set(xlabel="feature index (0: G1, 1–32: G2, 33–96: G4)", ylabel="value (mean ± std)",
       yscale="symlog", xlim=(-1, X.shape[1]))
# the block labels inside the axes (axes coordinates in y), clear of the frame
for x, name in ((16.5, "G2"), (64.5, "G4")):
    ax.text(x, 0.9, name, ha="center", va="center", transform=ax.get_xaxis_transform(),
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
