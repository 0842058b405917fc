"""Periodic structures and every absorbing site.

The reference for a periodic structure is the same environment written out
by hand as an explicit, non-periodic cluster: the absorber plus every
periodic image within ``r_cut``, found here by ``ase.neighborlist`` (not by
vesin, which the package uses) or, for bcc Fe, by repeating the cell and
cutting nothing at all.  Features must agree to 1e-10 relative on every
backend, the NumPy oracle included.
"""

import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.neighborlist import neighbor_list

from wacsf import WACSFTransformer, _backends
from wacsf._structures import pack

SMALL = dict(n_g2=8, n_g4=16, zetas=(1.0, 2.0), g4_span="spanning")
BACKENDS = ["numpy", "numba"] + (["cuda"] if _backends.cuda_available() else [])


def _rock_salt():
    return bulk("NaCl", "rocksalt", a=5.64)


def _triclinic():
    rng = np.random.default_rng(7)
    cell = np.array([[3.1, 0.0, 0.0], [0.9, 2.8, 0.0], [0.6, -0.7, 3.3]])
    frac = rng.random((4, 3))
    atoms = Atoms(numbers=[26, 8, 8, 26], scaled_positions=frac, cell=cell, pbc=True)
    # keep atoms apart so that no distance is unphysically small
    assert min(atoms.get_all_distances(mic=True)[np.triu_indices(4, 1)]) > 0.5
    return atoms


def _slab():
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=None, periodic=False)
    slab.pbc = (True, True, False)
    slab.cell[2] = 0.0  # the non-periodic axis needs no cell vector
    slab.numbers[-1] = 26  # one Fe in the top layer
    return slab


def _bcc_fe():
    return bulk("Fe", "bcc", a=2.87)  # one atom in a cell far below 2 r_cut


STRUCTURES = {"bcc_fe": _bcc_fe, "rock_salt": _rock_salt, "triclinic": _triclinic, "slab": _slab}


def explicit_cluster(atoms, site, r_cut):
    """The environment of ``site`` written out as a non-periodic cluster (ase.neighborlist)."""
    first, second, vectors = neighbor_list("ijD", atoms, r_cut)
    mine = first == site
    centre = atoms.positions[site]
    positions = np.vstack([centre, centre + vectors[mine]])
    numbers = np.concatenate([[atoms.numbers[site]], atoms.numbers[second[mine]]])
    return Atoms(numbers=numbers, positions=positions, pbc=False)


def _close(a, b, rtol=1e-10):
    scale = np.maximum(np.abs(b), 1e-300)
    rel = np.abs(a - b) / scale
    small = np.abs(b) < 1e-10 * np.abs(b).max(axis=-1, keepdims=True)
    return bool(np.all((rel <= rtol) | small)), float(np.where(small, 0, rel).max())


