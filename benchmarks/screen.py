"""Screening candidate structures against a measured spectrum: accuracy and throughput.

Run ``python -m benchmarks.screen PART [PART ...]`` with parts

``accuracy``
    Top-1 and top-5 rates of :func:`xanesnet_sk.screen`.  Real Fe set
    (``$XANESNET_SK_DATA/fe_k_edge``, 110 complexes): 5 folds
    (``KFold(5, shuffle=True, random_state=0)``); a net trained on 4 folds
    (``make_xanesnet_pipeline(random_state=0, hidden_sizes=(128,),
    max_epochs=200)``: ``--hidden``, ``--epochs``; smaller than the default
    net so that the 10 fits fit a shared 2-core machine) screens each
    structure of the held-out fold among all 110.  Synthetic set
    (``make_synthetic_xanes(200, random_state=0)``): the same, 200
    candidates, ``--max-measured`` (40) of them measured.  Each held-out
    computed spectrum becomes a "measurement"
    (:func:`xanesnet_sk.measured.simulate_measurement`: absolute energies
    from E0 - 150 to E0 + 400 eV every 0.5 eV, E0 = 7112 eV plus a random
    offset of up to +-3 eV, a sloping background, a factor 2.5 on mu,
    Lorentzian broadening, Gaussian noise), read through Larch's pre_edge
    and aligned with the known E0 (``e0=``, as after a foil calibration),
    predictions broadened to the same width.  The baseline is noise 1 % of
    the edge step, FWHM 1 eV, no E0 error; then one knob at a time: noise
    3 and 10 %, E0 error 1-4 eV (the E0 given is off by that much), FWHM
    0-4 eV, and E0 found by Larch (``e0=None``, the maximum of dmu/dE,
    which for computed Fe spectra is not always the grid's 0).
``throughput``
    Candidates ranked per second end to end (read, featurise, predict,
    score, rank), one default net (512, 512) trained for 3 epochs (speed
    does not depend on training), 2 featuriser threads and 2 torch threads:
    ``screen()`` on a directory of ``--n-files`` xyz files (default 100,000:
    the 110 Fe complexes rotated and jittered, written just before, so read
    from the page cache; three runs, median and range), and on ``--n``
    candidates (default 100,000) made lazily by a generator (rotating and
    jittering inside the time, nothing holds them all).  Apart from it,
    ``screen`` on ``--n-memory`` candidates made beforehand (no reading at
    all), the generator alone, the same candidates' featurisation alone
    (the ``transform`` calls only) and prediction alone, the reading of the
    xyz files (as ``ase.Atoms`` by ``iter_candidates``, and as the batches
    ``screen`` reads) and of a trajectory and an ase database (up to 5,000
    candidates each), and the peak resident memory.  Writes a PNG.

``--json DIR`` (default ``benchmarks/results``) gets ``screen_accuracy.json``
/ ``screen_throughput.json`` (+ ``.png``), each with the machine, date and
load.  Needs xraylarch (``pip install "xanesnet-sk[experiment]"``).  This is
not a test: timings on a shared machine vary with its load.
"""

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

E0 = 7112.0
BASE = dict(noise=0.01, e0_error=0.0, width=1.0, larch_e0=False)
CONDITIONS = (
    [("baseline", BASE)]
    + [(f"noise {v:g}", {**BASE, "noise": v}) for v in (0.03, 0.1)]
    + [(f"e0 error {v:g} eV", {**BASE, "e0_error": v}) for v in (1.0, 2.0, 4.0)]
    + [(f"fwhm {v:g} eV", {**BASE, "width": v}) for v in (0.0, 2.0, 4.0)]
    + [("e0 by larch", {**BASE, "larch_e0": True})]
)


def _machine():
    name = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            name = next(line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": name, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                       time.gmtime()),
            "load_1min": os.getloadavg()[0], "python": sys.version.split()[0]}


