"""``rjk_cutoff``: the paper's clamped f_c(r_jk) or XANESNET's unclamped cosine.

Every backend (NumPy oracle, Numba CPU, CUDA on the simulator) and the
periodic path, both settings.  The oracle is written from the formulas
(``wacsf._reference.cutoff`` / ``cutoff_unclamped``); the kernels are held to
it at 1e-10 as in ``tests/test_cpu_kernel.py``.
"""

import math

import numba
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from sklearn.utils._param_validation import InvalidParameterError

import wacsf
from wacsf import WACSFTransformer, _backends, _cpu, _reference
from wacsf._params import resolve_grids
from wacsf._periodic import site_environments
from wacsf._structures import pack

MODES = ("clamped", "xanesnet")
#: XANESNET's own input settings (its input files): r_min 1, 16 G2, 32 G4, zeta 1.
XANESNET_SETTINGS = dict(r_min=1.0, n_g2=16, n_g4=32, zetas=(1.0,))


def _grids(r_cut=6.0, r_min=0.0, n_g2=32, n_g4=64, g2_scheme="shifted", g4_scheme="centred",
           lambdas=(1.0, -1.0), zetas=(1.0, 2.0, 4.0, 8.0)):
    return resolve_grids(r_cut, r_min, n_g2, n_g4, g2_scheme, g4_scheme, "xanesnet", lambdas,
                         zetas)


def _run(kernel, packed, grids, r_cut=6.0, **kw):
    n_feat = 1 + grids["g2_eta"].size + grids["g4_eta"].size * (
        grids["lambdas"].size * grids["zetas"].size)
    out = np.full((packed.n_structures, n_feat), np.nan)
    kernel(packed.positions, packed.weights, packed.offsets, packed.absorbers, float(r_cut),
           grids["g2_eta"], grids["g2_mu"], grids["g4_eta"], grids["g4_mu"], grids["lambdas"],
           grids["zetas"], 1.0, out, **kw)
    return out


def assert_close(got, ref, rtol=1e-10):
    """|got - ref| <= rtol |ref| + rtol max|ref[:, column]| (the bar of test_cpu_kernel)."""
    assert np.all(np.isfinite(got))
    bound = rtol * np.abs(ref) + rtol * np.abs(ref).max(axis=0)
    bad = np.abs(got - ref) > bound
    assert not bad.any(), f"{bad.sum()} elements differ, first at {np.argwhere(bad)[0]}"


def _far_pair(r=5.0, eta=0.01):
    """Absorber at the origin, j and k on opposite sides at r: r_jk = 2 r > r_c = 6."""
    return Atoms(numbers=[26, 8, 7], positions=[[0, 0, 0], [r, 0, 0], [-r, 0, 0]])


def _clusters(seed=0, n=6, scale=2.6):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(3, 30))
        pos = np.vstack([[0.0, 0.0, 0.0], rng.normal(scale=scale, size=(m, 3))])
        numbers = np.concatenate([[26], rng.choice([1, 6, 7, 8, 17], size=m)])
        out.append(Atoms(numbers=numbers, positions=pos))
    return out


def _has_far_pairs(atoms, r_cut=6.0):
    d = np.linalg.norm(atoms.positions - atoms.positions[0], axis=1)
    near = atoms.positions[(d <= r_cut) & (d > 0)]
    rjk = np.linalg.norm(near[:, None] - near[None], axis=2)
    return bool((rjk > r_cut).any())


# --- the formula, one pair --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_one_far_pair_closed_form(backend):
    # r_ij = r_ik = 5, r_jk = 10 > r_c, theta = pi: G4 = 2^(1-zeta) w_j w_k (1 - lambda)^zeta
    # f_c(5)^2 f_c(r_jk) exp(-eta (25 + 25 + 100)), with f_c(10) = 0 or (cos(10 pi/6) + 1)/2
    eta = 0.01
    params = dict(g2_scheme=np.array([[0.1, 0.0]]), g4_scheme=np.array([[eta, 0.0]]),
                  lambdas=(1.0, -1.0), zetas=(1.0, 2.0), backend=backend)
    fc5 = 0.5 * (math.cos(math.pi * 5.0 / 6.0) + 1.0)
    for mode, fc_jk in (("clamped", 0.0), ("xanesnet", 0.5 * (math.cos(math.pi * 10 / 6) + 1))):
        got = WACSFTransformer(rjk_cutoff=mode, **params).transform([_far_pair()])[0]
        radial = 8.0 * 7.0 * fc5 * fc5 * fc_jk * math.exp(-eta * 150.0)
        # columns: G1, G2, then (lambda=+1: zeta 1, 2), (lambda=-1: zeta 1, 2)
        expected = [0.0, 0.0, 2.0 * radial, 2.0 * radial]
        np.testing.assert_allclose(got[2:], expected, rtol=1e-13, atol=0.0)
        assert got[0] == pytest.approx(2 * fc5, rel=1e-15)
    assert fc_jk == pytest.approx(0.75, rel=1e-15)


