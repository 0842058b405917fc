"""Many xyz files read together (``wacsf._molecules``) read what ``read_structures`` reads.

Every edge case of ``test_fast_reading`` is read both ways, alone and among
common files: the same atoms (numbers, positions bit for bit), names and
sources, or the same error text, and the same warnings.  Then the places the
batch reader feeds: ``WACSFTransformer.transform`` of a directory (streamed in
batches, chunked as a list is) and ``screen`` of a directory (the same
ranking, the same errors).
"""

import warnings

import numpy as np
import pytest
from test_fast_reading import EDGE_CASES, WATER

from wacsf import WACSFTransformer, _molecules, _structures, read_structures
from wacsf._molecules import Molecules, read_molecules

COMMON = "3\nwater\n" + WATER
CO = "2\r\nCO\r\nC 0 0 0\r\nO 0 0 1.128\r\n"


def _write(directory, texts):
    paths = []
    for k, text in enumerate(texts):
        path = directory / f"f{k:03d}.xyz"
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        paths.append(str(path))
    return paths


def _outcome(read, paths):
    """(structures as plain data, or the error text; warning texts) of ``read(paths)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = read(paths)
        except (ValueError, FileNotFoundError) as exc:
            got = f"{type(exc).__name__}: {exc}"
    if not isinstance(got, str):
        got = [(atoms.numbers.tolist(), atoms.positions.tobytes(), atoms.info["name"],
                atoms.info["source"], atoms.pbc.tolist()) for atoms in got]
    return got, [str(w.message) for w in caught]


def _handing(handed):
    """A fallback that reads with read_structures and notes each path in ``handed``."""
    def fallback(path):
        handed.append(path)
        return read_structures([path])
    return fallback


def _same(paths):
    """Read ``paths`` both ways; they must agree.  The batch reader's result."""
    plain = _outcome(lambda p: [a for f in p for a in read_structures([f])], paths)
    batch = _outcome(lambda p: list(read_molecules(p)), paths)
    assert batch == plain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read_molecules(paths)
        except (ValueError, FileNotFoundError):
            return None


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_read_as_read_structures_reads_them(tmp_path, name):
    _same(_write(tmp_path, [EDGE_CASES[name]]))
    among = tmp_path / "among"
    among.mkdir()
    _same(_write(among, [COMMON, EDGE_CASES[name], CO]))


def test_common_files_are_parsed_together(tmp_path):
    """The files the batch reader is for are parsed by its compiled pass (none handed to
    the full reader), and give a Molecules."""
    texts = [EDGE_CASES[k] for k in ("symbols", "atomic numbers", "atomic numbers, leading zeros",
                                     "lowercase symbols", "uppercase symbols", "extra columns",
                                     "uneven extra columns", "tabs", "unit separator",
                                     "leading spaces", "blank trailing lines", "one atom",
                                     "Windows line endings")]
    paths = _write(tmp_path, texts)
    handed = []
    fallback = _handing(handed)

    got = read_molecules(paths, fallback=fallback)
    assert handed == []
    assert isinstance(got, Molecules) and len(got) == len(texts)
    assert got.names == [f"f{k:03d}" for k in range(len(texts))]
    assert list(got.sources) == paths
    assert got.counts.tolist() == [3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 2]


@pytest.mark.parametrize("name", ["repeated trailing atom line", "number forms", "NaN coordinate",
                                  "two frames", "old Mac line endings", "dummy atom X",
                                  "duplicate atom", "count beyond the file", "non-ASCII space"])
