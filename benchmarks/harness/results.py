"""Write a benchmark's JSON with its gates, and exit non-zero when one fails.

Every benchmark ends with :func:`finish`: the gates are computed from the run's own live samples and
passed as ``{name: passed}``; the JSON carries ``gates`` (each with its verdict) and ``gates_failed`` (a
list, empty when all pass), and the process exits with status 1 when the list is not empty.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value


def failed_gates(gates: Mapping[str, bool]) -> list[str]:
    """Names of the gates that did not pass (``None``, a NaN comparison or any falsy verdict fails)."""
    return [name for name, passed in gates.items() if not bool(passed)]


def write_result(
    name: str, result: Mapping[str, Any], gates: Mapping[str, bool], *, path: Path | None = None
) -> list[str]:
    """Write ``benchmarks/results/<name>.json`` (or `path`) with ``gates`` and ``gates_failed``; returns the failed."""
    failed = failed_gates(gates)
    payload = {**_jsonable(dict(result)), "gates": {k: bool(v) for k, v in gates.items()}, "gates_failed": failed}
    out = path or RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str, allow_nan=False) + "\n")
    return failed


def finish(name: str, result: Mapping[str, Any], gates: Mapping[str, bool], *, path: Path | None = None) -> None:
    """:func:`write_result`, then exit 1 when a gate failed (naming it on stderr), else return."""
    failed = write_result(name, result, gates, path=path)
    if failed:
        logger.error("%s: %d gate(s) failed: %s", name, len(failed), ", ".join(failed))
        sys.exit(1)
    logger.info("%s: all %d gates passed", name, len(gates))
