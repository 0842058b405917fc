"""Sphinx configuration of the xanesnet-sk documentation.

Build (warnings are errors)::

    python -m pip install ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

The gallery (``examples/``) runs on the embedded synthetic data, or on the
small real sets when ``XANESNET_SK_DATA`` names their directory.
"""

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))   # cli_reference, reexports, gallery_figures
sys.path.insert(0, str(ROOT))            # build from a checkout without installing

import wacsf  # noqa: E402

project = "xanesnet-sk"
author = "xanesnet-sk developers"
copyright = "xanesnet-sk developers, MIT licence"
release = wacsf.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 copied into the build (_static/mathjax): formulas render offline too
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "cli_reference",
    "sphinx_gallery.gen_gallery",
    "reexports",
    # CHANGELOG.md (repository root) is included by changelog.rst
    "myst_parser",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
default_role = "code"
# No smart quotes: docutils would print "--overwrite" as an en dash and "overwrite",
# and a command copied from the page would fail (tests/test_docs.py checks).
smartquotes = False

# ---------------------------------------------------------------- autodoc / autosummary
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"
autodoc_default_options = {"member-order": "bysource"}
# The docstrings are numpydoc; the class pages list their methods through
# _templates/autosummary/class.rst, so numpydoc does not add member tables.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_show_inherited_class_members = False

# ---------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"xanesnet-sk {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {page: [] for page in ("index", "installation", "getting_started",
                                       "reproducing", "cli", "benchmarks", "faq", "citing",
                                       "changelog")}

# ---------------------------------------------------------------- gallery
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "within_subsection_order": "FileNameSortKey",
    # xanesnet_sk.plots builds Figures without pyplot; gallery_figures finds them.  It
    # runs first: the matplotlib scraper closes pyplot's figures, and a closed one
    # would look pyplot-free to it.
    "image_scrapers": ("gallery_figures.figure_scraper", "matplotlib"),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "show_memory": False,
    "remove_config_comments": True,
    "capture_repr": ("_repr_html_", "__repr__"),
    # a block ending in ax.legend(...) or fig.colorbar(...) prints no object repr
    "ignore_repr_types": r"matplotlib\.(text|legend|colorbar|axes|image|lines|collections|figure)",
    "min_reported_time": 1,
    "write_computation_times": True,
    "default_thumb_file": None,
    # every figure also at twice the resolution, for high-DPI screens
    "image_srcset": ["2x"],
}

# Examples run in this process: no window, quiet numba, fixed threads.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")
warnings.filterwarnings("ignore", message=".*repeats an atom line of the structure above it")
