"""read_structures on broken, hostile and borderline files: one line naming the file, never a hang.

Every error is checked to be one line that names the file; counts are
checked against the file before ase reads it (``ase.io.read`` is made to fail
the test if it is reached).
"""

import warnings

import numpy as np
import pytest
from ase.build import bulk

from wacsf import read_structures

CELL = """data_test
_cell_length_a {a}
_cell_length_b 4
_cell_length_c 4
_cell_angle_alpha {alpha}
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
"""
SITES = """loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Fe1 Fe 0 0 0 1
"""


def _cif(tmp_path, extra_sites="", a=4, alpha=90, sites=True, name="x.cif"):
    path = tmp_path / name
    path.write_text(CELL.format(a=a, alpha=alpha) + (SITES + extra_sites if sites else ""))
    return path


def _error(path, **kwargs):
    """The one-line ValueError that reading ``path`` raises; it must name the file."""
    with pytest.raises(ValueError) as info:
        read_structures(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


@pytest.fixture
def no_ase_read(monkeypatch):
    """Fail the test if ase.io.read is reached (counts must be refused before it)."""
    import ase.io

    def refuse(*args, **kwargs):
        raise AssertionError("ase.io.read was called")

    monkeypatch.setattr(ase.io, "read", refuse)


# ------------------------------------------------------------ CIF


def test_cif_without_atoms_is_an_error_also_in_a_directory(tmp_path):
    empty = _cif(tmp_path, sites=False, name="empty.cif")
    assert "no atoms: no data block has atom sites" in _error(empty)
    (tmp_path / "good.xyz").write_text("2\n\nFe 0 0 0\nO 0 0 1.6\n")
    message = _error(tmp_path)
    assert message.startswith(f"{empty}: no atoms")
    assert f"in directory {str(tmp_path)!r}, whose 2 structure files are all read" in message


def test_cif_site_shared_by_two_elements_is_an_error(tmp_path):
    path = _cif(tmp_path, "O1 O 0.5 0.5 0.5 0.5\nS1 S 0.5 0.5 0.5 0.5\n")
    message = _error(path)
    assert "data_test: site O1/S1 is shared by several elements (O 0.5, S 0.5)" in message
    assert "keep one occupant" in message


def test_cif_site_partly_occupied_by_one_element_warns(tmp_path):
    path = _cif(tmp_path, "O1 O 0.5 0.5 0.5 0.75\n")
    with pytest.warns(UserWarning, match=r"x.cif, data_test: 1 partially occupied sites, e.g. "
                                         r"O1 \(O 0.75\), are read as full atoms"):
        (atoms,) = read_structures(path)
    assert atoms.get_chemical_symbols() == ["Fe", "O"]
    with warnings.catch_warnings():  # fully occupied: no warning
        warnings.simplefilter("error")
        read_structures(_cif(tmp_path, "O1 O 0.5 0.5 0.5 1\n", name="full.cif"))


@pytest.mark.parametrize(
    "a, alpha, match",
    [
        (-3, 90, "_cell_length_a is -3; it must be positive"),
        (0, 90, "_cell_length_a is 0; it must be positive"),
        (4, 0, "_cell_angle_alpha is 0; it must be between 0 and 180 degrees"),
        (4, 180, "_cell_angle_alpha is 180; it must be between 0 and 180 degrees"),
    ],
)
def test_cif_cell_lengths_and_angles_must_be_physical(tmp_path, a, alpha, match):
    assert match in _error(_cif(tmp_path, a=a, alpha=alpha))


def test_cif_with_fractional_coordinates_and_no_cell_is_an_error(tmp_path):
    path = tmp_path / "nocell.cif"
    path.write_text("data_x\n" + SITES)
    assert "fractional coordinates but no cell" in _error(path)


def test_malformed_cif_names_the_file_and_ases_reason(tmp_path):
    path = tmp_path / "junk.cif"
    path.write_text("hello\n")
    message = _error(path)
    assert "not a valid CIF file (ase's reader failed: AssertionError)" in message
    assert "()" not in message  # ase's exception has no text: its type is named instead


# ------------------------------------------------------------ xyz / extxyz


def test_lattice_on_the_second_frame_only_is_read(tmp_path):
    path = tmp_path / "lat2.xyz"
    path.write_text(
        "2\nfirst\nFe 0 0 0\nO 0 0 1.6\n"
        '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
        "Fe 0 0 0\nO 0 0 1.6\n"
    )
    first, second = read_structures(path, index=":")
    assert not first.pbc.any()
    assert second.pbc.all() and np.allclose(second.cell.array, np.eye(3) * 4)


@pytest.mark.parametrize(
    "text, match",
    [
        ("2\n\nFe 0 0 0\nFe 0 0 0\n", r"atoms 0 and 1 are the same Fe atom twice \(0 A apart, "
                                      r"at \[0.0, 0.0, 0.0\]\); remove the duplicate"),
        ("3\n\nO 0 0 0\nFe 0 0 2\nS 0 0 0.0005\n",
         r"atoms 0 \(O\) and 2 \(S\) sit on one position \(0.0005 A apart: a mixed"),
        ('1\nLattice="0.05 0 0 0 4 0 0 0 4" pbc="T T T"\nFe 0 0 0\n',
         r"atom 0 \(Fe\) is only 0.05 A from its own periodic image; is the cell in nm\?"),
        ('2\nLattice="4 0 0 0 4 0 0 0 4" pbc="T T T"\nFe 0.01 0 0\nFe 3.99 0 0\n',
         r"atoms 0 and 1 are the same Fe atom twice \(0.02 A apart"),  # across the boundary
    ],
)
def test_duplicated_atoms_and_shared_sites_are_errors(tmp_path, text, match):
    path = tmp_path / "d.xyz"
    path.write_text(text)
    assert __import__("re").search(match, _error(path))


@pytest.mark.parametrize("pair_by_pair", [True, False])
def test_atoms_exactly_a_tenth_of_an_angstrom_apart_are_accepted(tmp_path, monkeypatch,
                                                                 pair_by_pair):
    from wacsf import _readers

    if not pair_by_pair:  # the k-d tree that large molecules take
        monkeypatch.setattr(_readers, "_BRUTE_FORCE_ATOMS", 1)
    path = tmp_path / "h.xyz"
    path.write_text("2\n\nH 0 0 0\nH 0 0 0.1\n")
    assert len(read_structures(path)[0]) == 2
    path.write_text("2\n\nH 0 0 0\nH 0 0 0.0999\n")
    assert "(0.0999 A apart" in _error(path)


@pytest.mark.parametrize("count", ["1000000000", "3"])
def test_extxyz_count_line_beyond_the_file_is_refused_before_ase(tmp_path, no_ase_read, count):
    path = tmp_path / "huge.xyz"
    path.write_text(f'{count}\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\n'
                    "Fe 0 0 0\nO 2 2 2\n")
    assert f"line 1 announces {count} atoms but only 2 lines follow" in _error(path)


def test_a_later_extxyz_frame_count_is_checked_too(tmp_path, no_ase_read):
    path = tmp_path / "traj.extxyz"
    frame = 'Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\nFe 0 0 0\n'
    path.write_text(f"1\n{frame}1\n{frame}99999\n{frame}")
    assert "line 7 announces 99999 atoms but only 1 line follows" in _error(path, index=":")


def test_multi_frame_hint_names_what_a_cli_user_can_do(tmp_path):
    path = tmp_path / "t.xyz"
    path.write_text("1\n\nFe 0 0 0\n1\n\nO 0 0 0\n")
    message = _error(path)
    assert "write one structure per file, or in Python read every frame with " \
           "read_structures(path, index=':')" in message


# ------------------------------------------------------------ POSCAR

POSCAR = "Fe\n{scale}\n2.87 0 0\n0 2.87 0\n0 0 2.87\nFe\n{count}\nDirect\n0 0 0\n0.5 0.5 0.5\n"


def test_poscar_claiming_1e8_atoms_is_refused_before_ase(tmp_path, no_ase_read):
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR.format(scale=1.0, count=100_000_000))
    assert "line 7 announces 100000000 atoms but only 2 coordinate lines follow" in _error(path)


