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