@pytest.mark.parametrize("name", sorted(STRUCTURES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_periodic_equals_explicit_cluster(name, backend):
    atoms = STRUCTURES[name]()
    r_cut = 5.0 if backend == "cuda" else 6.0  # the simulator is slow
    sites = list(range(len(atoms)))
    t = WACSFTransformer(r_cut=r_cut, absorber=0, backend=backend, **SMALL)
    per_site = []
    for site in sites:
        t.set_params(absorber=site)
        per_site.append(t.fit_transform([atoms])[0])
    clusters = [explicit_cluster(atoms, s, r_cut) for s in sites]
    ref = WACSFTransformer(r_cut=r_cut, backend="numpy", **SMALL).fit_transform(clusters)
    ok, worst = _close(np.array(per_site), ref)
    assert ok, f"{name} on {backend}: worst relative difference {worst:.3g}"
    assert np.all(ref[:, 0] > 0)  # the environment is not empty


def test_bcc_fe_equals_a_repeated_cell_without_any_neighbour_list():
    fe = _bcc_fe()
    periodic = WACSFTransformer(backend="numba").fit_transform([fe])
    big = fe.repeat((7, 7, 7))  # +-3 cells = 8.6 A > r_cut in every direction
    big.pbc = False
    centre = int(np.argmin(np.linalg.norm(big.positions - big.cell.sum(axis=0) * 3 / 7, axis=1)))
    cluster = WACSFTransformer(absorber=centre, backend="numpy").fit_transform([big])
    ok, worst = _close(periodic, cluster)
    assert ok, worst
    # bcc Fe's 1-atom cell used to give all-zero features; now G1 counts 58 neighbours' cutoffs
    assert periodic[0, 0] > 5


def test_periodic_neighbour_count_matches_ase():
    from wacsf._periodic import site_environments

    for name, make in STRUCTURES.items():
        atoms = make()
        sizes, _, _ = site_environments(atoms, np.arange(len(atoms)), 6.0)
        first = neighbor_list("i", atoms, 6.0)
        assert sizes.tolist() == (np.bincount(first, minlength=len(atoms)) + 1).tolist(), name


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_compiled_image_search_and_vesin_agree_bit_for_bit(name):
    from wacsf._periodic import site_environments

    atoms = STRUCTURES[name]()
    sites = np.arange(len(atoms))[::-1]  # any order of sites
    compiled = site_environments(atoms, sites, 6.0, method="compiled")
    vesin = site_environments(atoms, sites, 6.0, method="vesin")
    for a, b in zip(compiled, vesin):
        np.testing.assert_array_equal(a, b)


def test_large_cell_many_sites_takes_vesin_with_the_same_numbers(monkeypatch):
    from wacsf import _periodic

    crystal = _rock_salt().repeat((3, 3, 3))
    t = WACSFTransformer(absorber_element="Na", backend="numba", **SMALL)
    compiled = t.fit_transform([crystal])
    calls = []
    original = _periodic._vesin_neighbours

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_periodic, "_vesin_neighbours", spy)
    monkeypatch.setattr(_periodic, "VESIN_ABOVE", 10.0)
    np.testing.assert_array_equal(t.fit_transform([crystal]), compiled)
    assert calls, "the heavy structure did not go to vesin"


def test_molecules_pack_exactly_as_before():
    """Non-periodic input reaches the kernels as the plain concatenation: numbers unchanged."""
    mols = [molecule("H2O"), molecule("CH4"), molecule("C6H6")]
    p = pack(mols, absorber=1, r_cut=6.0)
    assert np.array_equal(p.positions, np.concatenate([m.positions for m in mols]))
    assert np.array_equal(p.weights, np.concatenate([m.numbers for m in mols]).astype(float))
    assert p.offsets.tolist() == [0, 3, 8, 20]
    assert p.absorbers.tolist() == [1, 4, 9]
    assert p.sites.tolist() == [[0, 1], [1, 1], [2, 1]]


def test_absorber_element_rows_equal_single_site_rows_bit_for_bit():
    mols = [molecule("CH3CH2OH"), molecule("H2O"), molecule("C2H6")]
    # structure 1 (water) has no carbon
    with pytest.raises(ValueError, match=r"structure 1 \(H2O\) has no C atom"):
        WACSFTransformer(absorber_element="C").fit_transform(mols)
    t = WACSFTransformer(absorber_element="C", on_missing_absorber="skip", backend="numba",
                         **SMALL)
    with pytest.warns(UserWarning, match="skipped 1 structures"):
        X = t.fit_transform(mols)
    assert t.sites_.tolist() == [[0, 0], [0, 1], [2, 0], [2, 1]]
    for row, (s, i) in enumerate(t.sites_):
        one = WACSFTransformer(absorber=int(i), backend="numba", **SMALL).fit_transform([mols[s]])
        assert np.array_equal(X[row], one[0])


def test_absorber_element_skip_warns_and_sites_say_which():
    mols = [molecule("H2O"), molecule("CH4"), molecule("NH3")]
    t = WACSFTransformer(absorber_element=6, on_missing_absorber="skip", **SMALL)
    with pytest.warns(UserWarning, match=r"skipped 2 structures with no C atom"):
        X = t.fit_transform(mols)
    assert X.shape == (1, t.get_feature_names_out().size)
    assert t.sites_.tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="no structure has a Fe atom"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        WACSFTransformer(absorber_element="Fe", on_missing_absorber="skip").transform(mols)


def test_every_site_of_a_crystal_and_mixed_input():
    rs = _rock_salt().repeat((2, 1, 1))  # 4 atoms: Na Cl Na Cl
    mols = [Atoms("NaCl", positions=[[0, 0, 0], [2.4, 0, 0]])]
    t = WACSFTransformer(absorber_element="Na", backend="numba", **SMALL)
    X = t.fit_transform([rs, *mols, rs])
    assert t.sites_.tolist() == [[0, 0], [0, 2], [1, 0], [2, 0], [2, 2]]
    # the two Na of the doubled rock-salt cell are equivalent
    np.testing.assert_allclose(X[0], X[1], rtol=1e-12)
    np.testing.assert_array_equal(X[0], X[3])
    ref = WACSFTransformer(backend="numpy", **SMALL).fit_transform(
        [explicit_cluster(rs, 0, 6.0), mols[0]])
    assert _close(X[[0, 2]], ref)[0]
    plain = WACSFTransformer(**SMALL).get_feature_names_out()
    assert list(t.get_feature_names_out()) == list(plain)


def test_periodic_chunking_threads_and_float32():
    X = [_triclinic(), _slab(), _bcc_fe()] * 3
    base = WACSFTransformer(absorber_element="Fe", backend="numba", **SMALL).fit_transform(X)
    for kw in (dict(chunk_size=2), dict(n_jobs=1)):
        other = WACSFTransformer(absorber_element="Fe", backend="numba", **SMALL, **kw)
        np.testing.assert_array_equal(other.fit_transform(X), base)
    f32 = WACSFTransformer(absorber_element="Fe", dtype="float32", **SMALL).fit_transform(X)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, base, rtol=1e-6, atol=1e-6 * np.abs(base).max())


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.cell.__setitem__(0, 0.0), r"structure 1: .*periodic axis is zero"),
        (lambda a: setattr(a, "cell", np.zeros((3, 3))), r"structure 1: .*periodic axis is zero"),
        (lambda a: a.cell.__setitem__(2, a.cell[0] + a.cell[1]),
         r"structure 1: .*linearly dependent"),
        (lambda a: a.cell.__setitem__((1, 1), np.nan), r"structure 1: .*cell holds NaN"),
        (lambda a: a.set_cell(a.cell * 1e-3, scale_atoms=True),
         r"structure 1: .*atoms/A\^3, denser than any solid"),
        (lambda a: a.set_cell([[3, 0, 0], [30000, 3, 0], [0, 0, 3]]),
         r"structure 1: the cell is tiny or skewed .*niggli_reduce"),
    ],
)
def test_degenerate_cells_are_clear_errors(change, match):
    bad = _rock_salt()
    change(bad)
    with pytest.raises(ValueError, match=match):
        WACSFTransformer().fit_transform([molecule("H2O"), bad])


