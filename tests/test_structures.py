"""Reading structure files and validating structures before any kernel runs."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from wacsf import WACSFTransformer, read_structures
from wacsf._structures import pack

SMALL = dict(n_g2=8, n_g4=16, zetas=(1.0, 2.0))


# ------------------------------------------------------------ formats ase reads


@pytest.mark.parametrize("fmt, name", [("extxyz", "fe.xyz"), ("cif", "fe.cif"),
                                       ("vasp", "POSCAR"), ("vasp", "fe.vasp")])
def test_periodic_files_keep_cell_and_pbc(tmp_path, fmt, name):
    import ase.io

    crystal = bulk("FeO", "rocksalt", a=4.33)
    path = tmp_path / name
    ase.io.write(path, crystal, format=fmt)
    (atoms,) = read_structures(path)
    assert atoms.pbc.all()
    # CIF rotates the cell: compare lengths and angles
    np.testing.assert_allclose(atoms.cell.cellpar(), crystal.cell.cellpar(), atol=1e-6)
    assert atoms.get_chemical_symbols() == ["Fe", "O"]
    assert atoms.info["name"] == path.stem or name == "POSCAR"
    # a directory with all formats is read too, and featurised periodically
    assert read_structures(tmp_path)[0].pbc.all()
    X = WACSFTransformer(absorber_element="Fe", **SMALL).fit_transform(tmp_path)
    np.testing.assert_allclose(X[0], WACSFTransformer(**SMALL).fit_transform([crystal])[0],
                               rtol=1e-6)


def test_multi_frame_files_are_an_error_or_every_frame(tmp_path):
    frames = "2\nfirst\n26 0 0 0\n8 0 0 1.6\n3\nsecond\n26 0 0 0\n8 0 0 1.7\n8 0 1.7 0\n"
    path = tmp_path / "traj.xyz"
    path.write_text(frames)
    with pytest.raises(ValueError, match=r"traj.xyz: holds 2 structures .*index=':'"):
        read_structures(path)
    both = read_structures(path, index=":")
    assert [len(a) for a in both] == [2, 3]
    assert [a.info["name"] for a in both] == ["traj_0", "traj_1"]
    assert both[1].info["source"].endswith("traj.xyz, line 5")
    assert [len(a) for a in read_structures(path, index=-1)] == [3]
    with pytest.raises(ValueError, match="index=5 but the file holds 2 frames"):
        read_structures(path, index=5)


def test_multi_frame_extxyz_through_ase(tmp_path):
    import ase.io

    path = tmp_path / "md.xyz"
    traj = [bulk("Fe", "bcc", a=2.87 + 0.01 * k) for k in range(3)]
    ase.io.write(path, traj, format="extxyz")
    with pytest.raises(ValueError, match="holds 3 structures"):
        read_structures(path)
    got = read_structures(path, index=":")
    assert [round(a.cell[0, 0], 6) for a in got] == [round(a.cell[0, 0], 6) for a in traj]


@pytest.mark.parametrize(
    "text, match",
    [
        ("2\n\n26 0 0 0\n8 0 0 1.6\n8 0 1.6 0\n", r"a.xyz, line 5: line 1 announces 2 atoms, but "
                                                  r"more atom lines follow"),
        ("3\n\n26 0 0 0\n8 0 0 1.6\n", r"a.xyz: line 1 announces 3 atoms but only 2 lines follow"),
        ("2\n\n26 0 0 0\n8 0 0 nan\n", r"a.xyz, line 4: coordinates are NaN or infinite"),
        ("2\n\n26 0 0 0\n8 0 inf 1\n", r"a.xyz, line 4: coordinates are NaN or infinite"),
        ("", r"a.xyz: empty file"),
    ],
)
def test_bad_xyz_name_file_and_line(tmp_path, text, match):
    (tmp_path / "a.xyz").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_structures(tmp_path / "a.xyz")


def test_repeated_atom_line_after_the_atoms_is_left_out_with_a_warning(tmp_path):
    path = tmp_path / "s.xyz"
    path.write_text("2\n\nS 0 0 0\nO 0 0 1.5\nS 0 0 0\n")
    with pytest.warns(UserWarning, match=r"s.xyz, line 5: repeats an atom line"):
        (atoms,) = read_structures(path)
    assert len(atoms) == 2


def test_utf8_bom_is_accepted_and_bad_encodings_name_the_file(tmp_path):
    good = tmp_path / "bom.xyz"
    good.write_bytes(b"\xef\xbb\xbf2\ncomment\nFe 0 0 0\nO 0 0 1.6\n")
    assert len(read_structures(good)[0]) == 2
    latin = tmp_path / "latin.xyz"
    latin.write_bytes(b"2\nr\xe9sum\xe9\nFe 0 0 0\nO 0 0 1.6\n")
    with pytest.raises(ValueError, match=r"latin.xyz, line 2: not UTF-8 text"):
        read_structures(latin)
    binary = tmp_path / "bin.xyz"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match=r"bin.xyz: this is a binary file"):
        read_structures(binary)
    with pytest.raises(ValueError, match=r"bin.xyz: this is a binary file"):
        WACSFTransformer().fit_transform([good, binary])


def test_bad_coordinates_in_one_file_of_many_name_the_file(tmp_path):
    for k in range(3):
        (tmp_path / f"m{k}.xyz").write_text("2\n\nFe 0 0 0\nO 0 0 1.6\n")
    atoms = read_structures(tmp_path)
    atoms[2].positions[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"structure 2 has NaN .* in .*m2.xyz"):
        WACSFTransformer().fit_transform(atoms)


# ------------------------------------------------------------ validation


@pytest.mark.parametrize("structure", [0, 2])
@pytest.mark.parametrize("atom", [0, 3, -1])
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_coordinates_anywhere_are_caught(structure, atom, axis, value):
    mols = [molecule("C2H6") for _ in range(3)]
    mols[structure].positions[atom, axis] = value
    n_atoms = len(mols[structure])
    with pytest.raises(ValueError, match=rf"structure {structure} has NaN or infinite coordinates "
                                         rf"\(atom {atom % n_atoms}, {'xyz'[axis]}\)"):
        pack(mols)


@pytest.mark.parametrize(
    "weights, match",
    [
        ({200: 1.0}, r"weights: atomic number 200 is outside 1..118"),
        ({-3: 1.0}, r"weights: atomic number -3 is outside 1..118"),
        ({0: 1.0}, r"weights: atomic number 0 is outside 1..118"),
        ({"Q": 1.0}, r"weights: unknown element symbol 'Q'"),
        ({8: "heavy"}, r"weights: the weight of 8 must be a number"),
        ({1.5: 2.0}, r"weights: expected an element symbol or an atomic number"),
    ],
)
def test_bad_weight_keys_are_clear_errors(weights, match):
    with pytest.raises(ValueError, match=match):
        WACSFTransformer(weights=weights).fit_transform([molecule("H2O")])


def test_atomic_numbers_outside_the_table_name_the_atom():
    atoms = Atoms("H2O", positions=[[0, 0, 0], [0, 0, 1], [0, 1, 0]])
    atoms.numbers[2] = 150
    with pytest.raises(ValueError, match=r"structure 0 has an atom with atomic number outside "
                                         r"1..118 \(atom 2: Z=150\)"):
        WACSFTransformer().fit_transform([atoms])


# ------------------------------------------------------------ streaming


def test_generators_iread_and_db_rows_stream_in_chunks(tmp_path):
    import ase.io
    from ase.db import connect

    mols = [molecule(name) for name in ("H2O", "CH4", "NH3", "C2H6", "CO2")] * 3
    ref = WACSFTransformer(**SMALL).fit_transform(mols)
    t = WACSFTransformer(chunk_size=4, **SMALL)
    np.testing.assert_array_equal(t.fit_transform(m for m in mols), ref)
    assert t.sites_[:, 0].tolist() == list(range(len(mols)))
    path = tmp_path / "traj.xyz"
    ase.io.write(path, mols, format="extxyz")
    np.testing.assert_allclose(t.fit_transform(ase.io.iread(path)), ref, rtol=1e-12)
    db = connect(tmp_path / "m.db")
    for m in mols:
        db.write(m)
    np.testing.assert_allclose(t.fit_transform(db.select()), ref, rtol=1e-12)


def test_errors_in_a_later_chunk_name_the_input_index():
    mols = [molecule("CH4") for _ in range(10)]
    mols[7].positions[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"structure 7 has NaN"):
        WACSFTransformer(chunk_size=3).fit_transform(iter(mols))
    mols[7].positions[2, 1] = 0.3
    with pytest.raises(TypeError, match=r"structure 10: expected ase.Atoms"):
        WACSFTransformer(chunk_size=3).fit_transform(iter([*mols, 3.0]))
    with pytest.raises(ValueError, match="no structures"):
        WACSFTransformer().fit_transform(iter([]))


def test_streamed_sites_skip_whole_chunks():
    mols = [molecule("H2O")] * 5 + [molecule("CH4")] + [molecule("H2O")] * 4
    t = WACSFTransformer(absorber_element="C", on_missing_absorber="skip", chunk_size=2, **SMALL)
    with pytest.warns(UserWarning):
        X = t.fit_transform(iter(mols))
    assert t.sites_.tolist() == [[5, 0]] and X.shape[0] == 1


def test_a_trajectory_cut_mid_frame_names_the_frame(tmp_path):
    import ase.io

    path = tmp_path / "cut.xyz"
    ase.io.write(path, [molecule("CH4") for _ in range(5)], format="extxyz")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(ValueError, match=r"structure 4: reading it failed .*the 4 structures "
                                         r"before it were read"):
        WACSFTransformer(**SMALL).fit_transform(ase.io.iread(path))
    with pytest.raises(ValueError, match=r"cut.xyz"):
        read_structures(path, index=":")


# ------------------------------------------------------------ the xyz repeated-atom rule


def test_the_13_real_s_files_that_repeat_their_absorber_read_as_announced(data_root):
    files = sorted((data_root / "s_k_edge" / "xyz").glob("*.xyz"))
    with pytest.warns(UserWarning) as record:
        atoms = read_structures(data_root / "s_k_edge" / "xyz")
    repeats = [str(w.message) for w in record if "repeats an atom line" in str(w.message)]
    assert len(repeats) == 13
    for path, a in zip(files, atoms):
        lines = path.read_text().splitlines()
        assert len(a) == int(lines[0])  # the count line rules, the repeat is left out
        extra = [ln for ln in lines[2 + len(a):] if ln.strip()]
        assert (str(path) in " ".join(repeats)) == bool(extra)
        if extra:  # the repeated line is the absorber's (atom 0's), word for word
            assert extra == [lines[2]] and a.get_chemical_symbols()[0] == "S"


@pytest.mark.parametrize(
    "tail, n_warnings",
    [
        ("S 0 0 0\n", 1),
        ("S   0   0   0   \n", 1),  # the same words, other spacing
        ("O 0 0 1.5\nS 0 0 0\n", 2),  # every repeat is left out, each named
        ("\nS 0 0 0\n\n", 1),  # blank lines around it
    ],
)
def test_repeated_atom_lines_after_the_atoms_are_left_out(tmp_path, tail, n_warnings):
    path = tmp_path / "s.xyz"
    path.write_text("2\n\nS 0 0 0\nO 0 0 1.5\n" + tail)
    with pytest.warns(UserWarning, match="repeats an atom line") as record:
        (atoms,) = read_structures(path)
    assert len([w for w in record if "repeats an atom line" in str(w.message)]) == n_warnings
    assert atoms.get_chemical_symbols() == ["S", "O"]


@pytest.mark.parametrize(
    "tail",
    [
        "S 0 0 0.0001\n",  # not the same line: an atom the count line leaves out
        "C 0 0 0\n",
        "S 0 0\n",
    ],
)
def test_a_trailing_line_that_repeats_no_atom_line_is_an_error(tmp_path, tail):
    path = tmp_path / "s.xyz"
    path.write_text("2\n\nS 0 0 0\nO 0 0 1.5\n" + tail)
    with pytest.raises(ValueError, match=r"s.xyz, line 5: line 1 announces 2 atoms, but more "
                                         r"atom lines follow them"):
        read_structures(path)


def test_a_repeat_only_counts_against_its_own_frame(tmp_path):
    path = tmp_path / "t.xyz"
    path.write_text("2\n\nS 0 0 0\nO 0 0 1.5\nS 0 0 0\n2\n\nFe 0 0 0\nO 0 0 1.6\n")
    with pytest.warns(UserWarning, match=r"t.xyz, line 5: repeats an atom line"):
        first, second = read_structures(path, index=":")
    assert (len(first), len(second)) == (2, 2)
    path.write_text("2\n\nS 0 0 0\nO 0 0 1.5\n2\n\nFe 0 0 0\nO 0 0 1.6\nS 0 0 0\n")
    with pytest.raises(ValueError, match=r"t.xyz, line 9: line 5 announces 2 atoms"):
        read_structures(path, index=":")


# ------------------------------------------------------------ chunk sizes


def _chunks(X, max_rows, absorber_element=None):
    from wacsf._structures import iter_chunks

    return [(c.base, len(c)) for c in iter_chunks(X, max_rows, absorber_element)]


def test_a_chunk_closes_at_exactly_max_rows_structures():
    mols = [molecule("CH4") for _ in range(7)]
    assert _chunks(mols, 3) == [(0, 3), (3, 3), (6, 1)]
    assert _chunks(mols[:6], 3) == [(0, 3), (3, 3)]  # no empty chunk at the end
    assert _chunks(mols, 1) == [(k, 1) for k in range(7)]
    assert _chunks(mols, 7) == [(0, 7)]
    assert _chunks(iter(mols), 3) == [(0, 3), (3, 3), (6, 1)]


def test_with_absorber_element_a_chunk_counts_sites_and_one_row_per_siteless_structure():
    ethane, methane, water = molecule("C2H6"), molecule("CH4"), molecule("H2O")
    # rows: ethane 2 sites, methane 1, water none (counted as one row: it may be skipped)
    assert _chunks([ethane, methane, water, ethane], 3, "C") == [(0, 2), (2, 2)]
    assert _chunks([ethane, ethane, water], 3, "C") == [(0, 2), (2, 1)]
    assert _chunks([water] * 5, 2, "C") == [(0, 2), (2, 2), (4, 1)]


def test_a_chunk_closes_at_atoms_per_chunk_atoms(monkeypatch):
    from wacsf import _structures

    ethane = molecule("C2H6")  # 8 atoms
    monkeypatch.setattr(_structures, "ATOMS_PER_CHUNK", 16)
    assert _chunks([ethane] * 5, 100) == [(0, 2), (2, 2), (4, 1)]  # 16 atoms: closes
    monkeypatch.setattr(_structures, "ATOMS_PER_CHUNK", 17)
    assert _chunks([ethane] * 5, 100) == [(0, 3), (3, 2)]


def test_a_list_is_chunked_as_the_same_structures_streamed(monkeypatch):
    """A list of Atoms is cut by slicing (no per-item loop), exactly where the same
    structures from an iterator are cut, at either limit."""
    from wacsf import _structures

    rng = np.random.default_rng(0)
    names = ["H2O", "CH4", "C2H6", "CH3CH2OH", "C6H6", "NH3"]
    mols = [molecule(names[k]) for k in rng.integers(len(names), size=40)]
    for max_rows, atoms_limit in [(1, 10**9), (7, 10**9), (40, 10**9), (41, 10**9),
                                  (100, 12), (5, 30), (9, 1)]:
        monkeypatch.setattr(_structures, "ATOMS_PER_CHUNK", atoms_limit)
        assert _chunks(mols, max_rows) == _chunks(iter(mols), max_rows), (max_rows, atoms_limit)
    monkeypatch.setattr(_structures, "ATOMS_PER_CHUNK", 10**9)
    chunk = next(_structures.iter_chunks(mols, 7))
    assert type(chunk) is _structures.Chunk and len(chunk) == 7 and chunk[3] is mols[3]


def test_chunked_transform_names_rows_by_input_index_and_never_changes_a_number():
    mols = [molecule(n) for n in ("C2H6", "CH4", "H2O", "C2H6", "CH3CH2OH")]
    with pytest.warns(UserWarning, match="skipped 1 structures"):
        whole = WACSFTransformer(absorber_element="C", on_missing_absorber="skip",
                                 **SMALL).fit_transform(mols)
    t = WACSFTransformer(absorber_element="C", on_missing_absorber="skip", chunk_size=2, **SMALL)
    with pytest.warns(UserWarning, match="skipped 1 structures"):
        np.testing.assert_array_equal(t.fit_transform(mols), whole)
    assert t.sites_.tolist() == [[0, 0], [0, 1], [1, 0], [3, 0], [3, 1], [4, 0], [4, 1]]


def test_public_absorber_indices_and_structure_file_names():
    """wacsf.absorber_indices: the transformer's absorber, resolved and checked per
    structure; wacsf.is_structure_file: the names a directory listing reads."""
    from wacsf import absorber_indices, is_structure_file

    water, methane = molecule("H2O"), molecule("CH4")
    methane.info["site"] = 2
    assert absorber_indices([water, methane], -1).tolist() == [2, 4]
    assert absorber_indices([methane], "site").tolist() == [2]
    assert absorber_indices([water, methane], [1, 3]).tolist() == [1, 3]
    with pytest.raises(ValueError, match="structure 1.*absorber index 5 is out of range for 5"):
        absorber_indices([water, methane], [0, 5])
    with pytest.raises(ValueError, match="structure 0.*names an atoms.info key"):
        absorber_indices([water], "site")
    assert [is_structure_file(n) for n in ("a.XYZ", "b.extxyz", "c.cif", "d.vasp",
                                           "CONTCAR.relax", "e.txt", "f.npz")] == \
        [True, True, True, True, True, False, False]
