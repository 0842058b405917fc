"""The ``xanesnet-sk`` command line.

Verbs::

    xanesnet-sk demo       end-to-end run on built-in synthetic data (start here)
    xanesnet-sk featurise  wACSF of xyz structures -> .npz / .csv
    xanesnet-sk learn      fit the XANESNET pipeline, save it (joblib + JSON sidecar)
    xanesnet-sk validate   repeated k-fold cross-validation: delta mu per fold
    xanesnet-sk predict    spectra (and plots) of new structures from a saved model
    xanesnet-sk evaluate   delta mu / delta E tables and plots of a saved model on data

``xanesnet-sk VERB --help`` documents each verb's options.  Every verb takes
``--quiet``.  A failure exits with a non-zero status and one line on stderr
(``--traceback`` shows the full traceback instead).  Exit statuses: 0 success,
1 failure, 2 bad command line, 130 interrupted (Ctrl-C, also while the
command line is still loading: no model or table is saved; ``learn
--save-on-interrupt`` saves one marked as interrupted), 143 terminated
(SIGTERM, cleaned up as for Ctrl-C).  Outputs are written under temporary
names (``.NAME.partial-PID.EXT``) and renamed into place on success; a
failed, interrupted or terminated run removes its temporary files and the
directories it created that stayed empty, and a later run removes the
temporary files of the names it writes left by runs that were killed
outright.  Existing files are replaced only with ``--overwrite``.  A sample's
name (its output files' name) is its structure file's stem.  Model files are
joblib pickles (loading one runs code) unless written as ``.skops`` (the safe
format); each has its own JSON sidecar, ``MODEL.json`` (``model.joblib.json``,
``model.skops.json``; older models' ``model.json`` is still read).

Layout: ``_main`` holds the parser and :func:`main`; one module per group
of verbs registers and runs them (``_demo``, ``_featurise``, ``_fit`` for
learn and validate, ``_apply`` for predict and evaluate, ``_analysis``); the
shared pieces are ``_common`` (reporting, options, safe outputs), ``_data``
(data and model files), ``_training`` (fitting, the featuriser split),
``_report`` (tables), ``_progress`` and ``_dask``.  The modules import one
way: a verb's module imports the shared ones, never another verb's that
imports it back (``tests/test_cli_layout.py`` checks).  The library never
imports this package.
"""

from ._main import build_parser, main

__all__ = ["main", "build_parser"]