def test_pair_at_exactly_r_cut_is_zero_in_both():
    # r_jk = r_c exactly: f_c = 0 clamped, and (cos(pi) + 1)/2 = 0 unclamped
    atoms = Atoms(numbers=[26, 8, 8], positions=[[0, 0, 0], [3.0, 0, 0], [-3.0, 0, 0]])
    outs = [WACSFTransformer(rjk_cutoff=m, n_g2=4, n_g4=8, zetas=(1.0,), backend="numba")
            .transform([atoms])[0] for m in MODES]
    assert np.all(outs[0][5:] == 0.0)
    assert np.all(np.abs(outs[1][5:]) <= 1e-30)


# --- kernels against the oracle ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("settings", ["defaults", "xanesnet"])
def test_numba_matches_oracle_synthetic(mode, settings):
    structures = _clusters(1, n=8) + [_far_pair()]
    assert sum(map(_has_far_pairs, structures)) >= 3
    packed = pack(structures)
    grids = _grids(**(XANESNET_SETTINGS if settings == "xanesnet" else {}))
    ref = _run(_reference.wacsf_features, packed, grids, rjk_cutoff=mode)
    assert_close(_run(_cpu.wacsf_features, packed, grids, rjk_cutoff=mode), ref)
    # the range entry point (the transformer's) as well
    out = np.full_like(ref, np.nan)
    _cpu.wacsf_features_range(
        packed.positions, packed.weights, packed.offsets, packed.absorbers, 6.0,
        grids["g2_eta"], grids["g2_mu"], grids["g4_eta"], grids["g4_mu"], grids["lambdas"],
        grids["zetas"], 1.0, out, 0, packed.n_structures, rjk_cutoff=mode)
    assert_close(out, ref)


@pytest.mark.data
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("settings", ["defaults", "xanesnet"])
def test_numba_matches_oracle_fe(data_root, mode, settings):
    fe = pack(wacsf.read_structures(data_root / "fe_k_edge" / "xyz"))
    grids = _grids(**(XANESNET_SETTINGS if settings == "xanesnet" else {}))
    ref = _run(_reference.wacsf_features, fe, grids, rjk_cutoff=mode)
    assert_close(_run(_cpu.wacsf_features, fe, grids, rjk_cutoff=mode), ref)


@pytest.mark.data
def test_the_settings_differ_on_fe_as_measured(data_root):
    """The two settings differ only in G4, and only through pairs with r_jk > r_c:
    2e-5 relative at the defaults, 2.5 % of G4 at XANESNET's settings, 109 of 110."""
    fe = pack(wacsf.read_structures(data_root / "fe_k_edge" / "xyz"))
    for settings, worst in (({}, 2.05e-5), (XANESNET_SETTINGS, 0.0249)):
        grids = _grids(**settings)
        c, x = (_run(_cpu.wacsf_features, fe, grids, rjk_cutoff=m) for m in MODES)
        n12 = 1 + grids["g2_eta"].size
        np.testing.assert_array_equal(c[:, :n12], x[:, :n12])
        rel = np.abs(x - c)[:, n12:] / np.abs(c)[:, n12:]
        assert rel.max() == pytest.approx(worst, rel=0.01)
        assert int((x != c).any(axis=1).sum()) == 109
        # every extra term is >= 0 (up to the rounding of a longer sum)
        assert np.all(x[:, n12:] >= c[:, n12:] * (1.0 - 1e-14))


def test_no_far_pair_gives_bit_identical_settings():
    # every r_jk <= r_c: the xanesnet setting runs the clamped instructions
    rng = np.random.default_rng(7)
    structures = []
    for _ in range(5):
        pos = np.vstack([[0.0, 0.0, 0.0], rng.uniform(-1.7, 1.7, size=(15, 3))])
        structures.append(Atoms(numbers=[26] + [6] * 15, positions=pos))
    assert not any(map(_has_far_pairs, structures))
    packed = pack(structures)
    grids = _grids()
    c, x = (_run(_cpu.wacsf_features, packed, grids, rjk_cutoff=m) for m in MODES)
    np.testing.assert_array_equal(c, x)


def test_default_is_the_clamped_formula_bit_for_bit():
    structures = _clusters(2, n=6) + [_far_pair()]
    default = WACSFTransformer(backend="numba").transform(structures)
    clamped = WACSFTransformer(backend="numba", rjk_cutoff="clamped").transform(structures)
    np.testing.assert_array_equal(default, clamped)
    assert WACSFTransformer().rjk_cutoff == "clamped"
    # and that is the paper's formula, the oracle with the clamp
    packed = pack(structures)
    assert_close(default, _run(_reference.wacsf_features, packed, _grids()))
    assert not np.allclose(
        default, WACSFTransformer(backend="numba", rjk_cutoff="xanesnet").transform(structures))


