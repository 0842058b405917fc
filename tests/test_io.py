"""Tests for xanesnet_sk.io: FDMNES/ORCA readers and the writer."""

import numpy as np
import pytest

from xanesnet_sk.io import Spectrum, read_spectrum, write_spectrum

FDMNES_PLAIN = """    FDMNES
    energy     <xanes>
   7097.00  4.6876331E-03
   7097.33  4.7878949E-03
   7097.67  4.8922821E-03
"""

FDMNES_EDGE = """  7112.0000   4.7400   1  0.0  = E_edge, Workf, iseuil, V0
    Energy    <xanes>
  -2.0  0.10
   0.0  0.50
   3.0  1.20
"""

FDMNES_CONV = """    Energy    <xanes>
  -15.0  0.01
  -14.8  0.02
  -14.6  0.03
"""

ORCA = "ORCA\nEnergy\t<xanes>\n2395.00\t0.000000e+00\n2395.13\t1.5e-03\n2395.25\t2.0e-03\n"


def _write(tmp_path, text, name="s.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, fmt, e0, relative, first",
    [
        (FDMNES_PLAIN, "fdmnes", None, False, 7097.0),
        ("FDMNES 2023\n" + FDMNES_PLAIN.split("\n", 1)[1], "fdmnes", None, False, 7097.0),
        (FDMNES_EDGE, "fdmnes", 7112.0, True, -2.0),
        (FDMNES_CONV, "fdmnes", None, True, -15.0),
        (ORCA, "orca", None, False, 2395.0),
    ],
)
def test_read_formats(tmp_path, text, fmt, e0, relative, first):
    s = read_spectrum(_write(tmp_path, text))
    assert isinstance(s, Spectrum)
    assert (s.fmt, s.e0, s.relative) == (fmt, e0, relative)
    assert s.energies.dtype == np.float64 and s.mu.dtype == np.float64
    assert s.energies[0] == first and s.energies.shape == s.mu.shape == (3,)


def test_absolute_energies_with_edge_in_header(tmp_path):
    text = "  7112.0 = E_edge\n energy <xanes>\n 7100.0 0.1\n 7112.0 0.5\n 7150.0 1.0\n"
    s = read_spectrum(_write(tmp_path, text))
    assert s.e0 == 7112.0 and not s.relative


def test_fortran_exponent_and_blank_lines(tmp_path):
    text = "FDMNES\nenergy <xanes>\n\n1.0 2.0D-01\n\n2.0 3.0D-01\n"
    s = read_spectrum(_write(tmp_path, text))
    np.testing.assert_array_equal(s.mu, [0.2, 0.3])


@pytest.mark.parametrize(
    "text, match",
    [
        ("", r"s\.txt: empty spectrum file"),
        ("\n  \n", r"empty spectrum file"),
        ("XYZ\nenergy <xanes>\n1 2\n", r"s\.txt: line 1: not an FDMNES or ORCA"),
        ("1.0 2.0\n2.0 3.0\n", r"line 1: not an FDMNES or ORCA.*no 'energy <xanes>'"),
        ("FDMNES\n1.0 2.0\n", r"line 2: not an FDMNES or ORCA"),
        ("FDMNES\nenergy <xanes>\n1 2\n2 3 4\n", r"line 4: expected 2 columns .* found 3"),
        ("FDMNES\nenergy <xanes>\n1 2\n2\n", r"line 4: expected 2 columns .* found 1"),
        ("FDMNES\nenergy <xanes>\n1 2\n2 nan\n", r"line 4: NaN or inf"),
        ("FDMNES\nenergy <xanes>\n1 2\n2 inf\n", r"line 4: NaN or inf"),
        ("FDMNES\nenergy <xanes>\n1 2\n2 x\n", r"line 4: not numbers"),
        ("FDMNES\nenergy <xanes>\n1 2\n3 3\n\n2 4\n", r"line 6: energies must increase"),
        ("FDMNES\nenergy <xanes>\n1 2\n1 3\n", r"line 4: energies must increase"),
        ("ORCA\nenergy <xanes>\n", r"header but no data"),
    ],
)
def test_read_errors_name_file_and_line(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_spectrum(_write(tmp_path, text))


@pytest.mark.parametrize("e0", [None, 7112.0])
def test_write_read_round_trip(tmp_path, e0):
    energies = 7112.0 + np.linspace(-15, 60, 226)
    mu = np.sin(energies / 7.0) ** 2 + 1e-7
    path = tmp_path / "out.txt"
    write_spectrum(path, energies, mu, e0=e0)
    s = read_spectrum(path)
    np.testing.assert_allclose(s.energies, energies, rtol=1e-9)
    np.testing.assert_allclose(s.mu, mu, rtol=1e-9)
    assert s.e0 == e0 and s.fmt == "fdmnes" and not s.relative


def test_write_errors(tmp_path):
    with pytest.raises(ValueError, match="same non-zero length"):
        write_spectrum(tmp_path / "a.txt", [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="must increase strictly"):
        write_spectrum(tmp_path / "a.txt", [2.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        write_spectrum(tmp_path / "a.txt", [1.0, 2.0], [1.0, np.nan])


@pytest.mark.parametrize(
    "edge, fmt, n_points", [("fe_k_edge", "fdmnes", 226), ("s_k_edge", "orca", 400)]
)
def test_real_spectra(data_root, edge, fmt, n_points):
    paths = sorted((data_root / edge / "xanes").glob("*.txt"))
    assert len(paths) == 110
    first = None
    for path in paths:
        s = read_spectrum(path)
        assert s.fmt == fmt and s.e0 is None and not s.relative
        assert s.mu.shape == s.energies.shape == (n_points,)
        assert np.all(np.isfinite(s.mu))
        assert np.all(np.diff(s.energies) > 0)
        if edge == "fe_k_edge":  # every file: E0 + linspace(-15, 60, 226), rounded to 0.01 eV
            np.testing.assert_allclose(s.energies, 7112.0 + np.linspace(-15, 60, 226),
                                       atol=6e-3, err_msg=str(path))
        first = s.energies if first is None else first
        # the spectra of one data set share one grid (what load_dataset relies on)
        np.testing.assert_allclose(s.energies, first, atol=1e-6 * np.ptp(first),
                                   err_msg=str(path))


def test_non_increasing_energies_message_has_plain_numbers(tmp_path):
    with pytest.raises(ValueError) as info:
        write_spectrum(tmp_path / "a.txt", np.array([1.0, 2.5, 2.0]), np.ones(3))
    message = str(info.value)
    assert "but 2.0 follows 2.5" in message and "np.float64" not in message
    with pytest.raises(ValueError) as info:
        read_spectrum(_write(tmp_path, "FDMNES\nenergy <xanes>\n1 2\n3.25 3\n3 4\n"))
    assert "line 5: energies must increase strictly, but 3.0 follows 3.25" in str(info.value)
    assert "np.float64" not in str(info.value)


def test_utf8_bom_is_accepted_and_binary_files_are_named(tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + FDMNES_PLAIN.encode())
    s = read_spectrum(bom)
    assert s.fmt == "fdmnes" and s.energies[0] == 7097.0
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ValueError, match=r"bin\.txt: a binary file"):
        read_spectrum(binary)
    latin = tmp_path / "latin.txt"  # a Latin-1 comment in the header does not fail the file
    latin.write_bytes(b"FDMNES \xc5ngstr\xf6m\nenergy <xanes>\n1 2\n2 3\n")
    assert read_spectrum(latin).mu.tolist() == [2.0, 3.0]
