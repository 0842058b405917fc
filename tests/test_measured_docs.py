"""Every code block of docs/user_guide/measured.rst runs as pasted, in order, in an empty
directory: the Python blocks in one namespace, the console lines through the CLI."""

import re
import shlex
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "measured.rst"
_BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n\n((?:(?: {4}.*)?\n)+)", re.MULTILINE)


def blocks():
    """(language, code) of every code block of the page, in order."""
    text = PAGE.read_text(encoding="utf-8")
    out = []
    for lang, body in _BLOCK.findall(text):
        lines = [line[4:] for line in body.splitlines()]
        out.append((lang, "\n".join(lines).strip() + "\n"))
    return out


def test_the_page_has_python_and_console_blocks():
    langs = [lang for lang, _ in blocks()]
    assert langs.count("python") >= 4 and "console" in langs


@pytest.mark.slow
def test_measured_page_runs_as_pasted(tmp_path, monkeypatch):
    pytest.importorskip("larch")
    import matplotlib

    matplotlib.use("Agg")
    from xanesnet_sk.cli import main

    monkeypatch.chdir(tmp_path)
    namespace = {}
    for lang, code in blocks():
        if lang == "python":
            exec(compile(code, f"{PAGE.name}", "exec"), namespace)
        else:
            for line in code.splitlines():
                assert line.startswith("$ xanesnet-sk "), line
                assert main(shlex.split(line)[2:]) == 0, line
    assert Path("top_candidates.png").is_file()
    import pandas as pd

    table = pd.read_csv("screened/ranking.csv")
    assert list(table.columns[:3]) == ["rank", "name", "score"] and len(table) == 100
    # the measured complex ranks among the best few with both models
    assert namespace["result"].ranking["name"].tolist().index("synthetic_00042") < 5
    assert table["name"].tolist().index("synthetic_00042") < 5
