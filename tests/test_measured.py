"""Measured spectra: reading XDI and text, Larch normalisation, alignment onto a model's grid."""

import sys

import numpy as np
import pytest

from xanesnet_sk.measured import (
    EXPERIMENT_EXTRA,
    PreEdgeNormaliser,
    align,
    prepare_measured,
    read_measured,
    read_xdi,
    simulate_measurement,
)
from xanesnet_sk.spectra import xanesnet_grid

GRID = xanesnet_grid()


def _edge(e, e0=7112.0, step=2.0, offset=0.3, slope=2e-4):
    return offset + slope * (e - 7000) + step / (1 + np.exp(-(e - e0) / 1.5))


def _xdi(path, rows, columns=("energy eV", "i0", "itrans"), extra=""):
    head = ["# XDI/1.0 test/0", *(f"# Column.{k + 1}: {c}" for k, c in enumerate(columns)),
            "# Element.symbol: Fe", "# Element.edge: K", *([extra] if extra else []),
            "#----", "# " + " ".join(c.split()[0] for c in columns)]
    path.write_text("\n".join(head + [" ".join(f"{v:.8g}" for v in r) for r in rows]) + "\n")
    return path


# ---------------------------------------------------------------- reading


def test_read_xdi_transmission(tmp_path):
    e = np.linspace(7000, 7300, 301)
    mu = _edge(e)
    path = _xdi(tmp_path / "fe.xdi", np.column_stack([e, np.full_like(e, 2.0),
                                                     2.0 * np.exp(-mu)]),
                extra="# Scan.edge_energy: 7.112 keV")
    s = read_measured(path)
    np.testing.assert_allclose(s.energies, e)
    np.testing.assert_allclose(s.mu, mu, rtol=1e-6)
    assert (s.element, s.edge, s.e0) == ("Fe", "K", 7112.0)
    assert s.metadata["Element.symbol"] == "Fe"


def test_read_xdi_kev_energies_and_mu_column_by_name(tmp_path):
    rows = [(7.1 + k * 0.001, 0.5 + k, 9.0) for k in range(6)]
    path = _xdi(tmp_path / "kev.xdi", rows, columns=("energy keV", "mutrans", "other"))
    s = read_measured(path)
    np.testing.assert_allclose(s.energies, [7100 + k for k in range(6)])
    np.testing.assert_allclose(s.mu, [0.5 + k for k in range(6)])
    s = read_measured(path, mu="other")
    np.testing.assert_allclose(s.mu, 9.0)


def test_read_text_by_name_and_index(tmp_path):
    path = tmp_path / "scan.dat"
    path.write_text("# a comment\nenergy  I0  It  mu\n"
                    + "".join(f"{7100 + k} 2.0 1.0 {0.1 * k}\n" for k in range(8)))
    s = read_measured(path)
    np.testing.assert_allclose(s.mu, 0.1 * np.arange(8))
    s = read_measured(path, i0="I0", it=2)
    np.testing.assert_allclose(s.mu, np.log(2.0))
    bare = tmp_path / "bare.txt"
    bare.write_text("".join(f"{7100 + k}, {k * k}\n" for k in range(6)))
    s = read_measured(bare)
    np.testing.assert_allclose(s.mu, np.arange(6) ** 2)
    assert s.e0 is None and s.element is None


def test_read_xdi_header_fields(tmp_path):
    path = _xdi(tmp_path / "h.xdi", [(7100 + k, 1.0, 0.5) for k in range(5)])
    columns, units, data, lines, meta = read_xdi(path)
    assert columns == ["energy", "i0", "itrans"] and units[0] == "eV"
    assert data.shape == (5, 3) and lines[0] == 9 and meta["Element.edge"] == "K"


@pytest.mark.parametrize("body, match", [
    ("# XDI/1.0\n# Column.1: i0\n# Column.2: itrans\n#----\n# i0 it\n"
     + "1 2\n" * 6, r"bad\.xdi: no energy column \(columns: i0, itrans\)"),
    ("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mu\n#----\n# e mu\n"
     "7100 1\n7101 1\n7101 2\n7102 1\n7103 1\n", r"bad\.xdi, line 8: energy 7101 eV is not above"),
    ("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mu\n#----\n# e mu\n"
     "7100 1\n7101 nan\n7102 1\n7103 1\n7104 1\n", r"bad\.xdi, line 7: mu is nan"),
    ("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mu\n#----\n# e mu\n"
     "7100 1\n7101 x\n", r"bad\.xdi, line 7: 'x' is not a number"),
    ("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mu\n#----\n# e mu\n"
     "7100 1\n7101 1 3\n", r"bad\.xdi, line 7: 3 columns"),
    ("# XDI/1.0\n# Column.1: energy eV\n# Column.2: i0\n# Column.3: itrans\n#----\n#\n"
     + "".join(f"{7100 + k} 1 {0 if k == 2 else 1}\n" for k in range(6)),
     r"bad\.xdi, line 9: I0 and It must be positive"),
    ("# XDI/1.0\n# Column.1: energy eV\n# Column.2: mu\n#----\n# e mu\n7100 1\n7101 2\n",
     r"bad\.xdi: 2 points"),
])
def test_bad_files_name_file_and_line(tmp_path, body, match):
    path = tmp_path / "bad.xdi"
    path.write_text(body)
    with pytest.raises(ValueError, match=match):
        read_measured(path)


