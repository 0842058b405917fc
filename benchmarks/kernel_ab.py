"""Two versions of the wACSF CPU kernel module, timed in alternation on one thread.

    python -m benchmarks.kernel_ab OLD.py NEW.py [--rounds 11] [--n 3300]

``OLD.py`` and ``NEW.py`` are copies of ``wacsf/_cpu.py`` (for example
``git show HEAD~1:wacsf/_cpu.py > /tmp/old_cpu.py``), each imported as a
module of its own.  Every round runs the old kernel, then the new one, on
the same ``--n`` rotated, jittered copies of the real Fe complexes (paper
defaults, float64 and float32).  On a shared VM, whose speed drifts by
10-30 % between minutes, only such alternated pairs make a ratio: the
speed-up printed is the median over rounds of each round's old/new time.
Also printed: the largest relative difference between the two versions'
features (0 when they give the same numbers bit for bit).

Point ``NUMBA_CACHE_DIR`` at an empty folder: Numba names its cache files
after the source file, so two copies of the module in one cache can load
each other's code.
"""

import argparse
import importlib.util
import os
import statistics
import time

import numba
import numpy as np

from benchmarks.featurise import _default_data, _kernel_call, load_structures, rotated_copies
from wacsf._params import resolve_grids
from wacsf._structures import pack


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(old_path, new_path, rounds=11, n=3300):
    """Per dtype: old and new microseconds per structure (min, median), the paired
    median speed-up and the largest relative difference of the features."""
    numba.set_num_threads(1)
    modules = [_load(old_path, "wacsf_cpu_old"), _load(new_path, "wacsf_cpu_new")]
    base, _ = load_structures(_default_data())
    packed = pack(rotated_copies(base, n), r_cut=6.0)
    grids = resolve_grids(6.0, 0.0, 32, 64, "shifted", "centred", "xanesnet", (1.0, -1.0),
                          (1.0, 2.0, 4.0, 8.0))
    results = {}
    for dtype in (np.float64, np.float32):
        outs = [np.empty((packed.n_structures, 97), dtype=dtype) for _ in modules]
        for module, out in zip(modules, outs):  # compile
            _kernel_call(module.wacsf_features, packed, grids, out)
        times = [[], []]
        for _ in range(rounds):
            for k, (module, out) in enumerate(zip(modules, outs)):
                t0 = time.perf_counter()
                _kernel_call(module.wacsf_features, packed, grids, out)
                times[k].append((time.perf_counter() - t0) / packed.n_structures * 1e6)
        old, new = (np.asarray(t) for t in times)
        ref = outs[0].astype(np.float64)
        diff = np.abs(outs[1].astype(np.float64) - ref) / np.maximum(np.abs(ref), 1e-300)
        results[np.dtype(dtype).name] = dict(
            old_us=(float(old.min()), float(np.median(old))),
            new_us=(float(new.min()), float(np.median(new))),
            speedup=statistics.median(old / new), max_rel_diff=float(diff.max()))
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.kernel_ab",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("old", help="a copy of wacsf/_cpu.py: the version to compare against")
    ap.add_argument("new", help="a copy of wacsf/_cpu.py: the version to time")
    ap.add_argument("--rounds", type=int, default=11, help="alternated pairs of runs")
    ap.add_argument("--n", type=int, default=3300, help="rotated copies of the Fe set")
    args = ap.parse_args(argv)
    for path in (args.old, args.new):
        if not os.path.isfile(path):
            ap.error(f"{path}: no such file")
    print(f"{args.rounds} rounds, {args.n} structures, one thread, load "
          f"{os.getloadavg()[0]:.2f}")
    for dtype, r in compare(args.old, args.new, args.rounds, args.n).items():
        print(f"{dtype}: old {r['old_us'][0]:.2f} (median {r['old_us'][1]:.2f}) us, new "
              f"{r['new_us'][0]:.2f} (median {r['new_us'][1]:.2f}) us a structure; new "
              f"{r['speedup']:.3f}x the old (paired median); largest relative difference "
              f"{r['max_rel_diff']:.2e}")


if __name__ == "__main__":
    main()
