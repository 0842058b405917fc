"""
Featurisation throughput against DScribe
========================================

How fast is :class:`wacsf.WACSFTransformer`?  The first chart shows the
figures **recorded** on the :doc:`benchmarks page </benchmarks>` (``python -m
benchmarks.featurise``, paper defaults, 97 features, a 2-core Intel Xeon,
idle, 2026-11-24); they are read from that page's table
(``docs/benchmarks_data/featurise_2026-11-24.csv``), not measured here.  When
DScribe is installed (``pip install ".[bench]"``), the second chart times
both on this machine while these pages are built.  DScribe computes its own,
species-resolved ACSF, so the comparison is of throughput only.
"""

# %%
# Recorded figures (structures per second), drawn on a linear axis: every bar
# starts at zero, so lengths compare as the numbers do.
import csv
import time
from pathlib import Path

import matplotlib.pyplot as plt

from wacsf import WACSFTransformer, g2_grid, g4_grid
from xanesnet_sk import make_synthetic_xanes

# run from the repository root, or from examples/ (as the gallery does)
table = next(p for p in (Path("docs"), Path("..", "docs"))
             if p.is_dir()) / "benchmarks_data" / "featurise_2026-11-24.csv"
with open(table, newline="", encoding="utf-8") as f:
    rows = {name: int(rate) for name, rate in list(csv.reader(f))[1:]}
for name, rate in rows.items():
    print(f"{rate:>8,d}  {name}")


def bar_chart(rates, title, height):
    """Horizontal bars from zero, each labelled with its value; DScribe in red."""
    fig, ax = plt.subplots(figsize=(8, height), layout="constrained")
    names = list(rates)
    bars = ax.barh(names, [rates[n] for n in names],
                   color=["tab:red" if "DScribe" in n else "tab:blue" for n in names])
    ax.bar_label(bars, [f"{rates[n]:,.0f}" for n in names], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18 * max(rates.values()))
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    ax.set(xlabel="structures / s", title=title)
    ax.tick_params(axis="y", labelsize=8)
    return fig


fig_recorded = bar_chart(rows, "recorded: 2-core Intel Xeon, 2026-11-24", 3.2)

# %%
# Timed here, if DScribe is installed: the same 200 complexes through both,
# two threads / jobs, best of three after a warm-up (JIT compilation apart).
structures = make_synthetic_xanes(n_samples=200, random_state=0).structures


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


wacsf = WACSFTransformer(n_jobs=2, progress=False)
wacsf.transform(structures[:2])
timed = {"wACSF, Numba, 2 threads": len(structures) / best_of(lambda: wacsf.transform(structures))}
wacsf_numpy = WACSFTransformer(backend="numpy")
timed["wACSF, NumPy reference"] = 50 / best_of(lambda: wacsf_numpy.transform(structures[:50]), 1)

try:
    from dscribe.descriptors import ACSF
except ImportError:
    print("DScribe is not installed (pip install '.[bench]'): timing wACSF only")
else:
    eta2, mu2 = g2_grid(32)
    eta4, _ = g4_grid(64)
    acsf = ACSF(r_cut=6.0, g2_params=[[e, m] for e, m in zip(eta2, mu2)],
                g4_params=[[e, z, la] for e in eta4 for la in (1, -1) for z in (1, 2, 4, 8)],
                species=sorted({int(z) for a in structures for z in a.numbers}))
    centers = [[0]] * len(structures)
    acsf.create(structures[:2], centers=centers[:2], n_jobs=1)
    timed["DScribe ACSF, 2 jobs"] = len(structures) / best_of(
        lambda: acsf.create(structures, centers=centers, n_jobs=2))

for name, rate in timed.items():
    print(f"{rate:>10,.0f}  {name}")

fig_timed = bar_chart(timed, "timed here, while building these pages", 2.4)
