"""Featurisation throughput: wACSF backends and DScribe's ACSF, one run, one table.

Run ``python -m benchmarks.featurise`` (``--quick`` for a seconds-long smoke
run, ``--json PATH`` to save the results).  Structures: the 110 real Fe
complexes (``DIR/fe_k_edge/xyz``) and ``--n-structures`` copies of them,
randomly rotated and jittered (0.02 Angstrom Gaussian, seeded).  When the data
are absent, random Fe-centred clusters built with ase stand in (said so in the
output).

Rules: one warm-up call on a tiny input first (its time, JIT compilation or
cache load, is reported apart); every figure is the median of ``--repeats``
(>= 3) timed runs; the timed call is ``WACSFTransformer(...).transform(list
of Atoms)`` end to end (packing included); "kernel only" rows time the kernel
on pre-packed arrays.  Ratios are against Numba with all threads on the same
structures.  DScribe computes its own ACSF (species-resolved, G4 without a mu
shift, its own conventions) with the same (eta, mu) / (eta, zeta, lambda)
values: compare throughput only, not numbers.  This is not a test.
"""

import argparse
import inspect
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

import wacsf
from wacsf import WACSFTransformer, _backends
from wacsf._params import resolve_grids
from wacsf._structures import pack

PAPER = dict(r_cut=6.0, n_g2=32, n_g4=64)


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _default_data():
    env = os.environ.get("XANESNET_SK_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _synthetic(n=110, seed=0):
    """Random Fe-centred clusters (ase), 40-80 atoms, no atom closer than 1 A."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(40, 81))
        pos = [np.zeros(3)]
        while len(pos) < m:
            p = rng.normal(scale=2.8, size=3)
            if min(np.linalg.norm(p - q) for q in pos) > 1.0:
                pos.append(p)
        numbers = np.concatenate([[26], rng.choice([1, 1, 6, 6, 7, 8, 16, 17], size=m - 1)])
        out.append(Atoms(numbers=numbers, positions=np.array(pos)))
    return out


def load_structures(data_dir):
    fe_dir = Path(data_dir) / "fe_k_edge" / "xyz"
    if fe_dir.is_dir():
        n_files = len(list(fe_dir.glob("*.xyz")))
        return wacsf.read_structures(fe_dir), f"real: {n_files} Fe complexes from {fe_dir}"
    return _synthetic(), (
        f"SYNTHETIC: no data at {fe_dir}; 110 random Fe-centred clusters built with ase "
        "stand in for the real Fe complexes"
    )


def rotated_copies(structures, n, seed=0, jitter=0.02):
    """n structures: random picks of ``structures``, rotated and jittered (seeded)."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    picks = rng.integers(len(structures), size=n)
    rots = Rotation.random(n, random_state=seed).as_matrix()
    out = []
    for i, s in enumerate(picks):
        atoms = structures[s].copy()
        pos = atoms.positions - atoms.positions[0]
        atoms.positions = pos @ rots[i].T + rng.normal(scale=jitter, size=pos.shape)
        out.append(atoms)
    return out


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _with_threads(n, fn):
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        return fn()
    finally:
        numba.set_num_threads(before)


def _kernel_call(kernel, packed, grids, out, **extra):
    kernel(
        packed.positions, packed.weights, packed.offsets, packed.absorbers, PAPER["r_cut"],
        grids["g2_eta"], grids["g2_mu"], grids["g4_eta"], grids["g4_mu"], grids["lambdas"],
        grids["zetas"], 1.0, out, **extra,
    )


def _dscribe(structures, grids):
    try:
        from dscribe.descriptors import ACSF
    except ImportError:
        return None
    species = sorted({int(z) for a in structures for z in a.numbers})
    g2 = [[e, m] for e, m in zip(grids["g2_eta"], grids["g2_mu"])]
    g4 = [[e, z, la] for e in grids["g4_eta"] for la in grids["lambdas"] for z in grids["zetas"]]
    acsf = ACSF(r_cut=PAPER["r_cut"], g2_params=g2, g4_params=g4, species=species)
    return acsf


# ------------------------------------------------------------------ size scan

SCAN_SIZES = (10, 30, 100, 300, 1000, 2000)
#: Number density of the scan's structures (atoms / A^3): about that of
#: organic solids and oxides, so r_cut = 6 A holds ~90 neighbours.
SCAN_DENSITY = 0.1


def _jittered_lattice(m, rng, spacing, jitter=0.25):
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return (grid + rng.uniform(-jitter, jitter, size=grid.shape)) * spacing


def scan_molecule(n_atoms, rng):
    """A compact cluster of ``n_atoms`` (C, N, O, H mix, one Fe absorber at index 0)."""
    from ase import Atoms

    spacing = SCAN_DENSITY ** (-1 / 3)
    m = int(np.ceil((2 * n_atoms) ** (1 / 3))) + 1
    points = _jittered_lattice(m, rng, spacing)
    points -= points.mean(axis=0)
    points = points[np.argsort(np.linalg.norm(points, axis=1))[:n_atoms]]
    numbers = np.concatenate([[26], rng.choice([1, 6, 7, 8], size=n_atoms - 1)])
    return Atoms(numbers=numbers, positions=points)


def scan_crystal(n_atoms, rng):
    """A cubic periodic cell of ``n_atoms`` at the same density (Fe at index 0)."""
    from ase import Atoms

    spacing = SCAN_DENSITY ** (-1 / 3)
    m = int(np.ceil(n_atoms ** (1 / 3)))
    points = _jittered_lattice(m, rng, spacing)
    keep = np.sort(rng.choice(len(points), size=n_atoms, replace=False))
    numbers = np.concatenate([[26], rng.choice([8, 8, 26, 13], size=n_atoms - 1)])
    return Atoms(numbers=numbers, positions=points[keep], cell=np.eye(3) * m * spacing,
                 pbc=True)


def size_scan(repeats, quick=False, budget_s=1.0, seed=0):
    """Throughput against atoms per structure, molecules and periodic cells, all threads.

    For every size: structures/s of ``transform`` on molecules (one absorber
    each), on periodic cells (one absorber each, and every Fe site), and on
    each periodic site's environment written out as an explicit cluster (the
    same numbers, no image search): the periodic overhead is the ratio.
    """
    from ase import Atoms

    from wacsf._periodic import site_environments

    rng = np.random.default_rng(seed)
    sizes = SCAN_SIZES[:3] if quick else SCAN_SIZES
    t = WACSFTransformer(backend="numba", progress=False)
    t_sites = WACSFTransformer(backend="numba", progress=False, absorber_element="Fe")
    rows = []
    for n_atoms in sizes:
        def timed(structs, transformer=t):
            med, ts = _median_time(lambda: transformer.transform(structs), repeats)
            return med, ts

        def how_many(make, n_atoms=n_atoms):
            probe = [make(n_atoms, rng) for _ in range(16)]
            per = timed(probe)[0] / len(probe)
            return int(np.clip(budget_s / max(per, 1e-7), 16, 500 if quick else 50_000))

        mols = [scan_molecule(n_atoms, rng) for _ in range(how_many(scan_molecule))]
        crystals = [scan_crystal(n_atoms, rng) for _ in range(how_many(scan_crystal))]
        envs = []
        for c in crystals:  # the absorber's environment written out as a cluster
            _, src, xyz = site_environments(c, [0], PAPER["r_cut"])
            envs.append(Atoms(numbers=c.numbers[src], positions=xyz))
        fe_sites = max(1, int(np.mean([np.count_nonzero(c.numbers == 26) for c in crystals])))
        every = crystals[:max(4, len(crystals) // fe_sites)]  # about as many rows as the others
        cases = (("molecules", mols, t), ("periodic", crystals, t),
                 ("periodic environments as clusters", envs, t),
                 ("periodic, every Fe site", every, t_sites))
        for label, structs, transformer in cases:
            med, ts = timed(structs, transformer)
            n_rows = len(transformer.sites_)
            rows.append(dict(case=label, atoms=n_atoms, n=len(structs), rows=n_rows,
                             seconds=med, runs_s=ts, structures_per_s=len(structs) / med,
                             rows_per_s=n_rows / med))
            print(f"  {label:36s} {n_atoms:5d} atoms  {len(structs):6d} structures "
                  f"{n_rows:7d} rows  {len(structs) / med:10.0f} structures/s "
                  f"{n_rows / med:10.0f} rows/s")
    return rows


def plot_scan(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for case, style in (("molecules", "o-"), ("periodic", "s-"),
                        ("periodic environments as clusters", "^--"),
                        ("periodic, every Fe site", "d:")):
        sub = [r for r in rows if r["case"] == case]
        key = "rows_per_s" if "every" in case else "structures_per_s"
        ax.loglog([r["atoms"] for r in sub], [r[key] for r in sub], style,
                  label=case + (" (sites/s)" if "every" in case else ""))
    ax.set_xlabel("atoms per structure")
    ax.set_ylabel("structures (or sites) per second")
    ax.set_title("wACSF transform(), Numba, all threads")
    ax.legend(fontsize=8)
    per = {r["atoms"]: r for r in rows if r["case"] == "periodic"}
    env = {r["atoms"]: r for r in rows if r["case"] == "periodic environments as clusters"}
    sizes = sorted(per)
    ax2.semilogx(sizes, [env[a]["structures_per_s"] / per[a]["structures_per_s"] for a in sizes],
                 "s-")
    ax2.axhline(1.0, color="grey", lw=0.8)
    ax2.set_xlabel("atoms in the periodic cell")
    ax2.set_ylabel("cost ratio periodic / same environment as cluster")
    ax2.set_title("periodic overhead (one absorber per cell)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.featurise",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--n-structures", type=int, default=100_000,
                    help="rotated copies (default 100000)")
    ap.add_argument("--data", type=Path, default=None,
                    help="data root (default $XANESNET_SK_DATA or ../shared/data)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs per row, median reported (>= 3)")
    ap.add_argument("--dscribe-max", type=int, default=2000,
                    help="DScribe runs on at most this many copies")
    ap.add_argument("--latency", action="store_true",
                    help="run only the per-call latency: one structure, median of 1,000 "
                         "calls, one thread (transform float64/float32, pipeline predict)")
    ap.add_argument("--scale", action="store_true",
                    help="run only the scale study: throughput against the number of "
                         "structures, from files and a trajectory, and on a 2-worker Dask "
                         "LocalCluster against local threads, with a PNG beside --json")
    ap.add_argument("--memory", action="store_true",
                    help="run only the streaming-memory check: peak RSS while transform() "
                         "consumes a generator of --n-structures structures")
    ap.add_argument("--threads", action="store_true",
                    help="run only the thread-scaling check: end-to-end transform() and the "
                         "kernel alone on 1 and on all threads, runs interleaved, on "
                         "--n-structures rotated copies")
    ap.add_argument("--ratios", action="store_true",
                    help="run only the issue's ratios, interleaved: every round times float64 "
                         "and float32 transform() and kernel on one thread, transform() on all "
                         "threads and DScribe with one job, back to back, and the ratios are "
                         "taken within each round (median and range over --repeats rounds)")
    ap.add_argument("--scan", action="store_true",
                    help="run only the size scan: throughput against atoms per structure "
                         "(10-2000), molecules and periodic cells, with a PNG beside --json")
    args = ap.parse_args(argv)
    if args.latency:
        base, source = load_structures(args.data if args.data is not None else _default_data())
        latency = per_call_latency(base, quick=args.quick)
        print(f"per call, one structure of {source} ({latency['atoms']} atoms), median of "
              f"{latency['calls']} calls, one thread, load average {latency['load_average']}:")
        for key, value in latency["median_us"].items():
            print(f"  {key:44s} {value:10.1f} us")
        if args.json:
            args.json.write_text(json.dumps(dict(cpu=_cpu_model(), latency=latency), indent=2))
        return [latency]
    if args.scan:
        return _run_scan(args)
    if args.ratios:
        base, source = load_structures(args.data if args.data is not None else _default_data())
        n = min(args.n_structures, 2000) if args.quick else args.n_structures
        row = ratio_rounds(rotated_copies(base, n), max(3, args.repeats),
                           min(args.dscribe_max, n))
        print(f"ratios within each of {row['rounds']} rounds, {n} rotated copies of {source} "
              f"(DScribe on {row['n_dscribe']}), load {row['load_start']}-{row['load_end']}:")
        for key, r in row["ratios"].items():
            print(f"  {key:44s} median {r['median']:7.2f}   range {r['min']:.2f}-{r['max']:.2f}")
        if args.json:
            args.json.write_text(json.dumps(row, indent=2))
        return [row]
    if args.threads:
        base, source = load_structures(args.data if args.data is not None else _default_data())
        n = min(args.n_structures, 2000) if args.quick else args.n_structures
        row = thread_scaling(rotated_copies(base, n), max(5, args.repeats))
        print(f"thread scaling on {n} rotated copies of {source}, median of {row['repeats']}:")
        for key in ("transform", "kernel"):
            one, many = row[key]["1"], row[key][str(row["threads"])]
            print(f"  {key:9s} 1 thread {n / one:9.0f}/s   {row['threads']} threads "
                  f"{n / many:9.0f}/s   speed-up {one / many:.2f}x")
        if args.json:
            args.json.write_text(json.dumps(row, indent=2))
        return [row]
    if args.scale:
        base, source = load_structures(args.data if args.data is not None else _default_data())
        print(f"scale study on {source}")
        rows = scale_study(base, max(3, args.repeats), quick=args.quick)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(dict(cpu=_cpu_model(), rows=rows), indent=2))
            plot_scale(rows, args.json.with_suffix(".png"))
            print(f"wrote {args.json} and {args.json.with_suffix('.png')}")
        return rows
    if args.memory:
        base, source = load_structures(args.data if args.data is not None else _default_data())
        row = streaming_memory(base, n=min(args.n_structures, 2000) if args.quick
                               else args.n_structures)
        print(f"streaming {row['n']} structures from a generator ({source}): output "
              f"{row['output_mb']:.0f} MB, peak RSS above the warmed-up process "
              f"{row['peak_above_baseline_mb']:.0f} MB, {row['structures_per_s']:.0f} structures/s")
        if args.json:
            args.json.write_text(json.dumps(row, indent=2))
        return [row]
    repeats = max(3, args.repeats)
    n_copies = min(args.n_structures, 500) if args.quick else args.n_structures
    dscribe_max = 20 if args.quick else args.dscribe_max

    data_dir = args.data if args.data is not None else _default_data()
    base, source = load_structures(data_dir)
    print(f"structures: {source}")
    copies = rotated_copies(base, n_copies)
    # rows are labelled by what was featurised: the real Fe set, or the synthetic stand-in
    base_name = "real110" if source.startswith("real") else f"synthetic{len(base)}"
    sets = {base_name: base, f"rotated{n_copies}": copies}

    max_threads = numba.config.NUMBA_NUM_THREADS
    grids = resolve_grids(6.0, 0.0, 32, 64, "shifted", "centred", "xanesnet", (1.0, -1.0),
                          (1.0, 2.0, 4.0, 8.0))
    n_feat = 1 + 32 + 64

    # warm-up: JIT compilation (or cache load) apart from every timing
    tiny = base[:2]
    t0 = time.perf_counter()
    WACSFTransformer(backend="numba", progress=False).transform(tiny)
    jit_s = time.perf_counter() - t0
    print(f"numba warm-up (JIT compile or cache load) on 2 structures: {jit_s:.2f} s")

    cuda_ok = _backends.cuda_available() and not _backends._simulated()
    rows = []

    def record(name, set_name, n, seconds, all_times, note=""):
        rows.append(dict(method=name, structures=set_name, n=n, seconds=seconds,
                         structures_per_s=n / seconds, runs_s=all_times, note=note))

    for set_name, structs in sets.items():
        n = len(structs)
        packed = pack(structs)
        out = np.empty((n, n_feat))
        if set_name == base_name:
            t = WACSFTransformer(backend="numpy", progress=False)
            med, ts = _median_time(lambda t=t, structs=structs: t.transform(structs), repeats)
            record("numpy oracle (transform)", set_name, n, med, ts)
        from wacsf import _cpu

        out32 = np.empty((n, n_feat), dtype=np.float32)
        for label, n_jobs in (("numba 1 thread", 1), (f"numba {max_threads} threads", None)):
            nt = 1 if n_jobs == 1 else max_threads
            for dtype, suffix, buf in (("float64", "", out), ("float32", " float32", out32)):
                t = WACSFTransformer(backend="numba", n_jobs=n_jobs, progress=False, dtype=dtype)
                med, ts = _median_time(lambda t=t, structs=structs: t.transform(structs), repeats)
                record(f"{label}{suffix} (transform)", set_name, n, med, ts)

                def kernel_only(packed=packed, buf=buf):
                    _kernel_call(_cpu.wacsf_features, packed, grids, buf)

                med, ts = _with_threads(nt, lambda k=kernel_only: _median_time(k, repeats))
                record(f"{label}{suffix} (kernel only, pre-packed)", set_name, n, med, ts)
        if cuda_ok:
            from wacsf import _cuda

            t = WACSFTransformer(backend="cuda", progress=False)
            t.transform(tiny)
            med, ts = _median_time(lambda t=t, structs=structs: t.transform(structs), repeats)
            record("cuda (transform)", set_name, n, med, ts)
            if "timings" in inspect.signature(_cuda.wacsf_features).parameters:
                parts = []

                def one(packed=packed, out=out, parts=parts):
                    tm = {}
                    _kernel_call(_cuda.wacsf_features, packed, grids, out, timings=tm)
                    parts.append(tm)

                med, ts = _median_time(one, repeats)
                note = "; ".join(
                    f"{k} {statistics.median(p.get(k, float('nan')) for p in parts) * 1e3:.1f} ms"
                    for k in ("h2d", "kernel", "d2h")
                )
                record("cuda (kernel + transfers, pre-packed)", set_name, n, med, ts, note)
        acsf = _dscribe(structs, grids)
        if acsf is None:
            print(f"{set_name}: no DScribe row: dscribe is not installed "
                  '(pip install ".[bench]")')
        else:
            sub = structs[:dscribe_max]
            centers = [[0]] * len(sub)
            for label, jobs in (("dscribe ACSF 1 job", 1),
                                (f"dscribe ACSF {max_threads} jobs", max_threads)):
                acsf.create(sub[:2], centers=centers[:2], n_jobs=1)

                def create(acsf=acsf, sub=sub, centers=centers, jobs=jobs):
                    return acsf.create(sub, centers=centers, n_jobs=jobs)

                med, ts = _median_time(create, repeats)
                record(label, set_name, len(sub), med, ts,
                       f"own ACSF ({acsf.get_number_of_features()} species-resolved "
                       "features); throughput only")

    latency = per_call_latency(base, quick=args.quick)

    # ratios against numba all threads on the same structure set
    for r in rows:
        ref = next(x for x in rows if x["structures"] == r["structures"]
                   and x["method"] == f"numba {max_threads} threads (transform)")
        r["ratio_vs_numba_all"] = r["structures_per_s"] / ref["structures_per_s"]

    header = (f"{'method':50s} {'structures':>16s} {'n':>7s} {'median s':>9s} "
              f"{'struct/s':>10s} {'vs numba all':>12s}  note")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['method']:50s} {r['structures']:>16s} {r['n']:7d} {r['seconds']:9.3f} "
              f"{r['structures_per_s']:10.0f} {r['ratio_vs_numba_all']:11.2f}x  {r['note']}")

    meta = dict(
        source=source, threads=max_threads, cpu=_cpu_model(), cpu_count=os.cpu_count(),
        numba=numba.__version__, numpy=np.__version__, python=platform.python_version(),
        wacsf=wacsf.__version__, jit_warmup_s=jit_s, repeats=repeats, quick=args.quick,
        cuda=cuda_ok, parameters=dict(PAPER, g2="shifted", g4="centred xanesnet",
                                      lambdas=[1, -1], zetas=[1, 2, 4, 8]),
        threading_layer=_threading_layer(),
    )
    print(f"\nper call, one structure ({latency['atoms']} atoms), median of {latency['calls']} "
          f"calls, one thread:")
    for key, value in latency["median_us"].items():
        print(f"  {key:44s} {value:10.1f} us")
    print(f"\n{meta['cpu']}, {max_threads} Numba threads, numba {numba.__version__}, "
          f"numpy {np.__version__}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(meta=meta, results=rows, latency=latency),
                                        indent=2))
        print(f"wrote {args.json}")
    return rows


