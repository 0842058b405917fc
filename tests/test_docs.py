"""The documentation: every public name is on an API page, and the site builds.

The API check is fast and runs by default, so a new public name without an
API entry fails the ordinary test run.  The build (Sphinx with ``-W``, the
gallery included: a few minutes) is marked slow; ``.ci/run`` builds the
documentation once explicitly.
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = ("wacsf", "xanesnet_sk")

_CURRENTMODULE = re.compile(r"^\.\. currentmodule:: (\S+)\s*$")
_AUTOSUMMARY = re.compile(r"^\.\. autosummary::\s*$")


def _ext_module(name):
    """A module of docs/_ext (the docs' own extensions and helpers)."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def public_modules(package):
    """The package and its modules with no underscore in any part of their name (the
    docs' own definition, docs/_ext/public_api.py)."""
    return _ext_module("public_api").public_modules(package)


def documented_names(api_dir=DOCS / "api"):
    """``(module, name)`` of every autosummary entry on the API pages."""
    found = set()
    for page in sorted(api_dir.glob("*.rst")):
        module = None
        in_summary = False
        for line in page.read_text(encoding="utf-8").splitlines():
            if match := _CURRENTMODULE.match(line):
                module, in_summary = match[1], False
            elif _AUTOSUMMARY.match(line):
                in_summary = True
            elif in_summary:
                entry = line.strip()
                if line and not line.startswith("   "):
                    in_summary = False          # back at the margin: the directive ended
                elif entry and not entry.startswith(":") and module is not None:
                    found.add((module, entry.lstrip("~")))
    return found


def _undocumented():
    documented = documented_names()
    objects = {}
    for module, name in documented:
        mod = importlib.import_module(module)
        assert hasattr(mod, name), f"docs/api lists {module}.{name}, which does not exist"
        objects.setdefault(name, []).append(getattr(mod, name))
    missing = []
    for package in PACKAGES:
        for module_name in public_modules(package):
            module = importlib.import_module(module_name)
            for name in getattr(module, "__all__", ()):
                if name.startswith("__"):
                    continue
                obj = getattr(module, name)
                if not any(obj is other for other in objects.get(name, ())):
                    missing.append(f"{module_name}.{name}")
    return missing


def test_api_pages_parse():
    names = documented_names()
    assert ("wacsf", "WACSFTransformer") in names
    assert ("xanesnet_sk.metrics", "delta_mu") in names


def test_every_public_name_is_on_an_api_page():
    missing = _undocumented()
    assert not missing, (
        "public names (in a public module's __all__) without an entry in docs/api/*.rst: "
        + ", ".join(sorted(missing)) + "; add each to the autosummary of its module's section")


def test_cli_reference_is_generated_from_the_parser():
    """The reference's texts come from the parser (docs/_ext/cli_text.py imports only
    argparse, so this runs without Sphinx or docutils)."""
    text = (DOCS / "cli.rst").read_text(encoding="utf-8")
    assert ".. cli-reference:: xanesnet_sk.cli:build_parser" in text
    cli_text = _ext_module("cli_text")
    assert "docutils" not in cli_text.__dict__ and "sphinx" not in cli_text.__dict__
    from xanesnet_sk.cli import build_parser

    parser = build_parser()
    sections = cli_text.reference(parser)
    verbs = [name for name, _, _ in cli_text.subparsers(parser)]
    assert {"demo", "featurise", "learn", "validate", "predict", "evaluate"} <= set(verbs)
    assert [s.title for s in sections] == [parser.prog] + [f"{parser.prog} {v}" for v in verbs]
    learn = sections[1 + verbs.index("learn")]
    options = {o.invocation: o.help for _, group in learn.groups for o in group}
    # exactly what `xanesnet-sk learn --help` lists
    for action in verb_parser(parser, "learn")._actions:
        if action.option_strings and action.help != "==SUPPRESS==":
            assert cli_text.invocation(action) in options
    assert "%(default)" not in cli_text.render_text(sections)


def verb_parser(parser, verb):
    """The sub-parser of one verb."""
    return next(sub for name, _, sub in _ext_module("cli_text").subparsers(parser)
                if name == verb)


def test_cli_reference_text_keeps_double_hyphens():
    """Options are written with two ASCII hyphens (a copied command must work): no en or
    em dash anywhere in the reference's text, and conf.py turns docutils' smart quotes
    off, which would print ``--overwrite`` as an en dash and ``overwrite``."""
    cli_text = _ext_module("cli_text")
    from xanesnet_sk.cli import build_parser

    text = cli_text.render_text(cli_text.reference(build_parser()))
    assert "--overwrite" in text
    assert "\u2013" not in text and "\u2014" not in text
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert re.search(r"^smartquotes = False$", conf, re.MULTILINE)


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("pydata_sphinx_theme")
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    for page in ("index.html", "cli.html", "reproducing.html", "api/index.html",
                 "api/generated/wacsf.WACSFTransformer.html", "getting_started.html",
                 "user_guide/own_data.html", "benchmarks.html", "faq.html", "citing.html",
                 "changelog.html", "auto_examples/plot_3_train_evaluate.html",
                 "auto_examples/plot_7_periodic_materials.html",
                 "auto_examples/plot_8_ensemble_error_bars.html",
                 "auto_examples/plot_9_inverse_model.html"):
        assert (out / page).is_file(), page
    # API page titles are the short names
    api_page = (out / "api/generated/wacsf.WACSFTransformer.html").read_text(encoding="utf-8")
    assert "<h1>WACSFTransformer" in api_page
    # the gallery: no object reprs printed, no figure shown twice (a figure saved again
    # after the matplotlib scraper closed it gives a byte-identical second image)
    for example in sorted((out / "auto_examples").glob("plot_*.html")):
        html = example.read_text(encoding="utf-8")
        assert "&lt;matplotlib." not in html and "[Text(" not in html, example.name
        images = sorted((out / "_images").glob(f"sphx_glr_{example.stem}_[0-9][0-9][0-9].png"))
        contents = [image.read_bytes() for image in images]
        assert len(set(contents)) == len(contents), f"{example.name} shows a figure twice"
        assert all((image.with_name(image.stem + "_2_00x.png")).is_file() for image in images)
    gallery_page = (out / "auto_examples/plot_3_train_evaluate.html").read_text(encoding="utf-8")
    assert "sphx_glr_plot_3_train_evaluate_001.png" in gallery_page   # the figures were scraped
    cli_page = (out / "cli.html").read_text(encoding="utf-8")
    assert "--overwrite" in cli_page
    # an en dash (smart quotes' "--") before an option name: a copied command would fail
    assert not re.search("(\u2013|&#8211;|&ndash;)[a-z]", cli_page)
