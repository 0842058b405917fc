"""
Featurisation throughput against DScribe
========================================

How fast is :class:`wacsf.WACSFTransformer`?  The first chart shows the
figures **recorded** in the project's README ("Benchmarks": ``python -m
benchmarks.featurise``, paper defaults, 97 features, a 2-core Intel Xeon,
idle, 2026-11-24); they are read from that table, not measured here.  When
DScribe is installed (``pip install ".[bench]"``), the second chart times
both on this machine while these pages are built.  DScribe computes its own,
species-resolved ACSF, so the comparison is of throughput only.
"""

# %%
# Recorded figures (README, "Benchmarks", structures per second).
import re
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# run from the repository root, or from examples/ (as the gallery does)
readme = next(p for p in (Path("README.md"), Path("..", "README.md")) if p.is_file())
rows = {}
for line in readme.read_text(encoding="utf-8").splitlines():
    match = re.match(r"\|\s*(.+?)\s*\|\s*([\d,]+)\s*\|\s*$", line)
    if match and ("Numba" in match[1] or "NumPy" in match[1] or "DScribe" in match[1]):
        rows[match[1].replace("`", "")] = int(match[2].replace(",", ""))
for name, rate in rows.items():
    print(f"{rate:>8,d}  {name}")

fig_recorded, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
names = list(rows)
colours = ["tab:red" if "DScribe" in n else "tab:blue" for n in names]
ax.barh(names, [rows[n] for n in names], color=colours)
ax.set_xscale("log")
ax.invert_yaxis()
ax.set(xlabel="structures / s (log scale)",
       title="recorded (README): 2-core Intel Xeon, 2026-11-24")
ax.tick_params(axis="y", labelsize=8)

# %%
# Timed here, if DScribe is installed: the same 200 complexes through both,
# two threads / jobs, best of three after a warm-up (JIT compilation apart).
from wacsf import WACSFTransformer, g2_grid, g4_grid
from xanesnet_sk import make_synthetic_xanes

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

fig_timed, ax = plt.subplots(figsize=(8, 2.4), layout="constrained")
names = list(timed)
ax.barh(names, [timed[n] for n in names],
        color=["tab:red" if "DScribe" in n else "tab:blue" for n in names])
ax.set_xscale("log")
ax.invert_yaxis()
ax.set(xlabel="structures / s (log scale)",
       title="timed here, while building these pages")
ax.tick_params(axis="y", labelsize=8)
