"""Tampered safe-format files: refused before anything large is allocated, in one line
that names the file."""

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

skops_io = pytest.importorskip("skops.io")

from xanesnet_sk.pipeline import make_xanesnet_pipeline  # noqa: E402
from xanesnet_sk.serialization import load_safe, save_safe  # noqa: E402

TINY = dict(max_epochs=1, hidden_sizes=(8,), batch_size=8, n_threads=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A genuine single-net and ensemble file, and the data."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 9))
    root = tmp_path_factory.mktemp("safe")
    net = make_xanesnet_pipeline(featurise=False, random_state=0, **TINY).fit(X, y)
    ens = make_xanesnet_pipeline(featurise=False, random_state=0, n_ensemble=2, n_jobs=1,
                                 **TINY).fit(X, y)
    save_safe(net, root / "net.skops")
    save_safe(ens, root / "ens.skops")
    return root / "net.skops", root / "ens.skops", X


def _schema(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("schema.json"))


def _weights_node(schema, member=None):
    net = schema["content"]["net"]["content"]
    if member is not None:
        net = net["members"]["content"][member]["content"]["net"]["content"]
    return net


def _rewrite(src, dst, schema=None, members=None, compress=None):
    """Copy the zip ``src`` to ``dst``, with a new schema and/or member contents (a
    callable writing into an open zip entry, or bytes)."""
    members = members or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            name = info.filename
            if name == "schema.json" and schema is not None:
                zout.writestr(name, json.dumps(schema))
            elif name in members:
                content = members[name]
                kind = compress.get(name, zipfile.ZIP_STORED) if compress else zipfile.ZIP_STORED
                if callable(content):
                    with zout.open(zipfile.ZipInfo(name), "w", force_zip64=True) as out:
                        content(out)
                else:
                    zout.writestr(zipfile.ZipInfo(name), content, compress_type=kind)
            else:
                zout.writestr(info, zin.read(name))


def _first_weight_file(schema):
    weights = _weights_node(schema)["weights"]["content"]
    key = sorted(weights)[0]
    return key, weights[key]["file"]


def _npy_header(shape, dtype="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _one_line_naming(err, path):
    message = str(err.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


def test_a_weight_claiming_far_more_than_the_file_holds_is_refused_without_reading_it(
        saved, tmp_path):
    """An array that is no net weight (so only the file's size bounds it): the scaler's."""
    src, _, _ = saved
    schema = _schema(src)
    weights = {node["file"] for node in _weights_node(schema)["weights"]["content"].values()}
    with zipfile.ZipFile(src) as zf:
        file = sorted(n for n in zf.namelist() if n.endswith(".npy") and n not in weights)[0]
    claimed = 256 * 2**20  # 256 MiB of zeros, deflated to a few hundred kB

    def zeros(out):
        out.write(_npy_header((claimed // 4,)))
        chunk = bytes(2**20)
        for _ in range(claimed // 2**20):
            out.write(chunk)

    bomb = tmp_path / "bomb.skops"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for info in zin.infolist():
            if info.filename == file:
                target = zipfile.ZipInfo(file)
                target.compress_type = zipfile.ZIP_DEFLATED
                with zout.open(target, "w", force_zip64=True) as out:
                    zeros(out)
            else:
                zout.writestr(info, zin.read(info.filename))
    assert bomb.stat().st_size < 2 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            load_safe(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB allocated"
    assert "times the file's own size" in _one_line_naming(err, bomb)


def test_an_array_header_claiming_more_than_its_data_is_refused(saved, tmp_path):
    """Any array, not only a net's weight (whose shape the architecture also fixes)."""
    src, _, _ = saved
    schema = _schema(src)
    weights = {node["file"] for node in _weights_node(schema)["weights"]["content"].values()}
    with zipfile.ZipFile(src) as zf:
        file = sorted(n for n in zf.namelist() if n.endswith(".npy") and n not in weights)[0]
    liar = tmp_path / "liar.skops"
    _rewrite(src, liar, members={file: _npy_header((10**9,)) + bytes(64)})
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            load_safe(liar)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20
    message = _one_line_naming(err, liar)
    assert "(1000000000,)" in message


def test_a_weight_of_another_shape_than_the_architecture_is_named(saved, tmp_path):
    src, _, _ = saved
    schema = _schema(src)
    key, file = _first_weight_file(schema)
    odd = tmp_path / "odd.skops"
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 3), dtype=np.float32))
    _rewrite(src, odd, members={file: buf.getvalue()})
    with pytest.raises(ValueError) as err:
        load_safe(odd)
    message = _one_line_naming(err, odd)
    assert key in message and "(3, 3)" in message


def test_an_architecture_edited_to_disagree_with_the_weights_is_named(saved, tmp_path):
    src, _, _ = saved
    schema = _schema(src)
    params = _weights_node(schema)["params"]["content"]
    # a node of its own: skops shares nodes of equal __id__ (the 8 of batch_size too)
    params["hidden_sizes"]["content"][0].update(content="4096", __id__=987654321)
    edited = tmp_path / "edited.skops"
    _rewrite(src, edited, schema=schema)
    with pytest.raises(ValueError) as err:
        load_safe(edited)
    message = _one_line_naming(err, edited)
    assert "4096" in message


def _json_node(value):
    return {"__class__": type(value).__name__, "__module__": "builtins",
            "__loader__": "JsonNode", "content": json.dumps(value), "is_json": True,
            "__id__": 1}


@pytest.mark.parametrize("edit", ["pipeline_is_a_str", "no_members", "bad_net_at",
                                  "no_weights", "attrs_a_str"])
def test_a_tampered_schema_gives_one_line_naming_the_file(saved, tmp_path, edit):
    net_file, ens_file, _ = saved
    src = ens_file if edit == "no_members" else net_file
    schema = _schema(src)
    content = schema["content"]
    if edit == "pipeline_is_a_str":
        content["pipeline"] = _json_node("steps")
    elif edit == "no_members":
        del content["net"]["content"]["members"]
    elif edit == "bad_net_at":
        content["net_at"] = _json_node("elsewhere")
    elif edit == "no_weights":
        del content["net"]["content"]["weights"]
    elif edit == "attrs_a_str":
        content["net"]["content"]["attrs"] = _json_node("n_features_in_")
    bad = tmp_path / f"{edit}.skops"
    _rewrite(src, bad, schema=schema)
    with pytest.raises(ValueError) as err:
        load_safe(bad)
    message = _one_line_naming(err, bad)
    assert "save_safe" in message


def test_genuine_files_still_load(saved):
    net_file, ens_file, X = saved
    assert load_safe(net_file).predict(X).shape == (40, 9)
    mean, std = load_safe(ens_file).predict(X, return_std=True)
    assert mean.shape == std.shape == (40, 9) and np.isfinite(std).all()