def _data_dir():
    env = os.environ.get("XANESNET_SK_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load_fe():
    """The 110 real Fe complexes (structures, spectra on the 226-point grid)."""
    from xanesnet_sk import load_dataset

    root = _data_dir() / "fe_k_edge"
    ds = load_dataset(root / "xyz", root / "xanes")
    return ds.structures, ds.spectra, ds.names


def load_synthetic(n=200):
    from xanesnet_sk import make_synthetic_xanes

    ds = make_synthetic_xanes(n, random_state=0)
    return ds.structures, ds.spectra, ds.names


def _rank_of(result, index):
    table = result.ranking
    return int(table.loc[table["index"] == index, "rank"].iloc[0])


def screen_set(structures, spectra, names, label, max_measured=None, n_folds=5, quick=False,
               net=None, all_conditions=True):
    """Top-1 / top-5 rates per condition for one set (a net per fold)."""
    from sklearn.model_selection import KFold

    from xanesnet_sk import make_xanesnet_pipeline, screen
    from xanesnet_sk.measured import simulate_measurement
    from xanesnet_sk.spectra import xanesnet_grid

    grid = xanesnet_grid(spectra.shape[1])
    rng = np.random.default_rng(0)
    offsets = rng.uniform(-3, 3, len(structures))
    ranks = {name: [] for name, _ in CONDITIONS}
    fit_s = []
    folds = list(KFold(n_folds, shuffle=True, random_state=0).split(spectra))
    per_fold = None if max_measured is None else -(-max_measured // n_folds)
    conditions = CONDITIONS[:2] if quick else CONDITIONS if all_conditions else CONDITIONS[:1]
    for k, (train, test) in enumerate(folds):
        start = time.perf_counter()
        params = {"max_epochs": 5} if quick else dict(net or {})
        model = make_xanesnet_pipeline(random_state=0, **params).fit(
            [structures[i] for i in train], spectra[train])
        fit_s.append(time.perf_counter() - start)
        for i in test[:per_fold]:
            e0_true = E0 + offsets[i]
            for name, c in conditions:
                m = simulate_measurement(grid, spectra[i], e0=e0_true, width=c["width"] or None,
                                         noise=c["noise"], random_state=int(i))
                e0 = None if c["larch_e0"] else e0_true + c["e0_error"]
                result = screen(model, structures, m, e0=e0,
                                broadening=c["width"] or None, top_k=1)
                ranks[name].append(_rank_of(result, int(i)))
        print(f"{label}: fold {k + 1}/{n_folds} done ({fit_s[-1]:.0f} s fit)", flush=True)
    out = {}
    for name, c in conditions:
        r = np.asarray(ranks[name])
        out[name] = {**c, "n_measured": int(r.size), "top1": float(np.mean(r == 1)),
                     "top5": float(np.mean(r <= 5)), "median_rank": float(np.median(r))}
    return {"set": label, "n_candidates": len(structures), "net": dict(net or {}),
            "fit_s_median": float(np.median(fit_s)), "conditions": out}


def accuracy(args):
    net = {"hidden_sizes": tuple(args.hidden), "max_epochs": args.epochs}
    result = {"machine": _machine(), "conditions": {n: c for n, c in CONDITIONS}, "sets": []}
    path = Path(args.json) / f"screen_accuracy{'_quick' if args.quick else ''}.json"
    if (_data_dir() / "fe_k_edge").is_dir():
        result["sets"].append(screen_set(*load_fe(), "Fe (real, 110)", quick=args.quick,
                                         net=net))
        path.write_text(json.dumps(result, indent=1))   # saved set by set
    else:
        print(f"no Fe data under {_data_dir()}: only the synthetic set", flush=True)
    n = 60 if args.quick else 200
    result["sets"].append(screen_set(*load_synthetic(n), f"synthetic ({n})",
                                     max_measured=None if args.quick else args.max_measured,
                                     quick=args.quick, net=net,
                                     all_conditions=args.synthetic_conditions == "all"))
    return result


# ---------------------------------------------------------------- throughput


def _candidates(base, n, seed=0, jitter=0.02, block=4096):
    """n rotated, jittered copies of ``base``, made lazily (rotations drawn a block at a time;
    nothing holds all n)."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    centred = [a.positions - a.positions[0] for a in base]
    for start in range(0, n, block):
        m = min(block, n - start)
        picks = rng.integers(len(base), size=m)
        rots = Rotation.random(m, random_state=int(rng.integers(2**31))).as_matrix()
        for j in range(m):
            atoms = base[picks[j]].copy()
            pos = centred[picks[j]]
            atoms.positions = pos @ rots[j].T + rng.normal(scale=jitter, size=pos.shape)
            atoms.info["name"] = f"cand_{start + j:06d}"
            yield atoms


def _rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def throughput(args):
    import torch

    from xanesnet_sk import make_xanesnet_pipeline, screen
    from xanesnet_sk.measured import prepare_measured, simulate_measurement
    from xanesnet_sk.spectra import xanesnet_grid

    load_start = os.getloadavg()[0]  # the machine's own load_1min is taken at the end
    torch.set_num_threads(args.threads)
    structures, spectra, _ = load_fe() if (_data_dir() / "fe_k_edge").is_dir() else \
        load_synthetic(110)
    grid = xanesnet_grid(spectra.shape[1])
    model = make_xanesnet_pipeline(random_state=0, max_epochs=3).fit(structures, spectra)
    model.set_params(wacsf__n_jobs=args.threads)
    prepared = prepare_measured(simulate_measurement(grid, spectra[0], random_state=0), grid,
                                e0=E0)
    n = args.n
    # warm-up (JIT compilation, torch init) on a few candidates
    screen(model, _candidates(structures, 256, seed=1), prepared, chunk_size=args.chunk_size)
    rss_before = _rss_mib()
    start = time.perf_counter()
    result = screen(model, _candidates(structures, n), prepared, chunk_size=args.chunk_size)
    total = time.perf_counter() - start
    rss_after = _rss_mib()
    assert len(result.ranking) == n
    # the directory of xyz files next, while the peak memory is still the streaming runs'
    files = _file_reading(structures, args.n_files, model, prepared, args.chunk_size)
    # candidates made beforehand: screen() without any reading
    in_memory = list(_candidates(structures, args.n_memory, seed=3))
    start = time.perf_counter()
    screen(model, in_memory, prepared, chunk_size=args.chunk_size)
    memory_s = time.perf_counter() - start
    del in_memory
    # the parts alone, on the same candidates
    wacsf, rest = model[0], model[1:]
    start = time.perf_counter()
    feats, featurise_s = [], 0.0
    it = _candidates(structures, n)
    while True:
        chunk = [a for _, a in zip(range(args.chunk_size), it)]
        if not chunk:
            break
        tick = time.perf_counter()
        feats.append(wacsf.transform(chunk))
        featurise_s += time.perf_counter() - tick
    generate_featurise_s = time.perf_counter() - start
    X = np.vstack(feats)
    from xanesnet_sk.screening import _prediction_batches

    start = time.perf_counter()
    with _prediction_batches(rest, args.chunk_size):   # as screen() predicts
        for k in range(0, n, args.chunk_size):
            rest.predict(X[k:k + args.chunk_size])
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    list(_candidates(structures, n))
    generate_s = time.perf_counter() - start
    out = {
        "machine": _machine(), "n_candidates": n, "threads": args.threads,
        "chunk_size": args.chunk_size,
        "end_to_end_s": total, "candidates_per_s": n / total,
        "in_memory_n": args.n_memory, "in_memory_per_s": args.n_memory / memory_s,
        "featurise_only_per_s": n / featurise_s,
        "generate_and_featurise_per_s": n / generate_featurise_s,
        "predict_only_per_s": n / predict_s,
        "generate_candidates_per_s": n / generate_s,
        "generate_s_over_end_to_end_s": generate_s / total,
        "peak_rss_mib_before": rss_before, "peak_rss_mib_after": rss_after,
        "feature_matrix_mib": X.nbytes / 2**20, **files,
        "goal_per_s": 10_000,
        "note": "end to end = screen() on a generator of ase.Atoms (rotation/jitter of each "
                "candidate included in the time; screen() reads the next chunk while the "
                "last is scored); in memory = screen() on a list made beforehand; "
                "featurise only = the transform calls alone (generate_and_featurise adds "
                "making the candidates, as featurise_only did before 2026-12-03 13:00); "
                "reading files is timed apart (read_files_per_s: iter_candidates' ase.Atoms; "
                "read_files_batch_per_s: the batches screen reads); screen_files_per_s = "
                "screen() end to end on the directory of read_files_n xyz files (reading "
                "included; the median of screen_files_runs_per_s; files in the page cache)",
        "load_1min_start": load_start,
    }
    _plot_throughput(out, Path(args.json) / "screen_throughput.png")
    return out


def _file_reading(structures, n_files, model=None, prepared=None, chunk_size=4096, runs=3):
    """Candidates per second read from ``n_files`` xyz files in a directory (the ``ase.Atoms``
    of ``iter_candidates``, and the batches ``screen`` reads: plain xyz files parsed
    together into flat arrays), and from one trajectory and one ase database of
    ``min(n_files, 5000)`` candidates; with a model, also ``screen()`` end to end on the
    directory of xyz files (reading, featurising, predicting, scoring, ranking), ``runs``
    times (median and range: this VM's speed drifts between minutes).  The files are
    written just before, so they are read from the page cache, not from the disk."""
    if not n_files:
        return {}
    import ase.db
    from ase.io import write

    from xanesnet_sk import screen
    from xanesnet_sk.screening import _candidate_chunks, iter_candidates

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, atoms in enumerate(_candidates(structures, n_files, seed=2)):
            write(Path(tmp) / f"c{k:06d}.xyz", atoms, format="xyz")
        start = time.perf_counter()
        count = sum(1 for _ in iter_candidates(tmp))
        out.update(read_files_n=count, read_files_per_s=count / (time.perf_counter() - start))
        start = time.perf_counter()
        count = sum(len(chunk) for _, chunk in _candidate_chunks(tmp, chunk_size))
        out.update(read_files_batch_per_s=count / (time.perf_counter() - start))
        if model is not None:
            rates = []
            rss_before = _rss_mib()
            for _ in range(runs):
                start = time.perf_counter()
                result = screen(model, tmp, prepared, chunk_size=chunk_size)
                rates.append(count / (time.perf_counter() - start))
                assert len(result.ranking) == count
            out.update(screen_files_runs_per_s=rates,
                       screen_files_per_s=float(np.median(rates)),
                       screen_files_peak_rss_mib_before=rss_before,
                       screen_files_peak_rss_mib_after=_rss_mib())
    m = min(n_files, 5000)
    with tempfile.TemporaryDirectory() as tmp:
        frames = list(_candidates(structures, m, seed=4))
        write(Path(tmp) / "c.traj", frames)
        db = ase.db.connect(Path(tmp) / "c.db")
        with db:
            for atoms in frames:
                db.write(atoms)
        del frames
        for key, name in (("traj", "c.traj"), ("db", "c.db")):
            start = time.perf_counter()
            count = sum(1 for _ in iter_candidates(Path(tmp) / name))
            out[f"read_{key}_per_s"] = count / (time.perf_counter() - start)
        out["read_traj_db_n"] = m
    return out


def _plot_throughput(out, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("end to end: screen(), generator", out["candidates_per_s"]),
            (f"screen(), {out['in_memory_n']:,} made beforehand", out["in_memory_per_s"]),
            ("featurise only", out["featurise_only_per_s"]),
            ("predict only (one net)", out["predict_only_per_s"]),
            ("make candidates (generator)", out["generate_candidates_per_s"])]
    if "screen_files_per_s" in out:
        rows.insert(0, (f"end to end: screen() on {out['read_files_n']:,} xyz files",
                        out["screen_files_per_s"]))
    if "read_files_per_s" in out:
        rows.append((f"read xyz files ({out['read_files_n']:,}): ase.Atoms",
                     out["read_files_per_s"]))
        rows.append((f"read xyz files ({out['read_files_n']:,}): batches",
                     out["read_files_batch_per_s"]))
    if "read_traj_per_s" in out:
        rows.append((f"read a .traj ({out['read_traj_db_n']:,})", out["read_traj_per_s"]))
        rows.append((f"read an ase .db ({out['read_traj_db_n']:,})", out["read_db_per_s"]))
    fig, ax = plt.subplots(figsize=(8.5, 4.2), layout="constrained")
    n_main = 3 if "screen_files_per_s" in out else 2
    ax.barh([r[0] for r in rows], [r[1] for r in rows],
            color=(["tab:blue", "tab:blue", "tab:cyan"][-n_main:]
                   + ["tab:gray"] * (len(rows) - n_main)))
    ax.axvline(out["goal_per_s"], color="tab:red", ls="--", label="goal 10,000 / s")
    ax.invert_yaxis()
    ax.set(xlabel="candidates / s", title=f"screen: {out['n_candidates']:,} candidates, "
                                            f"{out['threads']} threads\n{out['machine']['cpu']}"
                                            f" ({out['machine']['cores']} cores), load "
                                            f"{out['load_1min_start']:.1f}-"
                                            f"{out['machine']['load_1min']:.1f}, "
                                            f"{out['machine']['date']}")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.screen",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("parts", nargs="+", choices=["accuracy", "throughput"])
    ap.add_argument("--json", default=str(Path(__file__).parent / "results"), metavar="DIR")
    ap.add_argument("--quick", action="store_true", help="a smoke run (small, few epochs)")
    ap.add_argument("--n", type=int, default=100_000, help="throughput: candidates")
    ap.add_argument("--n-files", type=int, default=100_000,
                    help="throughput: xyz files read and screened")
    ap.add_argument("--n-memory", type=int, default=20_000,
                    help="throughput: candidates screened from memory (made beforehand)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128],
                    help="accuracy: hidden layer sizes of the net (default 128)")
    ap.add_argument("--epochs", type=int, default=200, help="accuracy: epochs (default 200)")
    ap.add_argument("--synthetic-conditions", choices=["all", "baseline"], default="all",
                    help="accuracy: every condition on the synthetic set, or the baseline")
    ap.add_argument("--max-measured", type=int, default=40,
                    help="accuracy: synthetic measurements per condition")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    Path(args.json).mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        result = accuracy(args) if part == "accuracy" else throughput(args)
        path = Path(args.json) / f"screen_{part}{'_quick' if args.quick else ''}.json"
        path.write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1)[:3000])
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
