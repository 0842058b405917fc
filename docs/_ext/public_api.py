"""Which modules are public: the one definition the docs extensions and tests/test_docs.py
share (no Sphinx import, so the tests can use it without building the docs)."""

import importlib
import pkgutil


def public_modules(package):
    """Public (no underscore in any part) modules of ``package``, the package first."""
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names
