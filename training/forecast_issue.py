"""Issue forecasts without training a tenant model: re-issue a champion from newer data, or one CSV series.

:func:`refresh_bundle` keeps a version's fitted models, chosen methods and interval tables and only moves
the data (a tenant refresh, not a retrain); :func:`csv_bundle` fits the one engine on a user's series.
"""

from __future__ import annotations

import logging

import pandas as pd

from features.partitioned import partition_folders
from features.series import FREQS
from features.settings import DataSettings
from training.csv_series import csv_panel
from training.forecast_bundle import ForecastBundle
from training.forecast_engine import SEASONS, series_engine
from training.forecast_parts import data_stamp, tenant_series
from training.forecast_tenant import history_frame, issue_freq
from training.temporal import align

logger = logging.getLogger(__name__)


def refresh_bundle(bundle: ForecastBundle, data: DataSettings, *, cluster: bool = True) -> ForecastBundle:
    """The bundle re-issued at the last observed period of the tenant's current data, without retraining.

    The fitted models, the methods chosen per level and the interval tables stay those of the bundle's
    version; only the data moves. Returns `bundle` itself when it has no engines (an old or CSV bundle),
    when the tenant is partitioned and `cluster` is False (the service never starts a cluster job inside a
    request: ``meterwise forecast`` re-issues it there) or the data holds nothing newer; the result is
    cached on the bundle per data fingerprint.
    """
    engines = getattr(bundle, "engines_", None)
    if not engines:
        return bundle
    partitioned = bool(partition_folders(data.data_dir))
    if partitioned and not cluster:
        logger.info("partitioned tenant: forecasts as issued by version (re-issue with `meterwise forecast`)")
        return bundle
    stamp = data_stamp(data.data_dir, partitioned=partitioned)
    cached = getattr(bundle, "_refreshed", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    found = tenant_series(data, tuple(engines))
    issued, histories, meta = [], [], {**bundle.meta_, "issued_at": {}, "data_cutoff": {}}
    for freq, engine in engines.items():
        panel = found.panels.get(freq)
        if panel is None:
            continue
        fc, _ = issue_freq(panel, freq, bundle.max_horizon_[freq], engine["selection"], 0, None, found.attrs,
                           engine["country"], model=engine["model"])  # fmt: skip
        issued.append(fc)
        histories.append(history_frame(panel, freq))
        cutoff = str(panel.index[panel.last_observed()] + pd.tseries.frequencies.to_offset(FREQS[freq]))
        meta["issued_at"][freq] = meta["data_cutoff"][freq] = cutoff
    history = pd.concat(histories, ignore_index=True)
    fresh = ForecastBundle(align(pd.concat(issued, ignore_index=True), history), history, meta)
    fresh.engines_ = engines
    bundle._refreshed = (stamp, fresh)
    logger.info("forecasts re-issued from data up to %s (no retraining)", meta["data_cutoff"])
    return fresh


def csv_bundle(df: pd.DataFrame, freq: str, horizon: int, seed: int = 0, country: str | None = None) -> ForecastBundle:
    """Train the engine on one CSV series and issue `horizon` periods (level ``input``, key ``series``)."""
    panel = csv_panel(df, freq)
    n = panel.last_observed() + 1
    if n < 3 * SEASONS[freq] + horizon:
        raise ValueError(
            f"{n} {freq} periods of history; need at least {3 * SEASONS[freq] + horizon} for horizon {horizon}"
        )
    last = panel.last_observed()
    phase = last % SEASONS[freq] if freq in {"H", "Q"} else None
    engine, _ = series_engine(panel, freq, horizon, country=country, seed=seed, issue_phase=phase)  # as backtested
    model = engine().fit(panel)
    out = model.predict(panel.extend(last + horizon + 1 - len(panel.index)), last).assign(
        level="input", key="series", freq=freq
    )
    hist = pd.DataFrame({"timestamp": panel.index[: last + 1], "y": panel.y[0, : last + 1]}).tail(4 * horizon)
    cutoff = str(panel.index[last] + pd.tseries.frequencies.to_offset(FREQS[freq]))
    return ForecastBundle(
        out,
        hist.assign(level="input", key="series", freq=freq),
        {"source": "csv", "data_cutoff": {freq: cutoff}, "issued_at": {freq: cutoff}, "holidays": country or "none"},
    )
