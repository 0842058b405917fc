"""``.. reexports:: PACKAGE``: the package's ``__all__``, each name linked to its page.

The top-level packages re-export names documented under their submodules
(``xanesnet_sk.delta_mu`` is ``xanesnet_sk.metrics.delta_mu``).  The
directive lists every name of ``PACKAGE.__all__`` with a link to the public
submodule whose ``__all__`` holds the same object, so the list cannot drift
from the code.  A name found in no public submodule is an error.
"""

import importlib

from docutils import nodes
from docutils.statemachine import StringList
from public_api import public_modules
from sphinx.util.docutils import SphinxDirective


def documented_home(package, name):
    """The public submodule of ``package`` whose ``__all__`` holds ``package.name``."""
    obj = getattr(importlib.import_module(package), name)
    for module_name in public_modules(package)[1:]:
        module = importlib.import_module(module_name)
        if name in getattr(module, "__all__", ()) and getattr(module, name, None) is obj:
            return module_name
    return None


class ReExports(SphinxDirective):
    required_arguments = 1

    def run(self):
        package = self.arguments[0]
        module = importlib.import_module(package)
        lines = []
        for name in module.__all__:
            if name.startswith("__"):
                continue
            home = documented_home(package, name)
            if home is None:
                raise self.error(f"{package}.{name} is in no public submodule's __all__: "
                                 "document it on an API page")
            lines.append(f"- :py:obj:`{package}.{name} <{home}.{name}>` "
                         f"(:py:mod:`{home}`)")
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source=package), self.content_offset, node)
        return node.children


def setup(app):
    app.add_directive("reexports", ReExports)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