def test_unusual_files_go_to_the_full_reader(tmp_path, name):
    paths = _write(tmp_path, [COMMON, EDGE_CASES[name]])
    handed = []
    fallback = _handing(handed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read_molecules(paths, fallback=fallback)
        except ValueError:
            pass
    assert handed == [paths[1]]


def test_extended_xyz_and_periodic_files_make_a_list(tmp_path):
    """A periodic structure in a batch: every file is read the full reader's way, in
    order (a plain list of ase.Atoms, cells kept)."""
    ext = ('2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
           "Fe 0 0 0\nO 0 0 1.6\n")
    paths = _write(tmp_path, [COMMON, ext, CO])
    got = _same(paths)
    assert isinstance(got, list) and [a.pbc.any() for a in got] == [False, True, False]
    assert got[1].cell.array[0, 0] == 5.0
    # extended xyz without a cell (Properties= only) is a molecule: a Molecules
    ext_molecule = "2\nProperties=species:S:1:pos:R:3\nFe 0 0 0\nO 0 0 1.6\n"
    paths = _write(tmp_path, [COMMON, ext_molecule])
    got = _same(paths)
    assert isinstance(got, Molecules) and got.names == ["f000", "f001"]


def test_separation_at_the_limit_and_large_molecules(tmp_path):
    """Two atoms 0.1 A apart (the limit, which float arithmetic puts just above it) are
    read; 0.0999 A is refused, by both readers; a molecule beyond the compiled pass's
    pair-by-pair size goes to the full reader (its k-d tree) and reads the same."""
    at_limit = "2\n\nC 0 0 0\nC 0.1 0 0\n"
    below = "2\n\nC 0 0 0\nC 0.0999 0 0\n"
    assert isinstance(_same(_write(tmp_path, [at_limit])), Molecules)
    assert _same(_write(tmp_path, [below])) is None
    n = _molecules._BRUTE_FORCE_ATOMS + 1
    grid = np.stack(np.unravel_index(np.arange(n), (15, 15, 15)), axis=1) * 1.5
    big = f"{n}\n\n" + "".join(f"C {x} {y} {z}\n" for x, y, z in grid.tolist())
    got = _same(_write(tmp_path, [COMMON, big]))
    assert isinstance(got, Molecules) and got.counts.tolist() == [3, n]


def test_bad_bytes_and_missing_files(tmp_path):
    paths = _write(tmp_path, [COMMON, b"\x00\x01binary", CO])
    assert _same(paths) is None
    paths = _write(tmp_path, [COMMON, b"2\n\nFe 0 0 0\nO 0 0 \xe9\n"])
    assert _same(paths) is None
    assert _same([str(tmp_path / "missing.xyz")]) is None
    assert _same(_write(tmp_path, [""])) is None


def test_counts_beyond_the_bytes_are_not_allocated(tmp_path):
    """A count line announcing more atoms than the file's bytes can hold is handed to the
    full reader (its error), never allocated for."""
    counts, numbers, _ = _molecules._scan_files(
        np.frombuffer(b"1000000000000\n\nFe 0 0 0\n", dtype=np.uint8), np.array([0, 24]),
        _molecules._SYMBOL_CODES, _molecules._POWERS_OF_TEN, _molecules._LATTICE,
        _molecules._PROPERTIES, 0.1, 3000)
    assert counts.tolist() == [-1] and numbers.size == 0
    text = b"2\n\nH 0 0 0\nH 0 0 1"  # 2 atoms in 17 bytes: 7 per atom line is the least
    counts, numbers, positions = _molecules._scan_files(
        np.frombuffer(text, dtype=np.uint8), np.array([0, len(text)]),
        _molecules._SYMBOL_CODES, _molecules._POWERS_OF_TEN, _molecules._LATTICE,
        _molecules._PROPERTIES, 0.1, 3000)
    assert counts.tolist() == [2] and positions[1].tolist() == [0.0, 0.0, 1.0]


def test_molecules_index_and_slice(tmp_path):
    got = read_molecules(_write(tmp_path, [COMMON, CO, EDGE_CASES["one atom"]]), base=10)
    assert len(got) == 3 and repr(got) == "Molecules(3 structures, 6 atoms)"
    atoms = got[-1]
    assert atoms.get_chemical_formula() == "Fe" and atoms.info["name"] == "f002"
    part = got[1:3]
    assert part.base == 11 and part.names == ["f001", "f002"]
    assert part.offsets.tolist() == [0, 2, 3] and part[0].get_chemical_formula() == "CO"
    assert len(got[2:1]) == 0
    with pytest.raises(IndexError):
        got[3]
    with pytest.raises(ValueError, match="contiguous"):
        got[::2]


def _directory(tmp_path, n=23, seed=0):
    rng = np.random.default_rng(seed)
    d = tmp_path / "candidates"
    d.mkdir()
    for k in range(n):
        m = int(rng.integers(2, 9))
        z = [26] + rng.choice([1, 6, 7, 8, 26], size=m - 1).tolist()
        pos = np.stack(np.unravel_index(rng.permutation(64)[:m], (4, 4, 4)), axis=1) * 1.3
        pos = pos + rng.uniform(-0.2, 0.2, pos.shape)
        lines = [str(m), ""] + [f"{a} {x!r} {y!r} {w!r}" for a, (x, y, w) in zip(z, pos.tolist())]
        (d / f"s{k:02d}.xyz").write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.parametrize("kwargs", [dict(chunk_size=5), dict(chunk_size=1000),
                                    dict(chunk_size=4, absorber_element="Fe"),
                                    dict(chunk_size=7, dtype="float32"),
                                    dict(chunk_size=3, absorber=-1, n_jobs=1)])
def test_transform_of_a_directory_is_that_of_its_structures(tmp_path, monkeypatch, kwargs):
    d = _directory(tmp_path)
    monkeypatch.setattr(_structures, "read_molecules",
                        _counting(_structures.read_molecules, calls := []))
    est = WACSFTransformer(**kwargs)
    got, sites = est.transform(d), est.sites_
    assert calls, "the directory was not read in batches"
    want = est.transform(read_structures(d))
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert np.array_equal(sites, est.sites_)


def _counting(function, calls):
    def wrapper(*args, **kwargs):
        calls.append(args[0])
        return function(*args, **kwargs)
    return wrapper


def test_directory_chunks_close_as_list_chunks_close(tmp_path, monkeypatch):
    """Batches are cut at ``chunk_size`` rows (sites, with absorber_element) and at
    ATOMS_PER_CHUNK atoms, exactly where a list's chunks are cut."""
    d = _directory(tmp_path, n=17, seed=3)
    listed = read_structures(d)
    for max_rows, element, atoms_limit in [(4, None, 10**9), (3, "Fe", 10**9), (50, None, 20),
                                           (1, None, 10**9), (5, "H", 13)]:
        monkeypatch.setattr(_structures, "ATOMS_PER_CHUNK", atoms_limit)
        from_files = [(c.base, len(c), type(c).__name__) for c in
                      _structures.iter_chunks(d, max_rows, element)]
        from_list = [(c.base, len(c), "Molecules") for c in
                     _structures.iter_chunks(iter(listed), max_rows, element)]
        assert from_files == from_list, (max_rows, element, atoms_limit)


def test_a_bad_file_in_a_directory_names_it_and_the_directory(tmp_path):
    d = _directory(tmp_path, n=6)
    (d / "s03.xyz").write_text("2\n\nFe 0 0 0\nO 0 0 1.6\nN 0 0 3\n")
    with pytest.raises(ValueError) as plain:
        read_structures(d)
    with pytest.raises(ValueError) as featurised:
        WACSFTransformer(chunk_size=2).transform(d)
    assert str(featurised.value) == str(plain.value)
    assert "s03.xyz" in str(plain.value) and "in directory" in str(plain.value)


def test_a_directory_mixing_molecules_and_crystals(tmp_path):
    d = _directory(tmp_path, n=5)
    (d / "s02.xyz").write_text('2\nLattice="6 0 0 0 6 0 0 0 6" pbc="T T T"\nFe 0 0 0\nO 0 0 1.9\n')
    est = WACSFTransformer(chunk_size=2)
    got = est.transform(d)
    assert got.tobytes() == est.transform(read_structures(d)).tobytes()


def _screening(tmp_path, n=11):
    """A directory of n synthetic complexes, their structures as read, a 1-nearest-neighbour
    model on their wACSF and a simulated measurement of the 3rd."""
    pytest.importorskip("larch", reason="screening normalises with xraylarch")
    from ase.io import write
    from sklearn.neighbors import KNeighborsRegressor

    from xanesnet_sk import make_synthetic_xanes
    from xanesnet_sk.measured import simulate_measurement
    from xanesnet_sk.spectra import xanesnet_grid

    ds = make_synthetic_xanes(n, random_state=5)
    d = tmp_path / "candidates"
    d.mkdir()
    for k, atoms in enumerate(ds.structures):
        write(d / f"c{k:02d}.xyz", atoms, format="xyz")
    wacsf = WACSFTransformer(n_jobs=1)
    structures = read_structures(d)
    model = KNeighborsRegressor(n_neighbors=1).fit(wacsf.transform(structures), ds.spectra)
    measured = simulate_measurement(xanesnet_grid(), ds.spectra[2], e0=7112.0, width=1.0,
                                    noise=0.01, random_state=0)
    return d, structures, wacsf, model, measured


def test_screen_of_a_directory_reads_it_in_batches(tmp_path, monkeypatch):
    """screen() of a directory ranks as screen() of its structures does, read in batches
    of chunk_size files."""
    from xanesnet_sk import screen, screening

    d, structures, wacsf, model, measured = _screening(tmp_path)
    calls = []
    monkeypatch.setattr(screening, "read_molecules", _counting(screening.read_molecules, calls))
    kwargs = dict(e0=7112.0, chunk_size=4, top_k=3, wacsf=wacsf)
    from_files = screen(model, d, measured, **kwargs)
    assert [len(c) for c in calls] == [4, 4, 3]
    from_atoms = screen(model, structures, measured, **kwargs)
    assert from_files.ranking.equals(from_atoms.ranking)
    assert from_files.ranking["name"].iloc[0] == "c02"
    assert np.array_equal(from_files.top_spectra, from_atoms.top_spectra)


def test_screen_errors_name_the_candidate_file(tmp_path):
    """The batch's vectorised absorber check raises the errors the list's check raises."""
    from xanesnet_sk import screen

    d, structures, wacsf, model, measured = _screening(tmp_path, n=5)
    kwargs = dict(e0=7112.0, wacsf=wacsf, chunk_size=2)
    for text, params, message in [
        ("2\n\nO 0 0 0\nFe 0 0 1.6\n", dict(element="Fe"),
         r"candidate c01 \(.*c01\.xyz\): its absorbing atom 0 is O, but .* Fe edge"),
        ("2\n\nO 0 0 0\nN 0 0 1.6\n", dict(absorber_element="Fe"),
         r"candidate c01 \(.*c01\.xyz\) has no Fe atom"),
        ("2\n\nFe 0 0 0\nO 0 0 1.6\n", dict(element="Fe", absorber=5),
         r"candidate c01 \(.*c01\.xyz\): absorber index 5 is out of range for 2 atoms"),
    ]:
        (d / "c01.xyz").write_text(text)
        with pytest.raises(ValueError, match=message):
            screen(model, d, measured, **kwargs, **params)
        listed = read_structures(d)
        with pytest.raises(ValueError) as from_list:
            screen(model, listed, measured, **kwargs, **params)
        with pytest.raises(ValueError) as from_files:
            screen(model, d, measured, **kwargs, **params)
        assert str(from_files.value) == str(from_list.value)


def _tokens():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(-20, 20, 3000), rng.normal(0, 1e-3, 500),
                             np.exp(rng.uniform(-50, 50, 500)), rng.integers(-10**6, 10**6, 500)])
    tokens = [f"{v:22.15f}".strip() for v in values[:1500]]
    tokens += [f"{v:.6f}" for v in values[1500:3000]]
    tokens += [repr(float(v)) for v in values[3000:]] + [f"{v:.9e}" for v in values[3000:]]
    tokens += ["0", "-0", "0.0", "-0.000", "+.5", "5.", ".5e1", "1E+00", "0e999", "-2.5e-3",
               "9007199254740992", "9007199254740993", "4503599627370497.5", "1e22", "1e-22",
               "1e23", "123456789012345e-30", "0.1", "0.3", "123456789012345678",
               "1234567890123456", "12345678901234567", "000000000000000001",
               "0000000000000000001", "1.2.3", "1e", "1e+", "e5", ".", "-", "+-1", "1_0",
               "0x10", "1e00001", "nan", "inf", "1d0"]
    return tokens