def test_slab_pbc_only_needs_periodic_vectors():
    slab = _slab()
    slab.pbc = (True, False, False)
    slab.cell[1] = 0.0
    WACSFTransformer(**SMALL).fit_transform([slab])  # no error: axis 1 is not periodic
    slab.pbc = (True, True, False)
    with pytest.raises(ValueError, match="periodic axis is zero"):
        WACSFTransformer(**SMALL).fit_transform([slab])


def test_absorber_and_absorber_element_are_exclusive_and_validated():
    with pytest.raises(ValueError, match="either absorber .* or absorber_element"):
        WACSFTransformer(absorber=2, absorber_element="Fe").fit([molecule("H2O")])
    with pytest.raises(ValueError, match="absorber_element: unknown element symbol 'Xx'"):
        WACSFTransformer(absorber_element="Xx").fit_transform([molecule("H2O")])
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="absorber_element"):
        WACSFTransformer(absorber_element=200).fit_transform([molecule("H2O")])
    with pytest.raises(InvalidParameterError, match="on_missing_absorber"):
        WACSFTransformer(on_missing_absorber="drop").fit_transform([molecule("H2O")])


def test_site_index_out_of_range_names_the_structure():
    with pytest.raises(ValueError, match=r"structure 0: absorber index 9 is out of range for 2"):
        WACSFTransformer(absorber=9).fit_transform([_rock_salt()])


def test_atoms_on_top_of_each_other_in_a_crystal():
    bad = _rock_salt()
    bad.positions[1] = bad.positions[0] + bad.cell[0]  # Cl on an image of Na
    with pytest.raises(ValueError, match=r"structure 0: atom 1 \(a periodic image of it\) sits "
                                         r"exactly on the absorber"):
        WACSFTransformer().fit_transform([bad])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sub_ulp_distance_is_the_same_clear_error_on_every_backend(backend):
    atoms = Atoms("FeO", positions=[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0 + 2e-16]])
    with pytest.raises(ValueError, match=r"structure 0: atom 1 is only 2.22e-16 A from the "
                                         r"absorber \(atom 0\)"):
        WACSFTransformer(backend=backend).fit_transform([atoms])


# ------------------------------------------------------------ cells no real structure has


def _sc(a, symbol="Fe"):
    return Atoms(symbol, cell=np.eye(3) * a, pbc=True)


