"""Human-readable segment names from centroids (pure).

A name lists what stands out in a centroid, most telling first: the season (winter / summer ratio of
the annual shape), the level (against the fitted population's tertiles), the week (weekend / weekday
ratio) and, with a 24-hour shape, the time of day. Example: ``"winter peak, high use, weekend-heavy"``.
Thresholds are fixed (not relative to the fit) so a name means the same thing across retrains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INSUFFICIENT = "insufficient data"

WINTER, SUMMER = (
    ("shape_month_12", "shape_month_01", "shape_month_02"),
    ("shape_month_06", "shape_month_07", "shape_month_08"),
)
WEEKEND, WEEKDAY = (
    ("shape_dow_sat", "shape_dow_sun"),
    ("shape_dow_mon", "shape_dow_tue", "shape_dow_wed", "shape_dow_thu", "shape_dow_fri"),
)
NIGHT = tuple(f"shape_hour_{h:02d}" for h in range(0, 6))
DAYTIME = tuple(f"shape_hour_{h:02d}" for h in range(9, 16))
EVENING = tuple(f"shape_hour_{h:02d}" for h in range(17, 22))

# (lower bound of the winter/summer ratio, word); the first bound the ratio reaches wins
SEASON_WORDS = ((1.6, "winter heating"), (1.15, "winter peak"), (0.9, "flat"), (0.0, "summer peak"))
LEVEL_WORDS = ("low use", "medium use", "high use")


def _mean(frame: pd.DataFrame, cols: tuple[str, ...]) -> np.ndarray | None:
    return frame[list(cols)].mean(axis=1).to_numpy() if all(c in frame.columns for c in cols) else None


def describe_centroids(centroids: pd.DataFrame, level_edges: np.ndarray | None) -> list[str]:
    """One name per centroid row (centroids in feature units: ratios and ``level_log1p_kwh``)."""
    n = len(centroids)
    parts: list[list[str]] = [[] for _ in range(n)]
    winter, summer = _mean(centroids, WINTER), _mean(centroids, SUMMER)
    if winter is not None:
        ratio = winter / summer
        for i in range(n):
            parts[i].append(next(word for bound, word in SEASON_WORDS if ratio[i] >= bound))
    if level_edges is not None and "level_log1p_kwh" in centroids.columns:
        band = np.searchsorted(level_edges, centroids["level_log1p_kwh"].to_numpy(), side="right")
        for i in range(n):
            parts[i].append(LEVEL_WORDS[band[i]])
    weekend, weekday = _mean(centroids, WEEKEND), _mean(centroids, WEEKDAY)
    if weekend is not None:
        ratio = weekend / weekday
        for i in range(n):
            if ratio[i] >= 1.1:
                parts[i].append("weekend-heavy")
            elif ratio[i] <= 0.95:
                parts[i].append("weekday-heavy")
    night, day, evening = _mean(centroids, NIGHT), _mean(centroids, DAYTIME), _mean(centroids, EVENING)
    if night is not None:
        for i in range(n):
            if day[i] >= 1.15:
                parts[i].append("daytime")
            elif evening[i] >= 1.5:
                parts[i].append("evening peak")
            elif night[i] >= 1.0:
                parts[i].append("night use")
    return [", ".join(p) if p else f"segment {i}" for i, p in enumerate(parts)]


def unique_names(kept: list[str | None], generated: list[str]) -> list[str]:
    """Kept (matched) names where given, else the generated one, made unique with a ``" #2"`` suffix.

    Kept names are reserved first, so a fresh name never takes a matched cluster's name.
    """
    used = {k for k in kept if k is not None}
    out = []
    for keep, gen in zip(kept, generated, strict=True):
        if keep is not None:
            out.append(keep)
            continue
        name, i = gen, 2
        while name in used or name == INSUFFICIENT:
            name, i = f"{gen} #{i}", i + 1
        used.add(name)
        out.append(name)
    return out


def segment_profiles(
    centroids: pd.DataFrame, sizes: dict[str, int], members: pd.DataFrame | None = None
) -> pd.DataFrame:
    """A readable profile per segment from its centroid (and its members' shapes when given).

    Columns: ``segment_name``, ``customers``, ``kwh_per_day``, ``winter_summer_ratio``,
    ``weekend_weekday_ratio``, ``peak_hour`` (with a 24-hour shape), ``temp_slope_hdd_median`` (members'),
    ``description``.
    """
    out = pd.DataFrame(index=centroids.index)
    out["customers"] = [int(sizes.get(n, 0)) for n in centroids.index]
    out["kwh_per_day"] = np.expm1(centroids["level_log1p_kwh"]) if "level_log1p_kwh" in centroids.columns else np.nan
    winter, summer = _mean(centroids, WINTER), _mean(centroids, SUMMER)
    out["winter_summer_ratio"] = winter / summer if winter is not None else np.nan
    weekend, weekday = _mean(centroids, WEEKEND), _mean(centroids, WEEKDAY)
    out["weekend_weekday_ratio"] = weekend / weekday if weekend is not None else np.nan
    hours = [c for c in centroids.columns if c.startswith("shape_hour_")]
    out["peak_hour"] = centroids[hours].to_numpy().argmax(axis=1) if len(hours) == 24 else np.nan
    slope = np.nan
    if members is not None and "temp_slope_hdd" in members.columns:
        slope = members.groupby("segment_name")["temp_slope_hdd"].median().reindex(centroids.index)
    out["temp_slope_hdd_median"] = slope
    out["description"] = [_sentence(r) for r in out.itertuples()]
    return out.rename_axis("segment_name").reset_index()


def _sentence(r) -> str:
    text = f"{r.customers} customers using {r.kwh_per_day:.1f} kWh/day on average"
    if np.isfinite(r.winter_summer_ratio):
        text += f"; winter {r.winter_summer_ratio:.2f}x summer"
    if np.isfinite(r.weekend_weekday_ratio):
        text += f"; weekends {r.weekend_weekday_ratio:.2f}x weekdays"
    if np.isfinite(r.peak_hour):
        text += f"; peak at {int(r.peak_hour):02d}:00 UTC"
    if np.isfinite(r.temp_slope_hdd_median):
        text += f"; +{100 * r.temp_slope_hdd_median:.1f}% per heating degree day"
    return text
