"""Fast LightGBM predictions: one row through the C API's single-row path, batches through compiled trees.

``Booster.predict`` builds a new predictor object on every call, which costs more than scoring one row.
LightGBM's ``LGBM_BoosterPredictForMatSingleRowFast`` keeps that set-up in a ``FastConfig`` made once per
loaded model: :class:`SingleRowPredictor` wraps it.

For batches, LightGBM walks every tree node by node through generic code (about 6 us per row for the demo
champion's 132 trees). :class:`CompiledForest` compiles the same trees to machine code with ``lleaves``
(LLVM): the same float64 thresholds, missing-value branches and objective, 10-20x faster per row. Code
generation takes seconds, so it runs in a child process at the lowest CPU priority (the serving threads
keep the GIL and the CPU during a reload) and each model text is compiled once per process.

The runtime uses either path only after admission has checked that it returns what the public
``predict`` does on the canary rows; without ``lleaves`` (or when compiling fails) batches stay on LightGBM.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)
#: Run as ``python -c COMPILE_CHILD model.txt model.o``: compiles at the lowest CPU priority, writes the object file.
COMPILE_CHILD = (
    "import os, sys; os.nice(19); import lleaves; lleaves.Model(model_file=sys.argv[1]).compile(cache=sys.argv[2])"
)


class SingleRowPredictor:
    """``predict(row)`` -> the same float as ``booster.predict(row[None, :])[0]`` (normal output).

    The FastConfig holds one output buffer, so calls are serialised by a lock (uncontended on the event
    loop, which is where one-row requests are scored).
    """

    def __init__(self, booster: Any, n_features: int):
        from lightgbm.basic import _C_API_DTYPE_FLOAT64, _C_API_PREDICT_NORMAL, _LIB, _safe_call

        self._booster = booster  # keeps the model alive as long as the config that points into it
        self._n = n_features
        self._handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_C_API_PREDICT_NORMAL),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations
                ctypes.c_int(_C_API_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                b"num_threads=1",
                ctypes.byref(self._handle),
            )
        )
        self._predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._check = _safe_call
        self._out = np.zeros(1, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._len = ctypes.c_int64()
        self._lock = threading.Lock()
        weakref.finalize(self, _LIB.LGBM_FastConfigFree, self._handle)

    def predict(self, row: np.ndarray) -> float:
        """One row of float64 features (C-contiguous, length ``n_features``)."""
        if row.dtype != np.float64 or row.size != self._n or not row.flags.c_contiguous:
            raise ValueError(f"row must be {self._n} contiguous float64 values; got {row.dtype} x {row.size}")
        with self._lock:
            self._check(
                self._predict(self._handle, row.ctypes.data_as(ctypes.c_void_p), ctypes.byref(self._len), self._out_ptr)
            )
            return float(self._out[0])


class CompiledForest:
    """``predict(X)`` -> the same values as ``booster.predict(X)`` (normal output), from trees compiled by
    ``lleaves``. Thread-safe: each call writes its own output array (the compiled code drops the GIL)."""

    def __init__(self, model_text: str):
        import lleaves  # optional at import time: the runtime falls back to LightGBM without it

        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="meterwise-lleaves-") as tmp:
            path, obj = Path(tmp) / "model.txt", Path(tmp) / "model.o"
            path.write_text(model_text)
            # code generation (seconds, mostly Python holding the GIL) runs in a child process, so that the
            # server's event loop keeps answering during a reload; here the object file is only loaded
            subprocess.run(
                [sys.executable, "-c", COMPILE_CHILD, str(path), str(obj)], check=True, capture_output=True, timeout=600
            )
            model = lleaves.Model(model_file=str(path))
            model.compile(cache=str(obj))
        self._model = model
        self.n_features = int(model.num_feature())
        logger.info("compiled %d trees in %.2fs", model.num_trees(), time.perf_counter() - start)

    def predict(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """Predictions for the float64 rows of `X` (n, n_features); `threads` > 1 splits the rows."""
        return self._model.predict(np.ascontiguousarray(X, dtype=np.float64), n_jobs=max(1, threads))


@functools.lru_cache(maxsize=4)
def _compiled(model_text: str) -> CompiledForest:
    """One compilation per model text in this process: a reload back to a recent version costs nothing
    (compiling the demo champion takes 1-2 s, mostly with the GIL held)."""
    return CompiledForest(model_text)


def compile_forest(booster: Any) -> CompiledForest | None:
    """The booster's compiled trees, or None (``lleaves`` missing, or a model it cannot compile)."""
    try:
        return _compiled(booster.model_to_string())
    except ImportError:
        logger.info("lleaves is not installed: batches are scored by LightGBM's predict")
    except Exception as err:  # an unsupported model feature: keep LightGBM
        logger.warning("could not compile the trees (%s: %s); batches use LightGBM", type(err).__name__, err)
    return None