def test_numbers_convert_as_float_does():
    """The compiled conversion (``_decimal``, both compiled passes') gives float()'s double
    wherever it converts; it converts plain decimals of up to 18 digits and leaves the rest
    to float()."""
    from wacsf._readers import _decimal

    powers = _molecules._POWERS_OF_TEN
    tokens = _tokens()
    converted = {}
    for tok in tokens:
        text = np.frombuffer(tok.encode(), dtype=np.uint8)
        ok, value = _decimal(text, 0, text.size, powers)
        if ok:
            assert np.float64(value).tobytes() == np.float64(float(tok)).tobytes(), tok
        converted[tok] = ok
    assert sum(converted.values()) > 0.65 * len(tokens)  # most, by the compiled pass
    for tok in ["0", "-0", "-0.000", "+.5", "5.", ".5e1", "1E+00", "-2.5e-3", "1e22", "1e-22",
                "9007199254740992", "1234567890123456", "000000000000000001", "0e999"]:
        assert converted[tok], tok
    for tok in ["9007199254740993", "12345678901234567", "1e23", "0000000000000000001",
                "1.2.3", "1e", "1e+", "e5", ".", "-", "+-1", "1_0", "0x10", "1e00001", "nan",
                "inf", "1d0", "123456789012345e-30"]:
        assert not converted[tok], tok


