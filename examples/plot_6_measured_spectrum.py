"""
From a measured spectrum to candidate structures
================================================

An experimentalist holds a measured Fe K-edge spectrum and a list of
candidate structures: which one explains it?  Here the "measurement" is made
from a computed spectrum of the synthetic set
(:func:`xanesnet_sk.measured.simulate_measurement`: absolute energies from
E0 - 150 to E0 + 400 eV, a sloping background, another normalisation, 1 eV
broadening, noise at 1 % of the edge step) of a complex the model never saw
in training; it is normalised with xraylarch's ``pre_edge``
(:class:`~xanesnet_sk.measured.PreEdgeNormaliser`), aligned onto the
model's grid, and :func:`xanesnet_sk.screen` ranks all 120 candidates.
SYNTHETIC DATA: see :func:`~xanesnet_sk.make_synthetic_xanes`.

Normalising needs ``pip install "xanesnet-sk[experiment]"``; without it this
example shows the raw measurement only.
"""

# %%
# The measurement, as read from an XDI file.
import os
import tempfile

import matplotlib.pyplot as plt

from xanesnet_sk import make_synthetic_xanes, xanesnet_grid
from xanesnet_sk.measured import read_measured, simulate_measurement

ds = make_synthetic_xanes(120, random_state=0)
grid = xanesnet_grid()
measured_index = 7
m = simulate_measurement(grid, ds.spectra[measured_index], e0=7113.2, width=1.0, noise=0.01,
                         random_state=1)
path = os.path.join(tempfile.mkdtemp(), "sample.xdi")
with open(path, "w") as fh:
    fh.write("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mutrans\n"
             "# Element.symbol: Fe\n# Element.edge: K\n#----\n# energy mutrans\n")
    fh.writelines(f"{e:.2f} {mu:.6f}\n" for e, mu in zip(m.energies, m.mu))
spectrum = read_measured(path)
print(f"{spectrum.element} {spectrum.edge} edge, {spectrum.mu.size} points, "
      f"{spectrum.energies[0]:.0f} to {spectrum.energies[-1]:.0f} eV")

try:
    import larch  # noqa: F401

    HAVE_LARCH = True
except ImportError:
    HAVE_LARCH = False
    print('xraylarch is not installed (pip install "xanesnet-sk[experiment]"): '
          "only the raw measurement is shown")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
ax.plot(spectrum.energies, spectrum.mu, "k-", lw=0.8, label="measured mu")
ax.set(xlabel="E (eV)", ylabel="mu (raw)", title="the measurement as read")

# %%
# Normalisation with Larch's ``pre_edge``: the pre-edge line and the
# post-edge curve it fits, and the normalised spectrum on the model's grid
# (``-15 ... +60`` eV around E0).  The fits use the measurement's whole
# range, which is why it should reach well below and above the grid.
if HAVE_LARCH:
    from larch import Group
    from larch.xafs import pre_edge

    from xanesnet_sk.measured import prepare_measured

    group = Group()
    pre_edge(spectrum.energies, spectrum.mu, group=group, e0=7113.2)
    ax.plot(spectrum.energies, group.pre_edge, "C0--", label="pre-edge line")
    ax.plot(spectrum.energies, group.post_edge, "C1--", label="post-edge curve")
    ax.axvline(group.e0, color="0.6", lw=0.8)
    prepared = prepare_measured(spectrum, grid, e0=7113.2)
    print(f"E0 {prepared.e0:.1f} eV, edge step {prepared.edge_step:.3f}, "
          f"noise {prepared.noise:.3f} (normalised units)")
ax.legend(fontsize=8)

# %%
# A model trained on every complex but the measured one screens all 120
# candidates: the predictions are broadened by the measurement's 1 eV and
# each is compared after a least-squares scale (the model's spectra are not
# edge-step normalised).  ``score`` is delta mu (%), rank 1 the best.
if HAVE_LARCH:
    from xanesnet_sk import make_xanesnet_pipeline, screen

    train = [i for i in range(len(ds)) if i != measured_index]
    model = make_xanesnet_pipeline(random_state=0, max_epochs=100, hidden_sizes=(64,))
    model.fit([ds.structures[i] for i in train], ds.spectra[train])
    result = screen(model, ds.structures, path, e0=7113.2, broadening=1.0, top_k=4)
    print(result.ranking.head(8).to_string(index=False, float_format="{:.3g}".format))
    truth = ds.names[measured_index]
    rank = int(result.ranking.loc[result.ranking["name"] == truth, "rank"].iloc[0])
    print(f"the measured complex, {truth}, ranks {rank} of {len(result.ranking)}")
    result.plot()