def test_poscar_with_the_announced_atoms_reads(tmp_path):
    path = tmp_path / "POSCAR"
    path.write_text(POSCAR.format(scale=1.0, count=2))
    (atoms,) = read_structures(path)
    assert len(atoms) == 2 and atoms.pbc.all()
    path.write_text(POSCAR.format(scale=1.0, count=3))
    assert "line 7 announces 3 atoms but only 2 coordinate lines follow" in _error(path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("Fe\n1.0\n2.87 0 0\n0 2.87 0\n", "a POSCAR needs at least 8 lines"),
        (POSCAR.format(scale="x", count=2), "line 2: expected the scaling factor"),
        (POSCAR.replace("0 2.87 0", "0 2.87"), "line 4: expected a lattice vector"),
        (POSCAR.replace("0 0 2.87\n", "0 0 0\n"), "lines 3-5: the lattice vectors"),
        (POSCAR.format(scale=1, count="two"), "line 7: expected the number of atoms"),
        (POSCAR.format(scale=1, count="2 1"), "line 6 names 1 elements but line 7 gives 2"),
        (POSCAR.format(scale=1, count=2).replace("Direct", "Fractional"),
         "line 8: expected 'Direct' or 'Cartesian'"),
        (POSCAR.format(scale=1, count=2).replace("0.5 0.5 0.5", "0.5 0.5"),
         "line 10: expected the coordinates of atom 2 of 2"),
    ],
)
def test_malformed_poscar_names_the_line(tmp_path, text, match):
    path = tmp_path / "bad.vasp"
    path.write_text(text.format(scale=1.0, count=2) if "{" in text else text)
    assert match in _error(path)


# ------------------------------------------------------------ files ase cannot place


def test_unknown_suffix_given_by_name_is_named(tmp_path):
    path = tmp_path / "fe.foo"
    path.write_text("whatever\n")
    assert "unknown structure file type '.foo'" in _error(path)


def test_directory_without_structure_files_names_what_it_holds(tmp_path):
    (tmp_path / "a.pdb").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError) as info:
        read_structures(tmp_path)
    message = str(info.value)
    assert message.startswith("no .xyz files (nor .extxyz, .cif, .vasp, .poscar, POSCAR* or "
                              "CONTCAR*) in directory")
    assert "it holds 2 other files, e.g. 'a.pdb', 'notes.txt'" in message


def test_one_unreadable_file_fails_the_directory_naming_it(tmp_path):
    import ase.io

    ase.io.write(tmp_path / "fe.cif", bulk("Fe", "bcc", a=2.87, cubic=True))
    (tmp_path / "POSCAR_old").write_text("x\n")
    message = _error(tmp_path)
    assert message.startswith(f"{tmp_path / 'POSCAR_old'}: a POSCAR needs at least 8 lines")
    assert "fix this file or move it out" in message
    (tmp_path / "POSCAR_old").unlink()
    assert len(read_structures(tmp_path)) == 1


def test_real_structure_files_pass_every_check(data_root):
    for edge in ("fe_k_edge", "s_k_edge"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*repeats an atom line")
            assert len(read_structures(data_root / edge / "xyz")) == 110
