"""Every Python code block of README.md runs as pasted, and its set-up commands are the two
the developers' guide asks for.

Each ```` ```python ```` block is written to a file of its own and run in a fresh
interpreter (a user pastes one block, not the ones above it), in an empty folder, or,
for a block that reads the real Fe set by its relative path (``fe_k_edge/``), in the
folder that holds the real data (``XANESNET_SK_DATA``), as the README says.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)\s*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def code_blocks(text, language):
    """The bodies of the fenced blocks of ``language`` in Markdown ``text``, in order."""
    return [body for lang, body in _FENCE.findall(text) if lang == language]


PYTHON_BLOCKS = code_blocks(README.read_text(encoding="utf-8"), "python")


def test_code_blocks_are_found():
    text = "intro\n```python\nprint(1)\n```\n```bash\nls\n```\n```python\nx = 2\n```\n"
    assert code_blocks(text, "python") == ["print(1)\n", "x = 2\n"]
    assert code_blocks(text, "bash") == ["ls\n"]
    assert len(PYTHON_BLOCKS) >= 4


def test_the_readme_has_the_two_set_up_commands():
    setup = "".join(code_blocks(README.read_text(encoding="utf-8"), "bash"))
    commands = [line for line in setup.splitlines() if line and not line.startswith("#")]
    assert commands[:2] == [
        "python -m pip install . && xanesnet-sk demo --output xanesnet_demo",
        'python -m pip install ".[test,cuda]" && python -m pytest -n 2',
    ]
    # .ci/run runs exactly the README's test command
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _run(code, cwd, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"README block failed:\n{code}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.parametrize(
    "index", [i for i, code in enumerate(PYTHON_BLOCKS) if "fe_k_edge/" not in code])
def test_readme_block_runs_as_pasted(index, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = _run(PYTHON_BLOCKS[index], workdir, tmp_path)
    assert out.strip(), "every README block prints what it shows"
    assert not list(workdir.iterdir()), "a README block leaves no files behind"


@pytest.mark.parametrize(
    "index", [i for i, code in enumerate(PYTHON_BLOCKS) if "fe_k_edge/" in code])
def test_readme_block_on_the_real_data_runs_in_the_data_folder(index, data_root, tmp_path):
    out = _run(PYTHON_BLOCKS[index], data_root, tmp_path)
    assert out.split()[0] == "110"
