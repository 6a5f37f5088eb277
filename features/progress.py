"""Progress on a terminal for the CLI's slow steps: a ticking spinner per step, a bar per loop.

Both write to stderr only when it is a terminal (tqdm's ``disable=None``): piped or captured output,
logs and tests see nothing of them. Log lines written while a bar is shown go through tqdm, so the bar
stays on one line under them. Libraries call these only at their edges (jobs, the pipeline); pure
functions take no progress argument.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

T = TypeVar("T")
TICK_S = 0.5  # seconds between two refreshes of a running step's clock


@contextmanager
def step(desc: str) -> Iterator[None]:
    """Show ``desc`` with its running time (seconds) until the block ends; nothing when stderr is no terminal."""
    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}", disable=None, file=sys.stderr, leave=False)
    if bar.disable:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(TICK_S):
            bar.refresh()

    ticker = threading.Thread(target=tick, name=f"progress {desc}", daemon=True)
    ticker.start()
    try:
        with logging_redirect_tqdm():
            yield
    finally:
        stop.set()
        ticker.join()
        bar.close()


def progress(items: Iterable[T], desc: str, *, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Iterate `items` under a bar named `desc` (on a terminal only), log lines kept above the bar."""
    bar = tqdm(items, desc=desc, total=total, unit=unit, disable=None, file=sys.stderr, leave=False)
    if bar.disable:
        yield from bar
        return
    with logging_redirect_tqdm():
        yield from bar