def test_unclamped_cutoff_poly_matches_libm_cosine():
    r_cut = 6.0
    r = np.concatenate([np.linspace(0.0, 12.0, 20001), [6.0, 6.0 + 1e-12, 12.0]])
    got = np.array([_cpu._cutoff_rjk(v, r_cut, math.inf) for v in r])
    err = np.abs(got - _reference.cutoff_unclamped(r, r_cut))
    assert np.all(err[r <= r_cut] <= 4e-16)
    # beyond r_c the oracle's own argument pi r / r_c (up to 2 pi) rounds to ~4e-16
    assert np.all(err <= 1e-15)
    clamped = np.array([_cpu._cutoff_rjk(v, r_cut, r_cut) for v in r])
    # the clamped form is _cutoff_poly's, bit for bit
    np.testing.assert_array_equal(clamped, [_cpu._cutoff_poly(v, r_cut) for v in r])
    assert _cpu._cutoff_rjk(12.0, r_cut, math.inf) == 1.0


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_xanesnet_setting_thread_count_changes_nothing():
    structures = _clusters(3, n=40)
    outs = [WACSFTransformer(backend="numba", n_jobs=n, rjk_cutoff="xanesnet").transform(
        structures) for n in (1, 2)]
    np.testing.assert_array_equal(outs[0], outs[1])


def test_unknown_setting_is_refused():
    with pytest.raises(InvalidParameterError, match="rjk_cutoff"):
        WACSFTransformer(rjk_cutoff="unclamped").fit()
    with pytest.raises(ValueError, match="rjk_cutoff"):
        _run(_cpu.wacsf_features, pack([_far_pair()]), _grids(), rjk_cutoff="none")
    with pytest.raises(ValueError, match="rjk_cutoff"):
        _run(_reference.wacsf_features, pack([_far_pair()]), _grids(), rjk_cutoff="none")


def test_feature_names_do_not_depend_on_it():
    names = [WACSFTransformer(rjk_cutoff=m).get_feature_names_out() for m in MODES]
    np.testing.assert_array_equal(*names)


# --- the periodic path ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_periodic_equals_its_environment_as_cluster(mode):
    # bcc Fe: the 2.87 A cell is far below 2 r_c, so many image pairs have r_jk > r_c
    crystal = bulk("Fe", "bcc", a=2.87, cubic=True)
    crystal.rattle(0.05, seed=3)
    _, src, xyz = site_environments(crystal, [1], 6.0)
    cluster = Atoms(numbers=crystal.numbers[src], positions=xyz)
    assert _has_far_pairs(cluster)
    t = WACSFTransformer(backend="numba", absorber=1, rjk_cutoff=mode, n_g2=8, n_g4=16)
    got = t.transform([crystal])
    ref = WACSFTransformer(backend="numpy", absorber=0, rjk_cutoff=mode, n_g2=8,
                           n_g4=16).transform([cluster])
    assert_close(got, ref)


def test_periodic_settings_differ():
    crystal = bulk("Fe", "bcc", a=2.87, cubic=True)
    c, x = (WACSFTransformer(backend="numba", rjk_cutoff=m, **XANESNET_SETTINGS)
            .transform([crystal]) for m in MODES)
    assert np.array_equal(c[:, :17], x[:, :17])
    assert np.all(x[:, 17:] >= c[:, 17:]) and np.any(x[:, 17:] > c[:, 17:])


# --- CUDA (the simulator) ----------------------------------------------------------------


needs_cuda = pytest.mark.skipif(not _backends.cuda_available(),
                                reason="numba.cuda is not usable (NUMBA_ENABLE_CUDASIM=1?)")


@needs_cuda
@pytest.mark.parametrize("mode", MODES)
def test_cuda_matches_oracle(monkeypatch, mode):
    from wacsf import _cuda

    monkeypatch.setattr(_cuda, "THREADS_PER_BLOCK", 8)
    structures = [_far_pair()] + [a for a in _clusters(4, n=6, scale=3.0) if len(a) < 16][:3]
    assert sum(map(_has_far_pairs, structures)) >= 2
    packed = pack(structures)
    grids = _grids(**XANESNET_SETTINGS)
    ref = _run(_reference.wacsf_features, packed, grids, rjk_cutoff=mode)
    assert_close(_run(_cuda.wacsf_features, packed, grids, rjk_cutoff=mode), ref)
    other = _run(_reference.wacsf_features, packed, grids,
                 rjk_cutoff=MODES[1 - MODES.index(mode)])
    assert not np.allclose(ref, other)
