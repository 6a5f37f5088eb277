"""The resource sampler reads only a running process: a stopped or dying one raises instead of giving figures."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from harness.sampler import ProcessGone, Sampler

GROW = (  # 400 MiB, 1 MiB every 5 ms, then idle
    "import time\nkept = []\nfor _ in range(400):\n    kept.append(bytearray(1 << 20)); time.sleep(0.005)\n"
    "time.sleep(60)\n"
)


def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_growth_is_seen_and_the_last_sample_is_of_the_running_process():
    proc = _child(GROW)
    try:
        with Sampler(proc.pid, every_s=0.05) as sampler:
            time.sleep(3.0)
        growth = sampler.growth()
    finally:
        proc.kill()
        proc.wait()
    assert growth["rss_end_mib"] - growth["rss_start_mib"] > 100  # ~400 MiB allocated while sampled
    assert all(s.rss_mib > 0 for s in sampler.samples)


def test_stopping_after_the_process_exited_raises_instead_of_reporting():
    proc = _child("import time; time.sleep(60)")
    sampler = Sampler(proc.pid, every_s=0.05)
    sampler.start()
    time.sleep(0.3)
    proc.kill()  # the server is stopped before the sampler: the race this module closes
    proc.wait()
    time.sleep(0.2)
    with pytest.raises(ProcessGone):
        sampler.stop()
    with pytest.raises(ProcessGone):
        sampler.growth()


@pytest.mark.parametrize("reaped", [False, True], ids=["zombie", "reaped"])
def test_no_sample_is_taken_of_an_exited_process(reaped):
    proc = _child("import time; time.sleep(0.3)")
    sampler = Sampler(proc.pid)
    assert sampler.read().rss_mib > 0
    if reaped:
        proc.wait()
    else:  # exited, not yet reaped: a zombie whose figures are those of a dead process
        deadline = time.monotonic() + 10
        while sampler.proc.status() != "zombie" and time.monotonic() < deadline:
            time.sleep(0.05)
    with pytest.raises(ProcessGone):
        sampler.read()
    proc.wait()
