"""WACSFTransformer: the scikit-learn contract, input handling and bad input."""

import pickle

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks as checks

from wacsf import WACSFTransformer, read_structures

SMALL = {"n_g2": 8, "n_g4": 16}


def _structures(n=24, seed=0):
    """Small random clusters around an absorber at index 0."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(3, 9))
        pos = np.vstack([[0, 0, 0], rng.normal(scale=1.6, size=(k, 3))])
        numbers = np.concatenate([[26], rng.choice([1, 6, 7, 8, 16], size=k)])
        out.append(Atoms(numbers=numbers, positions=pos))
    return out


# --- scikit-learn estimator checks --------------------------------------------
#
# check_estimator() runs nothing for an estimator tagged two_d_array=False (it
# only emits a SkipTestWarning), so the checks that need no numeric X are run
# one by one.  The others do not apply: they feed random 2-D float arrays as X
# (check_fit2d_*, check_transformer_general, check_fit_score_takes_y,
# check_n_features_in*, check_dtype_object, check_estimators_nan_inf,
# check_transformer_data_not_an_array, check_methods_subset_invariance, ...),
# and a float matrix is not a structure: WACSFTransformer rejects it with a
# TypeError (tested below).  What they protect -- stateless fit, subset
# invariance, pickling, cloning, dtype -- is tested here on structures.
X_FREE_CHECKS = [
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_no_attributes_set_in_init,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_parameters_default_constructible,
    checks.check_mixin_order,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_valid_tag_types,
    checks.check_estimator_tags_renamed,
]


@pytest.mark.parametrize("check", X_FREE_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_checks_that_need_no_numeric_x(check):
    check("WACSFTransformer", WACSFTransformer())


def test_param_validation_check():
    # check_param_validation fits on a numeric array after valid params; it
    # must see InvalidParameterError for every invalid value before that.
    checks.check_param_validation("WACSFTransformer", WACSFTransformer())


def test_numeric_array_input_is_rejected():
    with pytest.raises(TypeError, match="numeric array"):
        WACSFTransformer().transform(np.zeros((3, 5)))


def test_single_atoms_is_rejected_with_hint():
    with pytest.raises(TypeError, match=r"\[atoms\]"):
        WACSFTransformer().transform(molecule("H2O"))


def test_fit_is_stateless_and_transform_needs_no_fit():
    X = _structures(5)
    t = WACSFTransformer(**SMALL)
    before = t.transform(X)
    t.fit(X)
    np.testing.assert_array_equal(t.transform(X), before)
    assert t.fit_transform(X).shape == (5, 1 + 8 + 16)


def test_clone_and_params_round_trip():
    t = WACSFTransformer(r_cut=5.0, zetas=(1.0, 2.0), weights={1: 0.1, 8: 0.8})
    c = clone(t)
    assert c.get_params() == t.get_params()
    c.set_params(n_g2=4)
    assert c.n_g2 == 4 and t.n_g2 == 32


def test_pickle_round_trip():
    t = WACSFTransformer(**SMALL)
    X = _structures(4)
    t2 = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(t2.transform(X), t.transform(X))


def test_set_output_pandas():
    pd = pytest.importorskip("pandas")
    t = WACSFTransformer(**SMALL).set_output(transform="pandas")
    df = t.fit_transform(_structures(3))
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == list(t.get_feature_names_out())


def test_output_dtype_and_float32():
    X = _structures(4)
    out64 = WACSFTransformer(**SMALL).transform(X)
    out32 = WACSFTransformer(**SMALL, dtype="float32").transform(X)
    assert out64.dtype == np.float64 and out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-6)


def test_pipeline_grid_search_and_cross_val_score():
    X = _structures(30)
    y = np.array([a.get_distance(0, 1) for a in X])
    pipe = make_pipeline(WACSFTransformer(**SMALL), StandardScaler(), Ridge())
    grid = GridSearchCV(
        pipe,
        {
            "wacsftransformer__n_g2": [4, 8],
            "wacsftransformer__n_g4": [8, 16],
            "wacsftransformer__zetas": [(1.0, 2.0), (1.0, 2.0, 4.0, 8.0)],
            "wacsftransformer__r_cut": [4.0, 6.0],
        },
        cv=3,
    )
    grid.fit(X, y)
    assert set(grid.best_params_) == {
        "wacsftransformer__n_g2",
        "wacsftransformer__n_g4",
        "wacsftransformer__zetas",
        "wacsftransformer__r_cut",
    }
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_chunk_size_never_changes_a_number():
    X = _structures(23)
    ref = WACSFTransformer(**SMALL).transform(X)
    for chunk in (1, 5, 22, 1000):
        np.testing.assert_array_equal(
            WACSFTransformer(**SMALL, chunk_size=chunk, progress=False).transform(X), ref
        )


def test_paths_and_atoms_mixed_fill_the_output_in_order(tmp_path):
    import ase.io

    X = _structures(7)
    items = list(X)
    for k in (2, 3, 4):
        path = tmp_path / f"s{k}.xyz"
        ase.io.write(path, X[k], format="xyz")
        items[k] = str(path)
    ref = WACSFTransformer(**SMALL).transform(X)
    for chunk in (1, 2, 3, 1000):
        t = WACSFTransformer(**SMALL, chunk_size=chunk, progress=False)
        np.testing.assert_allclose(t.transform(items), ref, rtol=1e-9, atol=1e-12)
        assert len(t.sites_) == 7
        out32 = WACSFTransformer(**SMALL, chunk_size=chunk, dtype="float32",
                                 progress=False).transform(items)
        assert out32.dtype == np.float32 and out32.shape == ref.shape


def test_output_rows_beyond_the_expected_count_are_kept():
    from wacsf.transformer import _Rows

    rows = _Rows(3, 2, "float64")
    for n, value in ((2, 1.0), (2, 2.0), (1, 3.0)):  # 5 rows where 3 were expected
        out = rows.next(n)
        out[:] = value
        rows.done(out)
    np.testing.assert_array_equal(rows.result()[:, 0], [1, 1, 2, 2, 3])
    short = _Rows(4, 2, "float64")
    out = short.next(2)
    out[:] = 7.0
    short.done(out)
    assert short.result().shape == (2, 2)


def test_n_jobs_never_changes_a_number_and_restores_threads():
    import numba

    X = _structures(10)
    before = numba.get_num_threads()
    one = WACSFTransformer(**SMALL, n_jobs=1, backend="numba").transform(X)
    assert numba.get_num_threads() == before
    np.testing.assert_array_equal(one, WACSFTransformer(**SMALL, backend="numba").transform(X))


def test_backend_used_is_recorded():
    t = WACSFTransformer(**SMALL, backend="auto")
    t.transform(_structures(2))
    assert t.backend_ == "numba"  # a tiny batch never goes to the GPU


def test_weights_mapping_callable_and_symbols_agree():
    X = _structures(6)
    by_fn = WACSFTransformer(**SMALL, weights=lambda z: 0.1 * z).transform(X)
    mapping = {z: 0.1 * z for z in (1, 6, 7, 8, 16, 26)}
    np.testing.assert_allclose(WACSFTransformer(**SMALL, weights=mapping).transform(X), by_fn)
    symbols = {"H": 0.1, "C": 0.6, "N": 0.7, "O": 0.8, "S": 1.6, "Fe": 2.6}
    np.testing.assert_allclose(WACSFTransformer(**SMALL, weights=symbols).transform(X), by_fn)
    default = WACSFTransformer(**SMALL).transform(X)
    # G1 is unweighted, G2 linear in w, G4 quadratic in w.
    np.testing.assert_allclose(by_fn[:, 0], default[:, 0])
    np.testing.assert_allclose(by_fn[:, 1:9], 0.1 * default[:, 1:9], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(by_fn[:, 9:], 0.01 * default[:, 9:], rtol=1e-12, atol=1e-300)


def test_missing_weight_is_a_clear_error():
    with pytest.raises(ValueError, match=r"structure 0: no finite weight for element Z=26"):
        WACSFTransformer(weights={1: 1.0, 8: 8.0}).transform([molecule("H2O") + Atoms("Fe")])


def test_absorber_as_index_sequence_and_info_key():
    X = _structures(4)
    moved = []
    for atoms in X:
        a = atoms.copy()
        a.positions = a.positions[::-1].copy()
        a.numbers = a.numbers[::-1].copy()
        a.info["site"] = len(a) - 1
        moved.append(a)
    ref = WACSFTransformer(**SMALL).transform(X)
    by_key = WACSFTransformer(**SMALL, absorber="site").transform(moved)
    by_seq = WACSFTransformer(**SMALL, absorber=[len(a) - 1 for a in moved]).transform(moved)
    by_neg = WACSFTransformer(**SMALL, absorber=-1).transform(moved)
    for out in (by_key, by_seq, by_neg):
        np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_reads_xyz_with_atomic_numbers_and_symbols(tmp_path):
    (tmp_path / "a.xyz").write_text("3\nwater\n8 0 0 0\n1 0.96 0 0\n1 -0.24 0.93 0\n")
    (tmp_path / "b.xyz").write_text("3\nwater\nO 0 0 0\nH 0.96 0 0\nh -0.24 0.93 0\n")
    structures = read_structures(tmp_path)
    assert [a.info["name"] for a in structures] == ["a", "b"]
    np.testing.assert_array_equal(structures[0].numbers, structures[1].numbers)
    t = WACSFTransformer(**SMALL)
    from_paths = t.transform(tmp_path)
    np.testing.assert_array_equal(from_paths[0], from_paths[1])
    np.testing.assert_array_equal(t.transform([str(tmp_path / "a.xyz")]), from_paths[:1])


def test_reads_real_fe_xyz(data_root):
    structures = read_structures(data_root / "fe_k_edge" / "xyz")
    assert len(structures) == 110
    assert all(a.numbers[0] == 26 for a in structures)


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty file"),
        ("two\n\nO 0 0 0\n", "expected the number of atoms"),
        ("3\n\nO 0 0 0\n", "announces 3 atoms but only 1"),
        ("1\n\nXx 0 0 0\n", "unknown element symbol 'Xx'"),
        ("1\n\n200 0 0 0\n", "outside 1..118"),
        ("1\n\nO 0 zero 0\n", "not numbers"),
    ],
)
def test_bad_xyz_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        WACSFTransformer().transform([path])
    assert "bad.xyz" in str(info.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.xyz"):
        WACSFTransformer().transform(["nope.xyz"])


def test_empty_input():
    with pytest.raises(ValueError, match="no structures"):
        WACSFTransformer().transform([])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_coordinates_name_the_structure(bad):
    X = _structures(3)
    X[2].positions[1, 0] = bad
    with pytest.raises(ValueError, match="structure 2 has NaN or infinite coordinates"):
        WACSFTransformer(backend="numba").transform(X)


def test_absorber_out_of_range():
    X = _structures(3)
    with pytest.raises(ValueError, match=r"structure 0: absorber index 50 is out of range"):
        WACSFTransformer(absorber=50).transform(X)
    with pytest.raises(ValueError, match="one integer index per structure"):
        WACSFTransformer(absorber=[0, 0]).transform(X)
    with pytest.raises(ValueError, match=r"structure 0: absorber='site'"):
        WACSFTransformer(absorber="site").transform(X)


def test_atom_on_absorber():
    X = _structures(3)
    X[1].positions[2] = X[1].positions[0]
    with pytest.raises(ValueError, match="structure 1: atom 2 sits exactly on the absorber"):
        WACSFTransformer(backend="numba").transform(X)


def test_unknown_element_in_atoms():
    with pytest.raises(KeyError):  # ase itself refuses to build such Atoms
        Atoms("Qq")


def test_wrong_item_type_names_index():
    with pytest.raises(TypeError, match="structure 1: expected ase.Atoms"):
        WACSFTransformer().transform([molecule("H2O"), 3.0])


@pytest.mark.parametrize("r_cut", [0.0, -1.0])
def test_non_positive_r_cut(r_cut):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="r_cut"):
        WACSFTransformer(r_cut=r_cut).transform(_structures(1))


def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    from wacsf import _backends

    monkeypatch.setattr(_backends, "cuda_available", lambda: False)
    with pytest.raises(ValueError, match=r"no CUDA GPU.*xanesnet-sk\[cuda\].*NUMBA_ENABLE_CUDASIM"):
        WACSFTransformer(backend="cuda").transform(_structures(1))
