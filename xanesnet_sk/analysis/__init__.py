"""What the model uses: feature importance, feature selection and wACSF studies.

Each analysis of section III of the XANESNET paper [1]_ is one function that
returns data (a tidy :class:`pandas.DataFrame`, or a dict of them) and is
built directly on scikit-learn:

- :func:`permutation_importance_table` -- ``sklearn.inspection.permutation_importance``
  with Delta mu scorers over the whole spectrum and over energy windows
  (Figs. 8 and 9); :func:`window_difference` gives Fig. 9's difference.
- :func:`variance_sweep` -- performance against the share of features a
  ``VarianceThreshold`` removes, by ``cross_val_score`` with ``RepeatedKFold``
  (Fig. 6).
- :func:`select_from_model_curve` -- performance against the number of most
  important features kept, by ``SelectKBest`` on a fixed importance ranking
  (Fig. 10).
- :func:`sequential_selection` -- ``SequentialFeatureSelector`` forward or
  backward, with the score of every step of its path.
- :func:`wacsf_search` -- ``GridSearchCV`` over the ``WACSFTransformer``
  inside a pipeline; :data:`WACSF_STUDIES` holds the grids of Figs. 3-5.

The plots are in :mod:`xanesnet_sk.analysis.plots`, the command-line verbs in
``xanesnet_sk.cli._analysis``.  Every function takes any scikit-learn
regressor or pipeline (the XANESNET pipeline, or a ``Ridge`` for a quick
look); when the pipeline starts with a ``WACSFTransformer``, structures are
featurised once and the analyses of features run on the rest of it.

Scores follow scikit-learn's "greater is better": the default scorer is the
negative median Delta mu (%) over the spectra of a test fold.  Relative
performance is ``100 * (score - reference) / |reference|`` in %, so a
penalty is negative, as plotted in the paper.

Long runs take ``csv_path``: a row is appended to that CSV as soon as each
step finishes, so an interrupted run keeps everything it finished.

References
----------
.. [1] C. D. Rankine and T. J. Penfold, "Accurate, affordable, and
   generalizable machine learning simulations of transition metal x-ray
   absorption spectra using the XANESNET deep neural network",
   J. Chem. Phys. 156, 164102 (2022).
"""

from ._common import parse_feature_names, relative_performance
from ._importance import (
    DEFAULT_WINDOWS,
    permutation_importance_table,
    radial_distances,
    window_difference,
)
from ._sequential import sequential_selection
from ._sweeps import WACSF_STUDIES, select_from_model_curve, variance_sweep, wacsf_search

__all__ = [
    "DEFAULT_WINDOWS",
    "WACSF_STUDIES",
    "parse_feature_names",
    "permutation_importance_table",
    "window_difference",
    "radial_distances",
    "variance_sweep",
    "select_from_model_curve",
    "sequential_selection",
    "wacsf_search",
    "relative_performance",
]
