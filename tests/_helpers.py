"""Helpers shared by several test modules (imported as ``_helpers``; not a test module)."""


def error_line(capsys):
    """The one line a failed CLI run printed on stderr (asserting it is one line, no traceback)."""
    err = capsys.readouterr().err.strip()
    assert err, "no error message on stderr"
    assert "\n" not in err, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    return err


class InterruptAfter:
    """Make XANESNetModule's forward pass raise KeyboardInterrupt at its ``n``-th call."""

    def __init__(self, monkeypatch, n):
        from xanesnet_sk.model import XANESNetModule

        self.calls, original = 0, XANESNetModule.forward

        def forward(module, X):
            self.calls += 1
            if self.calls == n:
                raise KeyboardInterrupt
            return original(module, X)

        monkeypatch.setattr(XANESNetModule, "forward", forward)


def clusters_by_neighbour_count(seed, max_neighbours=33, r_cut=6.0):
    """Absorber-centred clusters with 0, 1, ..., ``max_neighbours`` atoms within
    ``r_cut`` (0.8 A to 0.98 r_cut from the absorber, at index 0) and three more
    just beyond it: every remainder of 4, 8 and 16 vector lanes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    clusters = []
    for n in range(max_neighbours + 1):
        inside = rng.normal(size=(n, 3))
        radii = rng.uniform(0.8, 0.98 * r_cut, size=(n, 1))
        inside *= radii / np.linalg.norm(inside, axis=1, keepdims=True)
        outside = 1.08 * r_cut * np.eye(3)
        clusters.append(np.vstack([[0.0, 0.0, 0.0], inside, outside]))
    return clusters