def test_files_of_many_numbers_read_as_read_structures_reads_them(tmp_path):
    """Every token above as an atom's coordinate, a file each (numbers the compiled pass
    cannot take go to the full reader, or are its errors)."""
    tokens = _tokens()
    picks = list(range(0, 4000, 97)) + list(range(5000, len(tokens)))
    texts = [f"2\n\nFe 0 0 0\nO {tokens[k]} 1.5 -{tokens[k]}\n" for k in picks]
    paths = _write(tmp_path, texts)
    for k in range(0, len(paths), 9):
        _same(paths[k:k + 9])


# ------------------------------------------------------------ the real data


@pytest.mark.parametrize("edge", ["fe_k_edge", "s_k_edge"])
def test_real_structure_directories_read_and_featurise_the_same(data_root, edge):
    """The 110 Fe and 110 S structures of the real sets: the batch reader gives what
    read_structures gives (the Fe files all by its compiled pass; the 13 S files that
    repeat an atom line through the full reader, with its warnings), and transform of the
    directory the features of the structures."""
    d = data_root / edge / "xyz"
    paths = sorted(str(p) for p in d.glob("*.xyz"))
    handed = []
    fallback = _handing(handed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = read_molecules(paths, fallback=fallback)
    assert isinstance(got, Molecules) and len(got) == 110
    assert len(handed) == (0 if edge == "fe_k_edge" else 13)
    for k in range(0, 110, 11):
        _same(paths[k:k + 11])
    est = WACSFTransformer(chunk_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = est.transform(d)
        assert features.tobytes() == est.transform(read_structures(d)).tobytes()


def test_real_fe_measurements_find_their_structure_among_110(data_root, tmp_path):
    """Screening from the real Fe set's directory of 110 xyz files: each of 11 computed
    spectra, made a "measurement" (E0 offset, sloping pre-edge, another normalisation,
    1 eV broadening, noise at 1 % of the edge step), finds its own structure first among
    the 110 for most, with a model that reproduces the candidates' computed spectra
    (1-nearest neighbour on their wACSF: this tests the measurement side -- reading,
    normalisation, alignment, broadening, scoring -- not a model's error)."""
    pytest.importorskip("larch", reason="screening normalises with xraylarch")
    from sklearn.neighbors import KNeighborsRegressor

    from xanesnet_sk import load_dataset, screen
    from xanesnet_sk.measured import simulate_measurement
    from xanesnet_sk.spectra import xanesnet_grid

    root = data_root / "fe_k_edge"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset(root / "xyz", root / "xanes")
    grid = xanesnet_grid(ds.spectra.shape[1])
    wacsf = WACSFTransformer(n_jobs=1)
    model = KNeighborsRegressor(n_neighbors=1).fit(wacsf.transform(ds.structures), ds.spectra)
    ranks = []
    for i in range(0, 110, 10):
        measured = simulate_measurement(grid, ds.spectra[i], e0=7112.0 + 3.0, width=1.0,
                                        noise=0.01, random_state=i)
        result = screen(model, root / "xyz", measured, e0=7115.0, wacsf=wacsf, broadening=1.0)
        table = result.ranking
        assert len(table) == 110
        ranks.append(int(table.loc[table["name"] == ds.names[i], "rank"].iloc[0]))
    assert sum(r == 1 for r in ranks) >= 9, ranks  # of 11
    assert max(ranks) <= 5, ranks


# ------------------------------------------------------------ the command line


@pytest.mark.parametrize("crystal", [False, True])
def test_cli_featurise_reads_a_directory_in_batches(tmp_path, monkeypatch, crystal):
    """``xanesnet-sk featurise`` reads --xyz with the batch reader (a directory of
    molecules, or one holding a crystal too): the features and names of the structures
    read one by one."""
    from xanesnet_sk.cli import main
    from xanesnet_sk.cli._data import read_one_structure, structure_files

    d = _directory(tmp_path, n=9)
    (d / "s04.xyz").write_text("2\n\nFe 0 0 0\nO 0 0 1.6\nFe 0 0 0\n")  # repeats a line
    if crystal:
        (d / "s05.xyz").write_text('2\nLattice="6 0 0 0 6 0 0 0 6" pbc="T T T"\n'
                                   "Fe 0 0 0\nO 0 0 1.9\n")
    out = tmp_path / "f.npz"
    calls = []
    monkeypatch.setattr(_molecules, "read_molecules", _counting(_molecules.read_molecules, calls))
    assert main(["featurise", "--xyz", str(d), "--output", str(out), "-q"]) == 0
    assert len(calls) == 1 and len(calls[0]) == 9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_by_one = [read_one_structure(p) for p in structure_files(d)]
    want = WACSFTransformer().transform(one_by_one)
    with np.load(out) as data:
        assert data["x"].tobytes() == want.tobytes()
        assert data["names"].tolist() == [f"s{k:02d}" for k in range(9)]


def test_cli_featurise_errors_are_those_of_the_one_by_one_reader(tmp_path, capsys):
    from xanesnet_sk.cli import main

    d = _directory(tmp_path, n=4)
    (d / "s02.xyz").write_text("2\nfirst\nFe 0 0 0\nO 0 0 1.6\n2\nsecond\nFe 0 0 0\nO 0 0 1.7\n")
    assert main(["featurise", "--xyz", str(d), "--output", str(tmp_path / "f.npz")]) != 0
    err = capsys.readouterr().err
    message = "s02.xyz: holds 2 structures (frames); the command line reads one structure per"
    assert message in " ".join(err.split())
    assert not (tmp_path / "f.npz").exists()