def test_a_cell_in_nm_is_refused_before_any_image_search(monkeypatch):
    from wacsf import _periodic

    def no_search(*args):
        raise AssertionError("the image search ran")

    monkeypatch.setattr(_periodic, "_count_images", no_search)
    fe_nm = bulk("Fe", "bcc", a=0.287, cubic=True)  # 78k images per site if accepted
    with pytest.raises(ValueError) as info:
        WACSFTransformer().fit_transform([molecule("H2O"), fe_nm])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("structure 1: 2 atoms in a 0.0236 A^3 cell is 84.6 atoms/A^3")
    assert "in nm?" in message and "Angstrom" in message


def test_density_limit_is_atoms_per_cubic_angstrom_exclusive():
    from wacsf._periodic import MAX_DENSITY, check_cells

    assert MAX_DENSITY == 1.0
    cells, pbc = np.diag([1.0, 2.0, 4.0])[None], np.ones((1, 3), dtype=bool)  # 8 A^3
    check_cells(cells, pbc, 3.0, str, n_atoms=[8])  # exactly 1 atom per A^3: accepted
    with pytest.raises(ValueError, match="9 atoms in a 8 A\\^3 cell is 1.12 atoms/A\\^3"):
        check_cells(cells, pbc, 3.0, str, n_atoms=[9])
    # a slab has no volume to judge: left to the neighbour count
    check_cells(cells, np.array([[True, True, False]]), 3.0, str, n_atoms=[9])


def test_max_neighbours_is_the_densest_sphere_plus_spare():
    from wacsf._periodic import max_neighbours

    assert max_neighbours(6.0) == int(4 / 3 * np.pi * 216) + 100 == 1004
    assert max_neighbours(3.0) == int(4 / 3 * np.pi * 27) + 100 == 213


def test_a_slab_in_nm_is_refused_by_its_neighbour_count():
    slab = fcc111("Cu", size=(2, 2, 3), a=0.361, vacuum=None, periodic=False)
    slab.pbc = (True, True, False)
    slab.cell[2] = 0.0
    with pytest.raises(ValueError, match=r"^structure 0: site atom 0 has \d+ neighbours within "
                                         r"r_cut=6 A, more than a real structure has \(1004\); "
                                         r"are the cell and positions in nm\?"):
        WACSFTransformer(**SMALL).fit_transform([slab])


@pytest.mark.parametrize("method", ["compiled", "vesin"])
def test_neighbour_limit_boundary_on_both_searches(monkeypatch, method):
    from wacsf import _periodic
    from wacsf._periodic import site_environments

    monkeypatch.setattr(_periodic, "max_neighbours", lambda r_cut: 32)  # sc: 32 within 2 a
    sizes, _, _ = site_environments(_sc(3.0), [0], 6.0, method=method)
    assert sizes.tolist() == [33]
    monkeypatch.setattr(_periodic, "max_neighbours", lambda r_cut: 31)
    with pytest.raises(ValueError, match="site atom 0 has 32 neighbours .* \\(31\\)"):
        site_environments(_sc(3.0), [0], 6.0, method=method)


def test_a_structure_bound_for_vesin_is_counted_before_vesin_runs(monkeypatch):
    from wacsf import _periodic
    from wacsf._periodic import site_environments

    def no_vesin(*args):
        raise AssertionError("vesin ran")

    monkeypatch.setattr(_periodic, "_vesin_neighbours", no_vesin)
    monkeypatch.setattr(_periodic, "max_neighbours", lambda r_cut: 31)
    with pytest.raises(ValueError, match="site atom 0 has 32 neighbours"):
        site_environments(_sc(3.0), [0, 0], 6.0, method="vesin")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_an_atom_closer_than_half_an_angstrom_in_a_crystal_is_refused(backend):
    crystal = _rock_salt()
    t = WACSFTransformer(backend=backend, **SMALL)
    crystal.positions[1] = crystal.positions[0] + [0.5, 0.0, 0.0]  # exactly 0.5 A: accepted
    t.fit_transform([crystal])
    crystal.positions[1] = crystal.positions[0] + [0.49, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"^structure 0: atom 1 is only 0.49 A from the absorber "
                                         r"\(atom 0\); in a periodic structure, distances below "
                                         r"0.5 A .* in nm\?"):
        t.fit_transform([crystal])
    # the same pair as a molecule: molecules keep the 1e-6 A rule
    t.fit_transform([Atoms("NaCl", positions=[[0, 0, 0], [0.49, 0, 0]])])


