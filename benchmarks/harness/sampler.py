"""Resource samples (RSS, open files, threads) of a *running* server process, never of a dying one.

The race this module closes: a sampler thread that outlives the server reads a process that is
shutting down (RSS falling to 0, files closed) and reports those as the run's end figures. Here

- a sample is kept only when the process is running (not a zombie, not exited) both before and after
  it is read, and no sample is taken once :meth:`Sampler.stop` has been called;
- :meth:`Sampler.stop` takes the final sample itself, from the still-running process, and raises when
  the process has already gone (so a caller that stops the server first gets an error, not a figure);
- a process that exits while being sampled marks the sampler ``lost``; its figures raise instead of
  being reported.

Use it inside the server's lifetime: ``with served(env) as (proc, base), Sampler(proc.pid) as s: ...``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Sample:
    """One reading of a running process: seconds since sampling began, RSS (MiB), open fds, threads."""

    t_s: float
    rss_mib: float
    fds: int
    threads: int


class ProcessGone(RuntimeError):
    """The sampled process exited (or was never running): its last readings are not figures of a server."""


class Sampler(threading.Thread):
    """Sample a process every `every_s` seconds while it runs; ``with Sampler(pid) as s:`` starts and stops it."""

    def __init__(self, pid: int, every_s: float = 1.0):
        super().__init__(daemon=True)
        self.proc, self.every_s = psutil.Process(pid), every_s
        self.samples: list[Sample] = []
        self.lost = False
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.t0 = time.monotonic()

    def _alive(self) -> bool:
        try:
            return self.proc.is_running() and self.proc.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
        except psutil.Error:
            return False

    def read(self) -> Sample:
        """One sample of the running process; raises :class:`ProcessGone` if it is not running."""
        if not self._alive():
            raise ProcessGone(f"pid {self.proc.pid} is not running")
        try:
            with self.proc.oneshot():
                s = Sample(
                    time.monotonic() - self.t0,
                    self.proc.memory_info().rss / 2**20,
                    self.proc.num_fds(),
                    self.proc.num_threads(),
                )
        except psutil.Error as err:
            raise ProcessGone(f"pid {self.proc.pid}: {err}") from err
        if not self._alive():  # it died while being read: the reading may be of a dying process
            raise ProcessGone(f"pid {self.proc.pid} exited while sampled")
        return s

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                s = self.read()
            except ProcessGone:
                self.lost = True
                return
            with self._lock:
                if self._halt.is_set():  # stop() was called while reading: the final sample is stop()'s
                    return
                self.samples.append(s)
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        """Stop sampling and take the final sample from the running process (raises if it is gone)."""
        with self._lock:
            self._halt.set()
        if self.is_alive():
            self.join(10)
        if self.lost:
            raise ProcessGone(f"pid {self.proc.pid} exited during sampling")
        self.samples.append(self.read())

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.stop()
        else:  # already failing: just end the thread
            self._halt.set()
            self.join(10)

    def growth(self, from_s: float = 0.0) -> dict[str, float]:
        """RSS growth (%) from the first sample at or after `from_s` to the last; fds and threads at both ends."""
        if self.lost:
            raise ProcessGone(f"pid {self.proc.pid} exited during sampling; its figures are not a server's")
        later = [s for s in self.samples if s.t_s >= from_s] or self.samples
        if len(later) < 2:
            raise ValueError(f"{len(later)} sample(s) after {from_s} s; need at least 2 for a growth figure")
        first, last = later[0], later[-1]
        return {
            "rss_start_mib": round(first.rss_mib, 1),
            "rss_end_mib": round(last.rss_mib, 1),
            "rss_growth_pct": round(100 * (last.rss_mib - first.rss_mib) / first.rss_mib, 2),
            "fds_start": first.fds,
            "fds_end": last.fds,
            "threads_start": first.threads,
            "threads_end": last.threads,
            "samples": len(later),
        }

    def peak_mib(self) -> float:
        """Highest RSS (MiB) seen."""
        if not self.samples:
            raise ValueError("no samples")
        return max(s.rss_mib for s in self.samples)

    def latest_mib(self) -> float:
        """RSS (MiB) of the latest sample."""
        if not self.samples:
            raise ValueError("no samples")
        return self.samples[-1].rss_mib