def per_call_latency(base, calls=1000, quick=False):
    """Median seconds of one call on one structure, one thread: ``transform([atoms])``
    (float64, float32) and ``predict([atoms])`` of a fitted XANESNET pipeline.

    The structure is the first real Fe complex; every call is timed on its own.
    """
    import torch

    calls = 100 if quick else calls
    one = [base[0]]

    def median_us(fn):
        fn()
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e6

    rows = {}
    torch_threads = torch.get_num_threads()
    numba_threads = numba.get_num_threads()
    try:
        torch.set_num_threads(1)
        numba.set_num_threads(1)
        for dtype in ("float64", "float32"):
            t = WACSFTransformer(n_jobs=1, dtype=dtype, progress=False).fit()
            rows[f"transform([atoms]) {dtype}"] = median_us(lambda t=t: t.transform(one))
        try:
            from xanesnet_sk.pipeline import make_xanesnet_pipeline
        except ImportError:
            pass
        else:
            from sklearn.pipeline import Pipeline

            y = np.random.default_rng(0).normal(size=(len(base), 226))
            pipe = make_xanesnet_pipeline(random_state=0, wacsf_params=dict(n_jobs=1),
                                          max_epochs=1).fit(base, y)
            # one thread for the net too: Numba's OpenMP layer can raise torch's thread
            # count on first use (seen with numba 0.68 / torch 2.13), and a second
            # thread costs a 1-row forward pass milliseconds on a busy machine
            torch.set_num_threads(1)
            rows["pipeline predict([atoms]) (net of 1 epoch)"] = median_us(
                lambda: pipe.predict(one))
            # the same fitted pipeline through scikit-learn's Pipeline.predict: every step's
            # own input checks (the net keeps its direct forward)
            rows["  same through sklearn's Pipeline.predict"] = median_us(
                lambda: Pipeline.predict(pipe, one))
    finally:
        torch.set_num_threads(torch_threads)
        numba.set_num_threads(numba_threads)
    return dict(atoms=len(base[0]), calls=calls, median_us=rows,
                load_average=round(os.getloadavg()[0], 2))


