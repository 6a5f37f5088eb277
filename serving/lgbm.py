"""One-row LightGBM predictions through the C API's fast single-row path (no per-call predictor set-up).

``Booster.predict`` builds a new predictor object on every call, which costs more than scoring one row.
LightGBM's ``LGBM_BoosterPredictForMatSingleRowFast`` keeps that set-up in a ``FastConfig`` made once per
loaded model. :class:`SingleRowPredictor` wraps it; the runtime uses it only after admission has checked
that it returns exactly what the public ``predict`` does on the canary rows.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import numpy as np


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