# ------------------------------------------------------------ the boundary r == r_cut


@pytest.mark.parametrize(
    "a, r_cut, neighbours",
    [
        (3.0, 6.0, 32),  # six images at exactly r_cut: members (0 < r <= r_cut)
        (3.0, np.nextafter(6.0, 0.0), 26),  # just outside
        (3.0, np.nextafter(6.0, 7.0), 32),  # just inside
        (3.0 * (1 + 1e-12), 6.0, 26),
        (3.0 * (1 - 1e-12), 6.0, 32),
        (3.35, 6.7, 32),  # r_cut * (1 / a) rounds to 1.9999999999999998: padded bounds
    ],
)
@pytest.mark.parametrize("method", ["compiled", "vesin", "auto"])
def test_images_at_exactly_r_cut_are_members_in_both_searches(a, r_cut, neighbours, method):
    from wacsf._periodic import site_environments

    sizes, source, coords = site_environments(_sc(a), [0], r_cut, method=method)
    assert sizes.tolist() == [neighbours + 1]
    d2 = np.einsum("ij,ij->i", coords[1:], coords[1:])
    assert d2.max() <= r_cut * r_cut
    compiled = site_environments(_sc(a), [0], r_cut, method="compiled")
    for x, y in zip((sizes, source, coords), compiled):
        np.testing.assert_array_equal(x, y)


def test_boundary_rule_features_agree_bit_for_bit(monkeypatch):
    from wacsf import _periodic

    t = WACSFTransformer(r_cut=6.0, backend="numba", **SMALL)
    compiled = t.fit_transform([_sc(3.0)])
    monkeypatch.setattr(_periodic, "VESIN_ABOVE", 0.0)
    np.testing.assert_array_equal(t.fit_transform([_sc(3.0)]), compiled)


# ------------------------------------------------------------ which search "auto" takes


def test_auto_takes_vesin_strictly_above_the_visit_threshold(monkeypatch):
    from wacsf import _periodic
    from wacsf._periodic import VESIN_ABOVE, uses_vesin

    assert VESIN_ABOVE == 3.0e7
    offsets = np.array([0, 1000, 1010])
    reach = np.array([[0.5, 0.5, 0.5], [2.0, 2.0, 0.0]])  # 8 and 25 image cells per atom
    site_struct = np.array([0] * 3750 + [1] * 4)
    # structure 0: 3750 sites * 1000 atoms * 8 cells = 3e7 visits, not above; structure 1: 1000
    assert uses_vesin(site_struct, offsets, reach).tolist() == [False, False]
    site_struct = np.array([0] * 3751 + [1] * 4)
    assert uses_vesin(site_struct, offsets, reach).tolist() == [True, False]
    monkeypatch.setattr(_periodic, "VESIN_ABOVE", 1000.0)
    assert uses_vesin(np.array([1] * 4), offsets, reach).tolist() == [False, False]
    monkeypatch.setattr(_periodic, "VESIN_ABOVE", 999.0)
    assert uses_vesin(np.array([1] * 4), offsets, reach).tolist() == [False, True]
    assert uses_vesin(site_struct, offsets, reach, "compiled").tolist() == [False, False]
    assert uses_vesin(site_struct, offsets, reach, "vesin").tolist() == [True, True]
    with pytest.raises(ValueError, match="method must be 'auto', 'compiled' or 'vesin'"):
        uses_vesin(site_struct, offsets, reach, "fast")


def test_auto_sends_only_the_heavy_structure_to_vesin(monkeypatch):
    from wacsf import _periodic

    calls = []
    original = _periodic._vesin_neighbours

    def spy(positions, *args):
        calls.append(len(positions))
        return original(positions, *args)

    monkeypatch.setattr(_periodic, "_vesin_neighbours", spy)
    crystal, small = _rock_salt().repeat((3, 3, 3)), _rock_salt()
    t = WACSFTransformer(absorber_element="Na", backend="numba", **SMALL)
    ref = t.fit_transform([crystal, small])
    assert calls == []
    # 27 Na sites * 54 atoms * image cells: between the two structures' visits
    reach = _periodic.check_cells(np.array([crystal.cell.array]), np.ones((1, 3), bool), 6.0,
                                  str)[1]
    visits = 27 * 54 * np.prod(2 * reach + 1)
    monkeypatch.setattr(_periodic, "VESIN_ABOVE", float(np.nextafter(visits, 0)))
    np.testing.assert_array_equal(t.fit_transform([crystal, small]), ref)
    assert calls == [54]