def thread_scaling(structures, repeats):
    """Median seconds of ``transform()`` end to end and of the kernel alone, on 1 and on
    all Numba threads, the four kinds of run interleaved (a busy moment of a shared
    machine then slows all of them alike)."""
    from wacsf import _cpu

    threads = numba.config.NUMBA_NUM_THREADS
    grids = resolve_grids(6.0, 0.0, 32, 64, "shifted", "centred", "xanesnet", (1.0, -1.0),
                          (1.0, 2.0, 4.0, 8.0))
    packed = pack(structures, r_cut=PAPER["r_cut"])
    out = np.empty((packed.n_structures, 97))
    runs = {key: {"1": [], str(threads): []} for key in ("transform", "kernel")}
    WACSFTransformer(**PAPER).fit_transform(structures[:100])  # compile / load the cache
    for _ in range(repeats):
        for n in (1, threads):
            transformer = WACSFTransformer(**PAPER, n_jobs=n, progress=False)
            t0 = time.perf_counter()
            transformer.fit_transform(structures)
            runs["transform"][str(n)].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _with_threads(n, lambda: _kernel_call(_cpu.wacsf_features, packed, grids, out))
            runs["kernel"][str(n)].append(time.perf_counter() - t0)
    row = {key: {n: statistics.median(ts) for n, ts in per.items()} for key, per in runs.items()}
    row.update(runs_s=runs, n=len(structures), threads=threads, repeats=repeats, cpu=_cpu_model(),
               speedup_transform=row["transform"]["1"] / row["transform"][str(threads)],
               speedup_kernel=row["kernel"]["1"] / row["kernel"][str(threads)])
    return row


