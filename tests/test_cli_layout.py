"""The layout of the ``xanesnet_sk.cli`` package: a one-way import graph, no stand-in modules."""

import ast
import importlib.util
from pathlib import Path

import xanesnet_sk.cli

CLI = Path(xanesnet_sk.cli.__file__).parent
PACKAGE = "xanesnet_sk.cli"


def _imported_cli_modules(path):
    """The ``xanesnet_sk.cli`` modules that the module at ``path`` imports, anywhere in it
    (function bodies included), as module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from . import x / from ._x import y
                base = PACKAGE + (f".{node.module}" if node.module else "")
            elif node.level == 0 and node.module and node.module.startswith(PACKAGE):
                base = node.module
            else:
                continue
            if base == PACKAGE:  # from . import _x: the names are modules
                found.update(f"{PACKAGE}.{alias.name}" for alias in node.names)
            else:
                found.add(base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE + "."))
    return found


def cli_import_graph():
    """{module: set of cli modules it imports}, for every module of the package."""
    graph = {}
    for path in sorted(CLI.glob("*.py")):
        name = PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"
        graph[name] = _imported_cli_modules(path) - {name}
    return graph


def find_cycle(graph):
    """One import cycle of ``graph`` as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cli_modules_import_one_way():
    graph = cli_import_graph()
    assert f"{PACKAGE}._fit" in graph and f"{PACKAGE}._apply" in graph[PACKAGE + "._main"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle among the CLI modules: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None  # a diamond


def test_function_level_imports_count(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ._fit import x\n    from . import _data\n"
                      "    import xanesnet_sk.cli._apply\n    from ..io import y\n")
    assert _imported_cli_modules(module) == {f"{PACKAGE}._fit", f"{PACKAGE}._data",
                                             f"{PACKAGE}._apply"}


def test_the_old_analysis_plots_stand_in_is_gone():
    package = CLI.parent
    assert not (package / "analysis_plots.py").exists()
    assert (package / "analysis" / "plots.py").is_file()
    assert importlib.util.find_spec("xanesnet_sk.analysis.plots") is not None
    users = [path for folder in (package, package.parent / "tests")
             for path in folder.rglob("*.py")
             if path.name != Path(__file__).name
             and "analysis_plots" in path.read_text(encoding="utf-8")]
    assert users == []
