"""The fast ways of reading candidates read what the plain ways read, bit for bit.

xyz files: each file is read twice, as shipped and with the compiled pass
switched off (``_scan_fast`` returning None sends every frame line by line,
the parser the compiled pass falls back to).  Both must give the same atoms
(numbers, positions bit for bit, info), or the same error text, and the same
warnings.  Directories and ase databases: the same candidates as
``sorted(iterdir())`` and a plain ``select()`` give.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

from wacsf import _readers, read_structures


def _read(path, monkeypatch, fast, **kwargs):
    """(atoms or error text, warning texts) of reading ``path`` one way."""
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(_readers, "_scan_fast", lambda body: None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = read_structures(path, **kwargs)
            except ValueError as exc:
                out = str(exc)
    return out, [str(w.message) for w in caught]


def _same(path, monkeypatch, **kwargs):
    """Read ``path`` both ways and check they agree; the fast way's result."""
    fast, fast_warnings = _read(path, monkeypatch, True, **kwargs)
    slow, slow_warnings = _read(path, monkeypatch, False, **kwargs)
    assert fast_warnings == slow_warnings
    if isinstance(slow, str):
        assert fast == slow
        return fast
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert a.numbers.dtype == b.numbers.dtype
        assert a.numbers.tolist() == b.numbers.tolist()
        assert a.positions.tobytes() == b.positions.tobytes()  # bit for bit, -0.0 too
        assert a.info == b.info
        assert a.cell.array.tobytes() == b.cell.array.tobytes()
        assert a.pbc.tolist() == b.pbc.tolist()
    return fast


WATER = "O 0.0 0.0 0.119\nH 0.0 0.763 -0.477\nH 0.0 -0.763 -0.477\n"

