"""Shared test configuration.

``NUMBA_ENABLE_CUDASIM`` only counts when it is set before ``numba.cuda`` is
first imported, so it is set here, before any test module imports the CUDA
backend; ``SCIPY_ARRAY_API`` likewise before SciPy's first import.
``XANESNET_SK_DATA`` points at the real data (``../shared/data``); when it
is unset, tests that need it skip with a reason; when it is set but wrong,
they fail.  Tests that need it are marked ``data`` automatically.
Hypothesis runs with the derandomised ``ci`` profile unless
``HYPOTHESIS_PROFILE`` names another.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# scikit-learn's array-API estimator checks (CorrelationFilter) run only when SciPy
# sees this before its first import; set here so that the README's plain test
# command runs them too.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
if "numba" in sys.modules:
    # pytest imports numba before this file to resolve the warning filters in
    # pyproject.toml, so numba has read its config already: make it re-read.
    from numba.core import config as _numba_config

    _numba_config.reload_config()

import pytest  # noqa: E402

DATA_ENV = "XANESNET_SK_DATA"

# Hypothesis: the "ci" profile (the default) draws the same examples on every run
# (derandomize=True), so a red CI run is reproducible and a green one is not luck;
# HYPOTHESIS_PROFILE=dev explores new random examples on each run.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    _hypothesis_settings = None
else:
    _hypothesis_settings.register_profile("ci", derandomize=True, deadline=None,
                                          print_blob=True)
    _hypothesis_settings.register_profile("dev", deadline=None)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    """Every test that reads the real data (through ``data_root``) carries the ``data``
    marker, so ``-m 'not data'`` runs exactly the tests that need no data set."""
    import importlib.util

    no_skops = importlib.util.find_spec("skops") is None
    for item in items:
        if "data_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)
        if no_skops and item.name.startswith("xanesnet_sk.serialization"):
            item.add_marker(pytest.mark.skip(reason="skops is not installed (extra 'safe')"))


def _data_root():
    value = os.environ.get(DATA_ENV)
    if not value:
        return None
    root = Path(value)
    if not root.is_dir():
        raise RuntimeError(f"{DATA_ENV}={value!r} is set but is not a directory")
    for sub in ("fe_k_edge/xyz", "fe_k_edge/xanes", "s_k_edge/xyz", "s_k_edge/xanes"):
        if not (root / sub).is_dir():
            raise RuntimeError(f"{DATA_ENV}={value!r} has no {sub}/")
    if not (root / "tmqm_k_edge_v.npz").is_file():
        raise RuntimeError(f"{DATA_ENV}={value!r} has no tmqm_k_edge_v.npz")
    return root


@pytest.fixture(scope="session")
def data_root():
    """Root of the real data; skips the test when XANESNET_SK_DATA is unset."""
    root = _data_root()
    if root is None:
        pytest.skip(f"{DATA_ENV} is not set: real-data test skipped (see .ci/run)")
    return root
