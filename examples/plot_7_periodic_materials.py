"""
Periodic materials: every iron site of a crystal
================================================

:class:`wacsf.WACSFTransformer` reads ``atoms.pbc`` and ``atoms.cell``:
the neighbours of an absorber in a crystal, a slab or an MD cell are all
periodic images within the cutoff.  With ``absorber_element="Fe"`` every iron
atom is an absorbing site, one feature row each, and ``sites_`` says which
structure and atom each row is.  Here: bcc and fcc iron, rock-salt FeO and
an iron slab, built with ASE (no files needed), and how the features follow
the lattice parameter.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from ase.build import bulk, fcc111

from wacsf import WACSFTransformer

structures = {
    "bcc Fe": bulk("Fe", "bcc", a=2.87),
    "fcc Fe": bulk("Fe", "fcc", a=3.59),
    "FeO, rock salt": bulk("FeO", "rocksalt", a=4.33),
    # a three-layer fcc(111) slab, periodic in x and y only, vacuum above and below
    "Fe(111) slab": fcc111("Fe", size=(2, 2, 3), a=3.59, vacuum=8.0),
}
for name, atoms in structures.items():
    print(f"{name:16s} {len(atoms):2d} atoms, pbc={atoms.pbc.tolist()}")

# %%
# One row per Fe atom.  ``sites_`` holds ``(structure, atom)`` for each row:
# the slab contributes its twelve atoms, top and bottom layers included.
wacsf = WACSFTransformer(absorber_element="Fe")
X = wacsf.fit_transform(list(structures.values()))
print(X.shape)
print(wacsf.sites_[:6].tolist(), "...")

# %%
# A cell and any supercell of it describe the same material, so every site
# of a 3 x 3 x 3 bcc supercell has the features of the one-atom cell.
supercell = structures["bcc Fe"].repeat((3, 3, 3))
X_super = WACSFTransformer(absorber_element="Fe").fit_transform([supercell])
print(f"{len(X_super)} sites, largest difference from the 1-atom cell: "
      f"{np.abs(X_super - X[0]).max():.1e}")

# %%
# The G2 features (radial functions centred from 0.5 to 5.5 Å) of one site
# of each material, and of the slab's surface and middle layers.  The
# middle layer has the 12 nearest neighbours of bulk fcc iron, so up to the
# first shell its curve lies on the fcc one; a surface atom has 9, so its
# G2 are smaller.
names = wacsf.get_feature_names_out()
g2 = [i for i, n in enumerate(names) if n.startswith("g2_")]
slab = len(structures) - 1
slab_rows = np.flatnonzero(wacsf.sites_[:, 0] == slab)
heights = structures["Fe(111) slab"].positions[wacsf.sites_[slab_rows, 1], 2]
rows = {"bcc Fe": 0, "fcc Fe": 1, "FeO, rock salt": 2,
        "slab, surface layer": slab_rows[np.argmax(heights)],
        "slab, middle layer": slab_rows[np.argsort(heights)[len(heights) // 2]]}

fig_g2, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
for label, row in rows.items():
    ax.plot(np.arange(1, len(g2) + 1), X[row, g2], marker=".", lw=1, label=label)
ax.set(xlabel="G2 function (centre from 0.5 Å to 5.5 Å)", ylabel="G2 value (weights: Z)",
       title="radial wACSF of one Fe site")
ax.legend(frameon=False, fontsize=8)

# %%
# Compressing or stretching bcc iron moves its neighbour shells through the
# radial functions: each G2 rises and falls as a shell passes its centre.
lattice = np.linspace(2.6, 3.2, 31)
X_strain = WACSFTransformer().fit_transform([bulk("Fe", "bcc", a=a) for a in lattice])
fig_strain, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
for i in (16, 20, 24, 28):
    column = g2[i - 1]
    ax.plot(lattice, X_strain[:, column], label=f"G2 #{i}: {names[column]}")
ax.axvline(2.87, color="0.5", ls=":", lw=1)
ax.text(2.875, 0.95, "2.87 Å", transform=ax.get_xaxis_transform(), fontsize=8, va="top")
ax.set(xlabel="bcc lattice parameter a (Å)", ylabel="G2 value",
       title="features under strain")
ax.legend(frameon=False, fontsize=7)
