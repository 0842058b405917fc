"""Every Python example of the documentation runs as printed.

The pages are ``docs/*.rst`` and ``docs/user_guide/*.rst``.  Their Python
examples are the ``.. code-block:: python`` directives; the blocks of one page
run in order in one fresh Python process (one session, as a reader pastes
them one after another), in an empty working directory.  A plain ``::``
literal block must not hold Python code: write Python as a ``code-block`` so
that it is tested.

A block that cannot run here on purpose (it needs a cluster, a GPU or files
the reader brings) carries the option ``:class: no-test``; keep those few,
and say in the text around them why.

Pages whose examples read ``XANESNET_SK_DATA`` (the real data) run with it,
marked ``data``; pages that fall back to data the package makes
(``make_synthetic_xanes``) when it is unset (``os.environ.get``) run both
ways; the others run with it unset, as a reader without the data would.
The snippets keep themselves fast (few samples, few epochs: what the reader
pastes is what runs here).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in [*DOCS.glob("*.rst"), *(DOCS / "user_guide").glob("*.rst")]
               if p.name != "sg_execution_times.rst")   # written by sphinx-gallery
NO_TEST = "no-test"

_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\S+)\s*$")
_OPTION = re.compile(r"^\s*:(\w[\w-]*):\s*(.*)$")


def _indented_block(lines, start, margin):
    """The lines from ``start`` indented deeper than ``margin`` (blank lines kept inside),
    dedented; and the index after the block."""
    body, i = [], start
    while i < len(lines) and (not lines[i].strip() or
                              len(lines[i]) - len(lines[i].lstrip()) > margin):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    indent = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
    return [line[indent:] for line in body], i


def code_blocks(text):
    """``(language, options, code, line)`` of every code-block directive of a page."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            i += 1
            continue
        margin, language, line = len(match[1]), match[2], i + 1
        i += 1
        options = {}
        while i < len(lines) and (option := _OPTION.match(lines[i])):
            options[option[1]] = option[2].strip()
            i += 1
        body, i = _indented_block(lines, i, margin)
        blocks.append((language, options, "\n".join(body) + "\n", line))
    return blocks


def literal_blocks(text):
    """``(code, line)`` of every plain ``::`` literal block (not a directive's)."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            margin = len(line) - len(line.lstrip())
            body, _ = _indented_block(lines, i + 1, margin)
            if body:
                blocks.append(("\n".join(body) + "\n", i + 1))
    return blocks


def python_snippets(page):
    """The runnable Python blocks of ``page`` in order, each with its line number."""
    return [(code, line) for language, options, code, line
            in code_blocks(page.read_text(encoding="utf-8"))
            if language in ("python", "python3")
            and NO_TEST not in options.get("class", "").split()]


def _data_use(page):
    """``"none"``, ``"optional"`` (``os.environ.get("XANESNET_SK_DATA")``: a fallback
    without the data) or ``"required"``."""
    code = "".join(code for code, _ in python_snippets(page))
    if '.get("XANESNET_SK_DATA")' in code:
        return "optional"
    return "required" if "XANESNET_SK_DATA" in code else "none"


def _script(page):
    """One script running the page's blocks in order, each announced on stderr so that a
    failure names its block."""
    parts = ["import sys"]
    for code, line in python_snippets(page):
        parts.append(f"print('--- {page.relative_to(ROOT)}:{line}', file=sys.stderr, "
                     "flush=True)")
        parts.append(code)
    return "\n".join(parts) + "\n"


def _run(page, tmp_path, data):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    if not data:
        env.pop("XANESNET_SK_DATA", None)
    script = tmp_path / "snippets.py"
    script.write_text(_script(page), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run([sys.executable, str(script)], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"a Python example of {page.relative_to(ROOT)} fails as printed "
        f"(the last '---' line names its block):\n{result.stderr[-5000:]}")


def test_pages_are_found_and_parsed():
    names = {page.relative_to(DOCS).as_posix() for page in PAGES}
    assert {"index.rst", "getting_started.rst", "user_guide/own_data.rst"} <= names
    blocks = python_snippets(DOCS / "getting_started.rst")
    assert len(blocks) >= 5
    assert blocks[0][0].startswith("from xanesnet_sk import make_synthetic_xanes")


def test_code_block_parser():
    text = ("Text::\n\n   layout/\n      a.xyz\n\n"
            ".. code-block:: python\n   :class: no-test\n\n   run_on_cluster()\n\n"
            ".. code-block:: python\n\n   x = 1\n\n   y = x + 1\n\nAfter.\n\n"
            "   .. code-block:: bash\n\n      ls\n")
    blocks = code_blocks(text)
    assert [(lang, opts) for lang, opts, _, _ in blocks] == [
        ("python", {"class": "no-test"}), ("python", {}), ("bash", {})]
    assert blocks[1][2] == "x = 1\n\ny = x + 1\n"
    assert blocks[2][2] == "ls\n"
    assert literal_blocks(text) == [("layout/\n   a.xyz\n", 1)]


def test_few_blocks_are_left_untested():
    """The ``no-test`` marker is kept for what truly cannot run here."""
    skipped = [(page.name, line) for page in PAGES
               for language, options, _, line in code_blocks(page.read_text(encoding="utf-8"))
               if language.startswith("python") and NO_TEST in options.get("class", "")]
    assert len(skipped) <= 3, skipped


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_no_python_in_plain_literal_blocks(page):
    """Python goes in ``code-block:: python`` (tested), not in a plain ``::`` block."""
    for code, line in literal_blocks(page.read_text(encoding="utf-8")):
        try:
            compile(code, f"{page.name}:{line}", "exec")
        except SyntaxError:
            continue                          # a folder layout, a table, output
        assert not re.search(r"^(import |from \S+ import )|\w\(", code, re.MULTILINE), (
            f"{page.relative_to(ROOT)}:{line} holds Python in a plain '::' block; write it "
            "as '.. code-block:: python' so that tests/test_doc_snippets.py runs it")


#: Pages whose examples start a Dask LocalCluster (worker processes: about 30 s on two
#: cores): run with -m slow.
SLOW_PAGES = {"faq.rst", "user_guide/scaling.rst"}


def _params(pages):
    return [pytest.param(p, id=p.relative_to(DOCS).as_posix(),
                         marks=[pytest.mark.slow] if p.relative_to(DOCS).as_posix() in SLOW_PAGES
                         else [])
            for p in pages]


_PLAIN = [p for p in PAGES if python_snippets(p) and _data_use(p) != "required"]
_DATA = [p for p in PAGES if python_snippets(p) and _data_use(p) != "none"]


@pytest.mark.parametrize("page", _params(_PLAIN))
def test_page_examples_run(page, tmp_path):
    _run(page, tmp_path, data=False)


@pytest.mark.data
@pytest.mark.parametrize("page", _params(_DATA))
def test_page_examples_run_on_the_real_data(page, tmp_path, data_root):
    _run(page, tmp_path, data=True)
