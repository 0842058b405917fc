"""The former home of :mod:`xanesnet_sk.analysis.plots`, kept so that old imports still work.

``import xanesnet_sk.analysis_plots`` gives a stand-in that reads, sets and
deletes its attributes on :mod:`xanesnet_sk.analysis.plots` itself, so code
that replaces a plot function here (a test's ``monkeypatch``) replaces the
one the ``xanesnet-sk`` verbs call.
"""

import sys
import types

from .analysis import plots as _plots


class _Alias(types.ModuleType):
    def __getattr__(self, name):
        return getattr(_plots, name)

    def __setattr__(self, name, value):
        setattr(_plots, name, value)

    def __delattr__(self, name):
        delattr(_plots, name)

    def __dir__(self):
        return dir(_plots)


sys.modules[__name__].__class__ = _Alias