def ratio_rounds(structures, rounds, n_dscribe):
    """The issue's ratios, each taken within one round of back-to-back runs.

    On a shared VM the machine's speed drifts by 10-20 % between minutes, so
    rates measured minutes apart do not make a ratio.  Every round runs, in
    this order: ``transform`` float64 and float32 and the kernel alone
    (float64, float32) on one thread, ``transform`` float64 on all threads,
    and DScribe's ``ACSF.create`` with one job on the first ``n_dscribe``
    copies; each ratio is formed from one round's runs.  Returns the runs
    and, per ratio, its median, min and max over the rounds.
    """
    from wacsf import _cpu

    threads = numba.config.NUMBA_NUM_THREADS
    grids = resolve_grids(6.0, 0.0, 32, 64, "shifted", "centred", "xanesnet", (1.0, -1.0),
                          (1.0, 2.0, 4.0, 8.0))
    packed = pack(structures, r_cut=PAPER["r_cut"])
    outs = {dt: np.empty((packed.n_structures, 97), dtype=dt) for dt in ("float64", "float32")}
    acsf = _dscribe(structures, grids)
    sub = structures[:n_dscribe]
    centers = [[0]] * len(sub)
    load_start = round(os.getloadavg()[0], 2)
    for dt in ("float64", "float32"):  # compile or load the caches of every kernel used
        for jobs in (1, threads):
            WACSFTransformer(**PAPER, dtype=dt, n_jobs=jobs, progress=False).fit_transform(
                structures[:200])
        _with_threads(1, lambda dt=dt: _kernel_call(_cpu.wacsf_features, packed, grids,
                                                    outs[dt]))
    if acsf is not None:
        acsf.create(sub[:2], centers=centers[:2], n_jobs=1)
    n = len(structures)
    runs = {}

    def timed(key, fn):
        t0 = time.perf_counter()
        fn()
        runs.setdefault(key, []).append(time.perf_counter() - t0)

    for _ in range(rounds):
        for dt in ("float64", "float32"):
            t = WACSFTransformer(**PAPER, dtype=dt, n_jobs=1, progress=False).fit()
            timed(f"transform {dt} 1 thread", lambda t=t: t.transform(structures))
        for dt in ("float64", "float32"):
            timed(f"kernel {dt} 1 thread", lambda dt=dt: _with_threads(
                1, lambda: _kernel_call(_cpu.wacsf_features, packed, grids, outs[dt])))
        t = WACSFTransformer(**PAPER, n_jobs=threads, progress=False).fit()
        timed(f"transform float64 {threads} threads", lambda t=t: t.transform(structures))
        if acsf is not None:
            timed("dscribe 1 job", lambda: acsf.create(sub, centers=centers, n_jobs=1))
    per_round = {
        "float32 / float64, transform, 1 thread": [
            a / b for a, b in zip(runs["transform float64 1 thread"],
                                  runs["transform float32 1 thread"])],
        "float32 / float64, kernel, 1 thread": [
            a / b for a, b in zip(runs["kernel float64 1 thread"],
                                  runs["kernel float32 1 thread"])],
        f"{threads} threads / 1 thread, transform float64": [
            a / b for a, b in zip(runs["transform float64 1 thread"],
                                  runs[f"transform float64 {threads} threads"])],
    }
    if acsf is not None:
        per_round["transform float64 1 thread / DScribe 1 job"] = [
            (n / a) / (len(sub) / d) for a, d in zip(runs["transform float64 1 thread"],
                                                     runs["dscribe 1 job"])]
    ratios = {key: dict(median=statistics.median(v), min=min(v), max=max(v), rounds=v)
              for key, v in per_round.items()}
    rates = {key: n / statistics.median(ts) if not key.startswith("dscribe")
             else len(sub) / statistics.median(ts) for key, ts in runs.items()}
    return dict(n=n, n_dscribe=len(sub), rounds=rounds, threads=threads, cpu=_cpu_model(),
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                load_start=load_start, load_end=round(os.getloadavg()[0], 2),
                ratios=ratios, median_rates_per_s=rates, runs_s=runs)