EDGE_CASES = {
    "symbols": "3\nwater\n" + WATER,
    "atomic numbers": "3\n\n8 0 0 0.119\n1 0 0.763 -0.477\n1 0 -0.763 -0.477\n",
    "atomic numbers, leading zeros": "2\n\n026 0 0 0\n008 0 0 1.6\n",
    "signed atomic number": "2\n\n+26 0 0 0\n8 0 0 1.6\n",
    "negative atomic number": "2\n\n-26 0 0 0\n8 0 0 1.6\n",
    "atomic number 0": "2\n\n0 0 0 0\n8 0 0 1.6\n",
    "atomic number 119": "2\n\n119 0 0 0\n8 0 0 1.6\n",
    "lowercase symbols": "2\n\nfe 0 0 0\nO 0 0 1.6\n",
    "uppercase symbols": "2\n\nFE 0 0 0\nCL 0 0 2.2\n",
    "unknown symbol": "2\n\nFe 0 0 0\nXx 0 0 1.6\n",
    "dummy atom X": "2\n\nFe 0 0 0\nX 0 0 1.6\n",
    "symbol with a digit": "2\n\nFe1 0 0 0\nO 0 0 1.6\n",
    "extra columns": "2\nforces\nFe 0 0 0 0.1 -0.2 0.3\nO 0 0 1.6 some words\n",
    "uneven extra columns": "2\n\nFe 0 0 0 1\nO 0 0 1.6\n",
    "tabs": "2\n\nFe\t0\t0\t0\nO\t0 \t0\t1.6\t\n",
    "unit separator": "2\n\nFe\x1f0 0 0\nO 0 0 1.6\n",
    "leading spaces": "2\n\n   Fe   0 0 0\n O 0 0 1.6\n",
    "blank trailing lines": "2\n\nFe 0 0 0\nO 0 0 1.6\n\n\n  \n",
    "repeated trailing atom line": "2\n\nFe 0 0 0\nO 0 0 1.6\nFe  0 0   0\n",
    "other trailing line": "2\n\nFe 0 0 0\nO 0 0 1.6\nN 0 0 3\n",
    "NaN coordinate": "2\n\nFe 0 0 0\nO 0 nan 1.6\n",
    "infinite coordinate": "2\n\nFe 0 0 0\nO 0 -inf 1.6\n",
    "overflowing coordinate": "2\n\nFe 0 0 0\nO 0 1e400 1.6\n",
    "underflowing coordinate": "2\n\nFe 0 0 1e-400\nO 0 0 1.6\n",
    "coordinate not a number": "2\n\nFe 0 0 0\nO 0 zero 1.6\n",
    "two points": "2\n\nFe 0 0 0\nO 0 1.2.3 1.6\n",
    "bare exponent": "2\n\nFe 0 0 0\nO 0 1e 1.6\n",
    "Fortran exponent": "2\n\nFe 0 0 0\nO 0 1d0 1.6\n",
    "underscores": "2\n\nFe 0 0 0\nO 0 1_0 1.6\n",
    "lone point and sign": "2\n\nFe 0 0 0\nO . - 1.6\n",
    "number forms": "4\n\nFe .5 5. -0.0\nO +1.6 1e1 1E+00\nN -2.5e-3 0e999 +.25E2\n"
                    "C 12345678901234567890 1.000000000000000000001 0.1234567890123456789\n",
    "too few fields": "2\n\nFe 0 0 0\nO 0 1.6\n",
    "too few fields after a bad label": "2\n\nXx 0 0 0\nO 0 1.6\n",
    "empty atom line": "2\n\nFe 0 0 0\n\nO 0 0 1.6\n",
    "duplicate atom": "3\n\nFe 0 0 0\nO 0 0 1.6\nFe 0 0 0.05\n",
    "one atom": "1\nan ion\nFe 0 0 0\n",
    "Windows line endings": "2\r\nCO\r\nC 0 0 0\r\nO 0 0 1.128\r\n",
    "old Mac line endings": "2\rCO\rC 0 0 0\rO 0 0 1.128\r",
    "form feed between lines": "2\n\nC 0 0 0\x0cO 0 0 1.128\n",
    "non-ASCII digits": "2\n\nFe 0 0 0\nO 0 \u0661 1.6\n",
    "non-ASCII space": "2\n\nFe\u00a00 0 0\nO 0 0 1.6\n",
    "count beyond the file": "5\n\nFe 0 0 0\nO 0 0 1.6\n",
    "two frames": "2\nfirst\nFe 0 0 0\nO 0 0 1.6\n2\nsecond\nFe 0 0 0\nO 0 0 1.7\n",
    "two frames, a bad second": "2\n\nFe 0 0 0\nO 0 0 1.6\n2\n\nFe 0 0 0\nO 0 1.7\n",
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_read_the_same_both_ways(tmp_path, monkeypatch, name):
    path = tmp_path / "edge.xyz"
    path.write_bytes(EDGE_CASES[name].encode("utf-8"))
    _same(path, monkeypatch, index=":")


def test_a_byte_order_mark_is_read_the_same_both_ways(tmp_path, monkeypatch):
    path = tmp_path / "bom.xyz"
    path.write_bytes(b"\xef\xbb\xbf" + EDGE_CASES["symbols"].encode())
    (atoms,) = _same(path, monkeypatch)
    assert atoms.get_chemical_formula() == "H2O"


def test_common_files_are_read_by_the_compiled_pass(tmp_path, monkeypatch):
    """The cases the compiled pass is for are read by it (and not handed back)."""
    for text in (EDGE_CASES["symbols"], EDGE_CASES["atomic numbers"],
                 EDGE_CASES["lowercase symbols"], EDGE_CASES["extra columns"],
                 EDGE_CASES["Windows line endings"]):
        lines = text.splitlines()
        n = int(lines[0])
        assert _readers._scan_fast(lines[2:2 + n]) is not None


def _format(rng, value):
    """``value`` written the ways xyz writers write numbers."""
    kind = rng.integers(8)
    if kind == 0:
        return f"{value:22.15f}"  # ase
    if kind == 1:
        return f"{value:.10f}"
    if kind == 2:
        return repr(value)
    if kind == 3:
        return f"{value:.17g}"
    if kind == 4:
        return f"{value:e}"
    if kind == 5:
        return f"{value:.3f}"
    if kind == 6:
        return f"{value:.12E}"
    return f"{value:+.4f}"


@pytest.mark.parametrize("seed", range(8))
def test_random_molecules_read_the_same_both_ways(tmp_path, monkeypatch, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    z = rng.integers(1, 119, size=n)
    # atoms on a grid (at least 1 A apart) moved a little: no duplicate-atom errors
    grid = np.stack(np.unravel_index(rng.permutation(8**3)[:n], (8, 8, 8)), axis=1)
    positions = (grid - 4) * 1.7 * rng.uniform(1, 10) + rng.uniform(-0.3, 0.3, (n, 3))
    lines = [f"{n}", f"random {seed}"]
    for k in range(n):
        label = (str(z[k]) if rng.integers(3) == 0 else
                 _readers.chemical_symbols[z[k]] if rng.integers(2) else
                 _readers.chemical_symbols[z[k]].upper())
        coords = " ".join(_format(rng, float(v)) for v in positions[k])
        lines.append(f"{label} {coords}" + (" 0.1 0.2 0.3" if rng.integers(4) == 0 else ""))
    path = tmp_path / f"random_{seed}.xyz"
    path.write_text("\n".join(lines) + "\n")
    atoms = _same(path, monkeypatch)
    assert not isinstance(atoms, str), atoms
    assert atoms[0].numbers.tolist() == z.tolist()


def test_decimals_convert_as_float_does():
    """The compiled conversion, on the numbers it takes itself, gives float()'s double."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-20, 20, 3000), rng.normal(0, 1e-3, 500),
                             np.exp(rng.uniform(-50, 50, 500)), rng.integers(-10**6, 10**6, 500)])
    tokens = [f"{v:.15f}" for v in values[:1500]] + [f"{v:.6f}" for v in values[1500:3000]]
    tokens += [repr(float(v)) for v in values[3000:]] + [f"{v:.9e}" for v in values[3000:]]
    tokens += ["0", "-0", "0.0", "-0.000", "9007199254740992", "9007199254740993",
               "4503599627370497.5", "1e22", "1e-22", "123456789012345e-30", "0.1", "0.3",
               "2.2250738585072014e-308", "1.7976931348623157e308", "5e-324"]
    body = [f"Fe {tok} {tok} {tok}" for tok in tokens]
    text = np.frombuffer("\n".join(body).encode(), dtype=np.uint8)
    n = len(body)
    numbers, positions = np.empty(n, dtype=np.int64), np.empty((n, 3))
    deferred = np.empty((3 * n, 3), dtype=np.int64)
    count = _readers._scan_atom_lines(text, _readers._SYMBOL_CODES, _readers._POWERS_OF_TEN,
                                      numbers, positions, deferred)
    assert 0 <= count < 0.3 * 3 * n  # most are converted by the compiled pass
    left = set(deferred[:count, 0].tolist())
    expected = np.array([float(tok) for tok in tokens])
    for k, tok in enumerate(tokens):
        if 3 * k not in left:
            assert positions[k, 0].tobytes() == expected[k].tobytes(), tok
    assert numbers.tolist() == [26] * n


def test_directory_listing_is_that_of_sorted_paths(tmp_path, monkeypatch):
    """One scandir pass lists what ``sorted(iterdir())`` and is_structure_file list."""
    from wacsf import is_structure_file

    names = ["b.xyz", "B.xyz", "a.XYZ", "..xyz", ".xyz", "c.cif", "POSCAR", "poscar_2",
             "CONTCAR.old", "notes.txt", "x.", "10.xyz", "9.xyz", "z.extxyz", "y.vasp"]
    for name in names:
        (tmp_path / name).write_text("1\n\nFe 0 0 0\n")
    (tmp_path / "sub.xyz").mkdir()
    (tmp_path / "link.xyz").symlink_to(tmp_path / "b.xyz")
    (tmp_path / "dangling.xyz").symlink_to(tmp_path / "missing.xyz")
    (tmp_path / "loop.xyz").symlink_to(tmp_path / "loop.xyz")
    expected = [str(p) for p in sorted(tmp_path.iterdir())
                if p.is_file() and is_structure_file(p)]
    assert _readers._structure_files(tmp_path) == expected
    monkeypatch.chdir(tmp_path)
    for relative in (Path("."), Path("./"), Path("..") / tmp_path.name):
        assert _readers._structure_files(relative) == [
            str(p) for p in sorted(relative.iterdir()) if p.is_file() and is_structure_file(p)]
    assert "link.xyz" in {Path(p).name for p in expected}


def _frames(make, *args, **kwargs):
    """(formula, positions, name, energy) of each of ``make(*args, **kwargs)``'s atoms, or
    its error."""
    try:
        atoms = list(make(*args, **kwargs))
    except Exception as exc:  # the very exception, whichever ase raises
        return f"{type(exc).__name__}: {exc}"
    return [(a.get_chemical_formula(), a.positions.tobytes(), a.info.get("name"),
             a.calc.results["energy"] if a.calc is not None else None) for a in atoms]


def _molecules(n):
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for k in range(n):
        atoms = molecule(("H2O", "CH4", "NH3")[k % 3])
        atoms.positions += 0.01 * k
        atoms.calc = SinglePointCalculator(atoms, energy=-float(k))
        out.append(atoms)
    return out


def test_databases_read_as_a_plain_select_reads_them(tmp_path):
    import ase.db

    from xanesnet_sk.screening import _read_partition, iter_candidates

    path = tmp_path / "c.db"
    db = ase.db.connect(path)
    for k, atoms in enumerate(_molecules(6)):
        db.write(atoms, **({"name": f"mol{k}"} if k % 2 else {}))

    def plain():
        for row in ase.db.connect(str(path)).select():
            atoms = row.toatoms()
            atoms.info["name"] = str(row.get("name", f"c_{row.id}"))
            yield atoms

    expected = _frames(plain)
    assert _frames(iter_candidates, path) == expected
    assert _frames(_read_partition, ("db", str(path), 2, 4)) == expected[1:4]
    stream = iter_candidates(path)  # left half read: its connection is closed with it
    next(stream)
    stream.close()
    assert _frames(iter_candidates, path) == expected
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database" * 100)
    message = _frames(iter_candidates, bad)
    assert isinstance(message, str)
    assert message == _frames(lambda: (r.toatoms() for r in ase.db.connect(str(bad)).select()))
