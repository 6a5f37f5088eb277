"""Progress bars show on a terminal only, and never change what the wrapped work returns."""

from __future__ import annotations

import io
import sys

from features.progress import progress, step


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_nothing_is_written(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with step("train arrears"):
        pass
    assert list(progress(range(3), "steps")) == [0, 1, 2]
    assert err.getvalue() == ""


def test_on_a_terminal_the_step_and_the_loop_are_shown(monkeypatch):
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with step("train arrears"):
        pass
    assert list(progress(range(3), "meterwise demo", unit="step")) == [0, 1, 2]
    assert "train arrears" in err.getvalue() and "meterwise demo" in err.getvalue()