def _rss_bytes():
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def streaming_memory(base, n=100_000, seed=0):
    """Peak RSS above the warmed-up process while ``transform`` eats a generator of ``n``.

    The generator makes each structure on demand (a rotated, jittered copy
    of a real complex), so nothing but the transformer holds the input.
    RSS is sampled every 5 ms in a thread (Linux /proc).
    """
    import threading

    from scipy.spatial.transform import Rotation

    def structures():
        rng = np.random.default_rng(seed)
        rots = Rotation.random(1000, random_state=seed).as_matrix()
        for i in range(n):
            atoms = base[i % len(base)].copy()
            pos = atoms.positions - atoms.positions[0]
            atoms.positions = pos @ rots[i % 1000].T + rng.normal(scale=0.02, size=pos.shape)
            yield atoms

    t = WACSFTransformer(backend="numba", progress=False)
    t.transform(base[:50])
    baseline = peak = _rss_bytes()
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _rss_bytes())
            stop.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    out = t.transform(structures())
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    return dict(n=n, output_mb=out.nbytes / 2**20, peak_above_baseline_mb=(peak - baseline) / 2**20,
                seconds=seconds, structures_per_s=n / seconds)


def scale_study(base, repeats, quick=False):
    """End-to-end throughput at scale: against n, from files, from a trajectory, on Dask.

    All with paper defaults and 2 Numba threads (or 2 single-threaded Dask
    worker processes); every figure is the median of ``repeats`` runs after
    a warm-up.  Returns (rows, meta).
    """
    import tempfile

    import ase.io

    rows = []
    t = WACSFTransformer(backend="numba", progress=False)
    t.transform(base[:20])
    sizes = (100, 1000, 10_000) if quick else (1000, 10_000, 100_000)
    for n in sizes:
        structs = rotated_copies(base, n, seed=n)
        med, ts = _median_time(lambda structs=structs: t.transform(structs), repeats)
        rows.append(dict(case="list of Atoms in memory", n=n, seconds=med, runs_s=ts,
                         structures_per_s=n / med))
        print(f"  in memory            {n:7d} structures {n / med:10.0f} structures/s", flush=True)
    n_files = 500 if quick else 5000
    structs = rotated_copies(base, n_files, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "xyz"
        folder.mkdir()
        for k, atoms in enumerate(structs):
            ase.io.write(folder / f"s{k:05d}.xyz", atoms, format="xyz")
        traj = Path(tmp) / "traj.extxyz"
        ase.io.write(traj, structs, format="extxyz")
        cases = (
            ("xyz files: read_structures + transform", lambda: t.transform(folder)),
            ("extxyz trajectory: ase.io.iread, streamed",
             lambda: t.transform(ase.io.iread(traj))),
            ("same structures already in memory", lambda: t.transform(structs)),
        )
        for label, fn in cases:
            med, ts = _median_time(fn, repeats)
            rows.append(dict(case=label, n=n_files, seconds=med, runs_s=ts,
                             structures_per_s=n_files / med))
            print(f"  {label:42s} {n_files / med:10.0f} structures/s", flush=True)
    try:
        from distributed import Client, LocalCluster

        import wacsf.dask as wdask
    except ImportError:
        print("  dask: not installed (pip install \".[dask]\"), skipped")
        return rows
    n = 2000 if quick else 40_000
    structs = rotated_copies(base, n, seed=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        bag = wdask.as_bag(structs, npartitions=8)
        bag = client.persist(bag)  # the input already on the workers, as on a cluster
        wdask.featurise(bag, t).compute()  # warm-up: imports and JIT cache in the workers
        med, ts = _median_time(lambda: wdask.featurise(bag, t).compute(), repeats)
        rows.append(dict(case="dask LocalCluster, 2 workers x 1 thread", n=n, seconds=med,
                         runs_s=ts, structures_per_s=n / med))
        print(f"  dask, 2 worker processes   {n:7d} structures {n / med:10.0f} structures/s")
    med, ts = _median_time(lambda: t.transform(structs), repeats)
    rows.append(dict(case="local transform, 2 threads", n=n, seconds=med, runs_s=ts,
                     structures_per_s=n / med))
    print(f"  local, 2 threads           {n:7d} structures {n / med:10.0f} structures/s")
    return rows


def plot_scale(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    mem = [r for r in rows if r["case"] == "list of Atoms in memory"]
    ax.loglog([r["n"] for r in mem], [r["seconds"] for r in mem], "o-", label="measured")
    ref = mem[-1]
    ns = np.array([r["n"] for r in mem], dtype=float)
    ax.loglog(ns, ref["seconds"] * ns / ref["n"], "k:", label="linear")
    ax.set_xlabel("structures")
    ax.set_ylabel("transform() seconds")
    ax.set_title("time against number of structures")
    ax.legend()
    rest = [r for r in rows if r["case"] != "list of Atoms in memory"]
    ax2.barh([f"{r['case']} (n={r['n']})" for r in rest], [r["structures_per_s"] for r in rest])
    ax2.set_xlabel("structures per second")
    ax2.set_title("end to end, 2 cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _run_scan(args):
    repeats = max(3, args.repeats)
    WACSFTransformer(backend="numba", progress=False).transform(_synthetic(2))  # JIT warm-up
    print(f"size scan, {numba.config.NUMBA_NUM_THREADS} Numba threads, density "
          f"{SCAN_DENSITY} atoms/A^3, r_cut {PAPER['r_cut']} A, paper's 97 features")
    rows = size_scan(repeats, quick=args.quick)
    meta = dict(cpu=_cpu_model(), threads=numba.config.NUMBA_NUM_THREADS,
                numba=numba.__version__, numpy=np.__version__, wacsf=wacsf.__version__,
                repeats=repeats, quick=args.quick, density=SCAN_DENSITY)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(meta=meta, scan=rows), indent=2))
        png = args.json.with_suffix(".png")
        plot_scan(rows, png)
        print(f"wrote {args.json} and {png}")
    return rows


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:
        return None


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
