"""The former home of :mod:`xanesnet_sk.analysis.plots`, kept so that old imports still work.

``import xanesnet_sk.analysis_plots`` gives a stand-in whose public names are
those of :mod:`xanesnet_sk.analysis.plots` itself: reading, setting or
deleting one here does it there, so code that replaces a plot function here
(a test's ``monkeypatch``) replaces the one the ``xanesnet-sk`` verbs call.
"""

import sys
import types

from .analysis import plots as _plots


def _forwarded(name):
    """A data descriptor for ``name`` that reads, sets and deletes it on the plots module."""
    return property(lambda self: getattr(_plots, name),
                    lambda self, value: setattr(_plots, name, value),
                    lambda self: delattr(_plots, name))


def _getattr(self, name):
    return getattr(_plots, name)


_Alias = type("_Alias", (types.ModuleType,), {
    **{name: _forwarded(name) for name in _plots.__all__},
    "__getattr__": _getattr,
    "__dir__": lambda self: dir(_plots),
})

sys.modules[__name__].__class__ = _Alias
