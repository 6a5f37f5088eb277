"""Per-customer sums behind the load shapes (pure): counts and kWh sums by day of week and month, and the
sums of the degree-day regression, from readings laid out as customer codes and day numbers.

Two implementations give bit-identical sums:

- :func:`_bincount_sums` (any input): one ``np.bincount`` per statistic over the readings;
- :func:`_dense_sums` (readings sorted by customer then day, at most one per customer and day: how exports
  and partitions are written): customers are laid out as a dense day x customer grid, one block at a time,
  and each sum is accumulated day by day. Adding the days of a customer in increasing order is the order in
  which ``np.bincount`` adds the readings of sorted input, and a day without a reading adds ``+0.0`` (a sum
  that starts at ``+0.0`` is never ``-0.0``, so adding ``+0.0`` changes nothing); the loop is over the days
  of the window, never over customers or rows.
"""

from __future__ import annotations

import numpy as np

BLOCK_CUSTOMERS = 25_000  # dense grids of 25,000 customers x 365 days: ~75 MB of float64 each


def customer_sums(
    codes: np.ndarray,
    days: np.ndarray,
    kwh: np.ndarray,
    n: int,
    first_day: int,
    window_days: int,
    degree_days: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    block_customers: int = BLOCK_CUSTOMERS,
) -> dict[str, np.ndarray]:
    """Sums and counts per customer code ``0..n-1`` of readings dated ``first_day .. first_day+window_days-1``.

    Returns ``count`` and ``total`` (shape ``(n,)``), ``dow_sum``/``dow_count`` (``(n, 7)``, Monday first) and
    ``month_sum``/``month_count`` (``(n, 12)``, January first). With `degree_days` = ``(degree days per
    region x day of the window (NaN: unknown), region row of each customer)`` also ``dd_count``, ``sx``,
    ``sy``, ``sxx``, ``sxy``: the regression sums of x = degree days on y = kWh / the customer's mean kWh,
    over the readings whose degree days are known.
    """
    col = np.arange(first_day, first_day + window_days)
    dow = (col + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    month = col.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    offset = days - first_day
    key = codes.astype(np.int64)  # a copy, then updated in place: no temporary per reading
    key *= window_days
    key += offset
    if len(key) and block_customers > 0 and bool((key[1:] > key[:-1]).all()):  # sorted, one reading a day
        del key
        return _dense_sums(codes, offset, kwh, n, dow, month, degree_days, block_customers)
    return _bincount_sums(codes, offset, kwh, n, dow, month, degree_days)


def _bincount_sums(codes, offset, kwh, n, dow, month, degree_days) -> dict[str, np.ndarray]:
    """The general implementation: a grouped sum per statistic, in input order."""
    out = {"count": np.bincount(codes, minlength=n), "total": np.bincount(codes, kwh, n)}
    for name, bins, size in (("dow", dow[offset], 7), ("month", month[offset], 12)):
        flat = codes * size + bins
        out[f"{name}_sum"] = np.bincount(flat, weights=kwh, minlength=n * size).reshape(n, size)
        out[f"{name}_count"] = np.bincount(flat, minlength=n * size).reshape(n, size)
    if degree_days is None:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        y = kwh / (out["total"] / out["count"])[codes]
    dd, region_of = degree_days
    x = dd.ravel()[region_of[codes] * dd.shape[1] + offset]
    c = codes
    ok = ~np.isnan(x)
    if not ok.all():
        x, c, y = x[ok], c[ok], y[ok]
    out["dd_count"] = np.bincount(c, minlength=n).astype(float)
    out["sx"], out["sy"] = np.bincount(c, x, n), np.bincount(c, y, n)
    out["sxx"], out["sxy"] = np.bincount(c, x * x, n), np.bincount(c, x * y, n)
    return out


def _dense_sums(codes, offset, kwh, n, dow, month, degree_days, block_customers) -> dict[str, np.ndarray]:
    """The sorted-input implementation: blocks of customers as day x customer grids, summed day by day."""
    w = len(dow)
    names = ["count", "total", "dow_sum", "dow_count", "month_sum", "month_count"]
    if degree_days is not None:
        names += ["dd_count", "sx", "sy", "sxx", "sxy"]
        dd_by_day = np.ascontiguousarray(degree_days[0].T)  # day x region
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    bounds = np.searchsorted(codes, np.arange(0, n + block_customers, block_customers).clip(max=n))
    for b, lo in enumerate(range(0, n, block_customers)):
        nb = min(block_customers, n - lo)
        rows = slice(int(bounds[b]), int(bounds[b + 1]))
        flat = offset[rows] * nb  # day-major: row j of the grid is day j of every customer of the block
        flat += codes[rows]
        flat -= lo
        grid = np.zeros(w * nb)
        grid[flat] = kwh[rows]
        seen = np.zeros(w * nb, dtype=bool)
        seen[flat] = True
        del flat
        grid, seen = grid.reshape(w, nb), seen.reshape(w, nb)
        block = _calendar_sums(grid, seen, dow, month)
        if degree_days is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = block["total"] / block["count"]
            block |= _degree_day_sums(grid, seen, mean, dd_by_day, degree_days[1][lo : lo + nb])
        for k in names:
            parts[k].append(block[k])
    # (bin x customer) blocks -> C-ordered (customer x bin), the layout (and so the row-mean order) of bincount's
    return {
        k: np.ascontiguousarray(np.concatenate(v, axis=-1).T) if v[0].ndim == 2 else np.concatenate(v)
        for k, v in parts.items()
    }


def _calendar_sums(grid, seen, dow, month) -> dict[str, np.ndarray]:
    """Day-by-day sums of one block: totals and (bin x customer) sums and counts by weekday and month."""
    nb = grid.shape[1]
    total = np.zeros(nb)
    dow_sum, dow_count = np.zeros((7, nb)), np.zeros((7, nb), dtype=np.int64)
    month_sum, month_count = np.zeros((12, nb)), np.zeros((12, nb), dtype=np.int64)
    for j in range(len(grid)):
        g, s = grid[j], seen[j]
        total += g
        dow_sum[dow[j]] += g
        dow_count[dow[j]] += s
        month_sum[month[j]] += g
        month_count[month[j]] += s
    count = dow_count.sum(axis=0)
    return {
        "count": count,
        "total": total,
        "dow_sum": dow_sum,
        "dow_count": dow_count,
        "month_sum": month_sum,
        "month_count": month_count,
    }


def _degree_day_sums(grid, seen, mean, dd_by_day, region) -> dict[str, np.ndarray]:
    """Day-by-day regression sums of one block over the readings whose degree days are known."""
    nb = grid.shape[1]
    cnt = np.zeros(nb, dtype=np.int64)
    sx, sy, sxx, sxy = np.zeros(nb), np.zeros(nb), np.zeros(nb), np.zeros(nb)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for j in range(len(grid)):
            x = dd_by_day[j][region]
            ok = seen[j] & ~np.isnan(x)
            y = grid[j] / mean
            cnt += ok
            sx += np.where(ok, x, 0.0)
            sy += np.where(ok, y, 0.0)
            sxx += np.where(ok, x * x, 0.0)
            sxy += np.where(ok, x * y, 0.0)
    return {"dd_count": cnt.astype(float), "sx": sx, "sy": sy, "sxx": sxx, "sxy": sxy}