def test_unknown_column_names_the_columns(tmp_path):
    path = _xdi(tmp_path / "c.xdi", [(7100 + k, 1.0, 0.5) for k in range(5)])
    with pytest.raises(ValueError, match=r"c\.xdi: no column named 'mu_x'.*energy, i0, itrans"):
        read_measured(path, mu="mu_x")
    with pytest.raises(ValueError, match=r"column 7 does not exist"):
        read_measured(path, energy=7)
    with pytest.raises(ValueError, match="give both i0 and it"):
        read_measured(path, i0="i0")


# ---------------------------------------------------------------- alignment (no larch)


def test_align_is_exact_at_the_ends_and_refuses_to_extrapolate():
    e = np.arange(7097.0, 7172.5, 0.5)
    mu = e - 7000.0
    np.testing.assert_allclose(align(e, mu, 7112.0, GRID), GRID + 112.0)
    with pytest.raises(ValueError, match=r"meas: the measurement covers -15\.50 to 59\.50 eV.*"
                                         r"needs -15 to 60 eV"):
        align(e, mu, 7112.5, GRID, source="meas")


def test_missing_larch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "larch", None)
    e = np.linspace(7000, 7300, 301)
    with pytest.raises(ImportError, match=r"xanesnet-sk\[experiment\]") as info:
        PreEdgeNormaliser(e).fit().transform(_edge(e)[None, :])
    assert "\n" not in str(info.value) and EXPERIMENT_EXTRA in str(info.value)


# ---------------------------------------------------------------- Larch's pre_edge


def test_normaliser_recovers_step_e0_and_grid():
    pytest.importorskip("larch")
    e = np.linspace(6950, 7500, 1101)
    norm = PreEdgeNormaliser(e, grid=GRID)
    out = norm.fit_transform(np.vstack([_edge(e), _edge(e, e0=7115.0, step=0.5)]))
    np.testing.assert_allclose(norm.e0_, [7112.0, 7115.0], atol=0.5)
    np.testing.assert_allclose(norm.edge_step_, [2.0, 0.5], rtol=0.02)
    assert out.shape == (2, GRID.size)
    # on the edge-relative grid both edges are at 0: half the step there, ~0 and ~1 at the ends
    np.testing.assert_allclose(out[:, np.argmin(np.abs(GRID))], 0.5, atol=0.05)
    np.testing.assert_allclose(out[:, 0], 0.0, atol=0.02)
    np.testing.assert_allclose(out[:, -1], 1.0, atol=0.02)
    assert norm.get_feature_names_out()[0] == "energy_-15"


def test_normaliser_short_range_and_too_short():
    pytest.importorskip("larch")
    e = np.arange(7097.0, 7172.01, 1 / 3)  # only the model's grid
    out = PreEdgeNormaliser(e, e0=7112.0).fit_transform(_edge(e)[None, :])
    np.testing.assert_allclose(out[0, -1], 1.0, atol=0.05)
    tiny = np.arange(7105.0, 7120.0, 1.0)
    with pytest.raises(ValueError, match=r"row 0: the pre-edge fit window .* holds 2 points"):
        PreEdgeNormaliser(tiny, e0=7112.0, pre1=-7, pre2=-6).fit_transform(_edge(tiny)[None, :])


def test_prepare_measured_simulated_measurement_round_trip():
    pytest.importorskip("larch")
    y = 1.0 / (1 + np.exp(-GRID / 1.2)) + 0.1 * np.exp(-((GRID - 8) / 3) ** 2)
    m = simulate_measurement(GRID, y, e0=7115.0, noise=0.0, scale=3.0, slope=-5e-4)
    p = prepare_measured(m, GRID, e0=7115.0)
    assert p.e0 == 7115.0 and p.noise < 1e-6
    np.testing.assert_allclose(p.mu, y / (y[-20:].mean() - y[0]) - 0.0, atol=0.05)
    with pytest.raises(ValueError, match=r"simulated measurement: the measurement covers"):
        prepare_measured(simulate_measurement(GRID, y, below=10, noise=0.0), GRID, e0=7112.0)


# ---------------------------------------------------------------- candidates (no larch)


def test_iter_candidates_directory_trajectory_database_and_names(tmp_path):
    import ase.db
    from ase.io import write

    from xanesnet_sk import make_synthetic_xanes
    from xanesnet_sk.screening import iter_candidates

    structures = make_synthetic_xanes(3, random_state=0).structures
    d = tmp_path / "dir"
    d.mkdir()
    for k, atoms in enumerate(structures):
        bare = atoms.copy()
        bare.info = {}
        write(d / f"s{k}.xyz", bare)
    # named as predict names them: the file stem (or a name the file itself records)
    assert [a.info["name"] for a in iter_candidates(d)] == ["s0", "s1", "s2"]
    write(tmp_path / "run.traj", structures)
    assert [a.info["name"] for a in iter_candidates(tmp_path / "run.traj")] == [
        "run_0", "run_1", "run_2"]
    write(tmp_path / "multi.xyz", structures)
    assert len(list(iter_candidates(tmp_path / "multi.xyz"))) == 3
    with ase.db.connect(str(tmp_path / "c.db")) as db:
        db.write(structures[0], name="first")
        db.write(structures[1])
    assert [a.info["name"] for a in iter_candidates(tmp_path / "c.db")] == ["first", "c_2"]
    stream = iter_candidates(iter(structures))
    assert next(stream) is structures[0]          # lazily, one at a time
    with pytest.raises(FileNotFoundError, match="nope"):
        list(iter_candidates(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no structure files"):
        list(iter_candidates(tmp_path / "empty"))
