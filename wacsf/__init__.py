"""Fast weighted atom-centred symmetry functions (wACSF) for scikit-learn.

``from wacsf import WACSFTransformer`` and drop it into a ``Pipeline``: it
turns ``ase.Atoms`` (or structure files) into G1/G2/G4 feature vectors of
absorbing sites -- one per structure, or every atom of an element -- in
molecules, clusters and periodic structures, with parallel Numba CPU kernels,
Numba CUDA kernels, and a plain NumPy reference implementation.
"""

from ._params import g2_grid, g4_expand, g4_grid
from ._readers import is_structure_file, read_structures
from ._structures import absorber_indices
from .transformer import WACSFTransformer

__version__ = "0.1.0.dev0"

__all__ = [
    "WACSFTransformer", "read_structures", "is_structure_file", "absorber_indices", "g2_grid",
    "g4_grid", "g4_expand", "__version__",
]
