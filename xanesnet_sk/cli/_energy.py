"""When a spectrum's energy grid is the model's: one rule for ``evaluate`` and
``predict --inverse``.

Energies are absolute (7 keV and more) or relative to the edge; a relative
tolerance would accept a shift of 0.07 eV at 7 keV, so the tolerance is
absolute, in eV: a tenth of the model's grid step (0.033 eV on XANESNET's
1/3 eV grid), enough for energies written with two decimals, small against
the step.
"""

import numpy as np

__all__ = ["GRID_TOLERANCE", "grid_tolerance", "grid_mismatch"]


#: Two energy grids agree when every point is within this fraction of the grid step.
GRID_TOLERANCE = 0.1


def grid_tolerance(energies):
    """The largest gap (eV) between a point of a spectrum's grid and the model's grid's
    that still counts as the same point: :data:`GRID_TOLERANCE` times the grid's median
    step; an absolute tolerance, the same at 7 keV as at the edge."""
    energies = np.asarray(energies, dtype=float).reshape(-1)
    step = float(np.median(np.abs(np.diff(energies)))) if energies.size > 1 else 1.0
    return GRID_TOLERANCE * step


def grid_mismatch(ours, theirs):
    """None when the grid ``ours`` is the model's grid ``theirs`` (same size, every point
    within :func:`grid_tolerance`), else a text saying where they differ."""
    ours = np.asarray(ours, dtype=float).reshape(-1)
    theirs = np.asarray(theirs, dtype=float).reshape(-1)
    if ours.size != theirs.size:
        return (f"{ours.size} energy points on [{ours[0]:g}, {ours[-1]:g}] eV, but the model "
                f"was trained on {theirs.size} points on [{theirs[0]:g}, {theirs[-1]:g}] eV")
    gap = np.abs(ours - theirs)
    tolerance = grid_tolerance(theirs)
    if np.all(gap <= tolerance):
        return None
    k = int(np.argmax(gap))
    return (f"the energy grid ({ours[0]:g} to {ours[-1]:g} eV) is not the model's "
            f"({theirs[0]:g} to {theirs[-1]:g} eV; point {k}: {ours[k]:.6g} vs "
            f"{theirs[k]:.6g} eV, {gap[k]:.3g} eV apart, more than {tolerance:.3g} eV)"
            f"{_relative_hint(ours, theirs)}")


def _relative_hint(ours, theirs):
    rel_ours, rel_theirs = ours.min() < 0, theirs.min() < 0
    if rel_ours == rel_theirs:
        return ""
    which = ("the data's", "the model's") if rel_ours else ("the model's", "the data's")
    return f"; {which[0]} energies are relative to the edge, {which[1]} absolute"
