"""Generate the demo tenant's work orders from templates (documented in ``data/demo/SOURCE.md``).

The demo households are in London, so the orders are English. Every text is a template filled with
phrases drawn at random: there is no real complaint text here, and the classifier's figures on it say
nothing about real corpora (those are in ``benchmarks/work_orders.py``). What the generator does model:

- a background rate of orders per customer, with a few repeat complainers (10 % of customers, 5x the rate);
- billing complaints more likely in the month after a bill 20 % above the customer's running mean (bill shock);
- outage reports rising with cold days (daily mean temperature below 3 °C) in the customer's region;
- a planted emerging topic: complaints about the in-home smart-meter display from :data:`PLANTED_WEEK` on
  (a burst of :data:`PLANTED_BURST` extra orders that week, then 60 % of meter orders);
- typing errors (:data:`TYPO_RATE` of the words) and misfiled categories (:data:`MISFILED_SHARE`);
- channels ``phone``, ``app``, ``web``, ``counter``; about 8 % of orders still open at the export date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 20241123
PLANTED_WEEK = pd.Timestamp("2013-10-07", tz="UTC")  # a Monday
EXPORT_AT = pd.Timestamp("2014-04-30", tz="UTC")
CHANNELS = ("phone", "app", "web", "counter")
PLANTED_BURST = 15  # extra orders about the planted topic in its first week
TYPO_RATE = 0.12  # share of words typed with one character dropped or doubled
MISFILED_SHARE = 0.05  # share of orders filed under a random category

#: category -> (templates, fillers); {a} and {b} are filled from the two filler lists.
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "billing": (
        (
            "My bill for {a} is much higher than usual, please check the {b}.",
            "I was charged twice for {a}; the {b} looks wrong.",
            "Why did my bill go up so much in {a}? I do not understand the {b}.",
            "Estimated bill for {a} again, the {b} is not what I used.",
        ),
        ("January", "February", "March", "the last quarter", "this month", "December", "the winter"),
        ("unit rate", "standing charge", "meter reading", "VAT line", "tariff", "total amount"),
    ),
    "outage": (
        (
            "Power cut in {a} since {b}, when will supply be restored?",
            "No electricity at home since {b}, whole street in {a} is dark.",
            "Lights keep flickering and then a blackout in {a} around {b}.",
            "Supply interruption again in {a} at {b}, fridge is defrosting.",
        ),
        ("our street", "the estate", "the flats", "my road", "the village", "the block"),
        ("this morning", "last night", "6pm", "midnight", "lunchtime", "two hours"),
    ),
    "meter": (
        (
            "The meter reading on my {a} seems wrong, it shows {b}.",
            "Meter is making a noise and the {a} shows {b}.",
            "Please send an engineer, my {a} displays {b}.",
            "Reading from the {a} does not match the bill, it shows {b}.",
        ),
        ("electricity meter", "prepayment meter", "old meter", "meter cupboard"),
        ("an error code", "a blank screen", "zero usage", "a very high number", "the wrong date"),
    ),
    "payment": (
        (
            "I cannot pay the full amount this month, can I set up a {a} for {b}?",
            "My {a} failed, please tell me how to pay {b}.",
            "Request a {a} for the arrears of {b}.",
            "Lost my job, need a {a} to clear {b}.",
        ),
        ("payment plan", "direct debit", "instalment plan", "card payment", "budget scheme"),
        ("the last two bills", "the winter bills", "the overdue amount", "this quarter", "my debt"),
    ),
    "service": (
        (
            "Waited {a} on the phone and nobody answered about {b}.",
            "Staff were rude when I asked about {b}, waited {a}.",
            "Nobody called me back about {b} after {a}.",
            "The engineer missed the appointment for {b}, I waited {a}.",
        ),
        ("an hour", "forty minutes", "two days", "a week", "all morning"),
        ("my account", "a new connection", "moving house", "my complaint", "the refund"),
    ),
}
PLANTED = (
    (
        "The new in-home display of my smart meter shows {a}, is my {b} correct?",
        "Smart meter display stopped working, shows {a} and my {b} is unclear.",
    ),
    ("no signal", "a flashing red light", "dashes", "a pairing error"),
    ("usage", "balance", "bill", "tariff"),
)


def _fill(rng: np.random.Generator, spec: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], n: int) -> list:
    templates, a, b = spec
    t = rng.integers(len(templates), size=n)
    i, j = rng.integers(len(a), size=n), rng.integers(len(b), size=n)
    return [templates[x].format(a=a[y], b=b[z]) for x, y, z in zip(t, i, j, strict=True)]  # templating only


def _typos(rng: np.random.Generator, text: str) -> str:
    """Drop or double one character in about :data:`TYPO_RATE` of the words (customers type on phones)."""
    words = text.split(" ")
    hit = np.flatnonzero(rng.random(len(words)) < TYPO_RATE)
    for i in hit:
        w = words[i]
        if len(w) > 3:
            j = int(rng.integers(1, len(w) - 1))
            words[i] = w[:j] + w[j + 1 :] if rng.random() < 0.5 else w[:j] + w[j] + w[j:]
    return " ".join(words)


def _cold_days(weather: pd.DataFrame | None) -> pd.DataFrame:
    if weather is None or weather.empty:
        return pd.DataFrame(columns=["region", "day", "cold"])
    daily = weather.assign(day=weather["observed_at"].dt.floor("D")).groupby(["region", "day"])["temperature_c"].mean()
    return daily.lt(3.0).rename("cold").reset_index()


def generate_work_orders(
    customers: pd.DataFrame,
    bills: pd.DataFrame,
    weather: pd.DataFrame | None = None,
    *,
    seed: int = SEED,
    daily_rate: float = 1 / 300,
) -> pd.DataFrame:
    """Work orders for the demo tenant (see the module docstring for what is modelled).

    Parameters
    ----------
    customers, bills, weather : pandas.DataFrame
        The demo tenant's validated tables (weather optional).
    seed : int
        Random seed; the same inputs and seed give the same orders.
    daily_rate : float
        Background orders per customer per day (repeat complainers have 5x).

    Returns
    -------
    pandas.DataFrame
        Valid against the ``work_orders`` contract, sorted by ``created_at``.
    """
    rng = np.random.default_rng(seed)
    cust = customers.sort_values("customer_id").reset_index(drop=True)
    days = pd.date_range(pd.Timestamp("2012-02-01", tz="UTC"), EXPORT_AT - pd.Timedelta(days=1), freq="D")
    repeat = rng.random(len(cust)) < 0.10
    rate = np.where(repeat, 5.0, 1.0) * daily_rate
    # customer x day grid as flat arrays
    ci = np.repeat(np.arange(len(cust)), len(days))
    di = np.tile(np.arange(len(days)), len(cust))
    start = cust["start_date"].to_numpy(dtype="datetime64[D]")
    alive = days.tz_convert(None).to_numpy(dtype="datetime64[D]")[di] >= start[ci]
    cold = _cold_days(weather)
    cold_key = pd.MultiIndex.from_frame(cold[["region", "day"]]) if len(cold) else None
    cold_flag = np.zeros(len(ci), dtype=bool)
    if cold_key is not None:
        idx = pd.MultiIndex.from_arrays([cust["region"].to_numpy()[ci], days[di]])
        cold_flag = cold.set_index(["region", "day"])["cold"].reindex(idx).fillna(False).to_numpy(dtype=bool)
    shock = _bill_shock_days(cust, bills, days)[ci, di]
    p = rate[ci] * (1 + 4 * cold_flag + 3 * shock)
    hit = alive & (rng.random(len(ci)) < p)
    ci, di, cold_flag, shock = ci[hit], di[hit], cold_flag[hit], shock[hit]
    n = len(ci)
    cats = np.array(list(TEMPLATES))
    base = np.array([0.30, 0.15, 0.20, 0.15, 0.20])
    prob = np.tile(base, (n, 1))
    prob[cold_flag, 1] += 1.5
    prob[shock, 0] += 1.0
    prob /= prob.sum(axis=1, keepdims=True)
    pick = (rng.random(n)[:, None] > prob.cumsum(axis=1)).sum(axis=1)
    category = cats[np.minimum(pick, len(cats) - 1)]
    text = np.empty(n, dtype=object)
    for name in cats:
        m = category == name
        text[m] = _fill(rng, TEMPLATES[name], int(m.sum()))
    created = days[di] + pd.to_timedelta(rng.integers(7 * 3600, 21 * 3600, size=n), unit="s")
    planted = (created >= PLANTED_WEEK) & (category == "meter") & (rng.random(n) < 0.6)
    text[planted] = _fill(rng, PLANTED, int(planted.sum()))
    # the planted topic's first week: a burst of extra orders from random customers
    burst = PLANTED_BURST
    ci = np.concatenate([ci, rng.integers(len(cust), size=burst)])
    created = created.append(PLANTED_WEEK + pd.to_timedelta(rng.integers(7 * 3600, 6 * 86400, size=burst), unit="s"))
    category = np.concatenate([category, np.full(burst, "meter", dtype=object)])
    text = np.concatenate([text, np.array(_fill(rng, PLANTED, burst), dtype=object)])
    n = len(ci)
    text = np.array([_typos(rng, t) for t in text], dtype=object)
    misfiled = rng.random(n) < MISFILED_SHARE  # agents pick the wrong category now and then
    category = np.where(misfiled, cats[rng.integers(len(cats), size=n)], category)
    closed = (created + pd.to_timedelta(rng.gamma(1.5, 3.0, size=n) * 86400, unit="s")).floor("s")
    open_ = (closed >= EXPORT_AT) | (rng.random(n) < 0.03)
    orders = pd.DataFrame(
        {
            "order_id": [f"WO{i:06d}" for i in range(n)],
            "customer_id": cust["customer_id"].to_numpy()[ci],
            "created_at": created,
            "channel": np.array(CHANNELS)[rng.choice(len(CHANNELS), size=n, p=[0.5, 0.25, 0.2, 0.05])],
            "category": category,
            "text": text,
            "closed_at": pd.Series(closed).where(~open_, pd.NaT).to_numpy(),
            "resolution": np.where(open_, None, np.where(rng.random(n) < 0.8, "resolved", "explained")),
        }
    )
    orders = orders.sort_values("created_at", kind="stable").reset_index(drop=True)
    orders["order_id"] = [f"WO{i:06d}" for i in range(len(orders))]
    return orders


def _bill_shock_days(cust: pd.DataFrame, bills: pd.DataFrame, days: pd.DatetimeIndex) -> np.ndarray:
    """(customer, day) flags: within 30 days after issue of a bill 20 % above the customer's running mean."""
    out = np.zeros((len(cust), len(days)), dtype=bool)
    if bills is None or bills.empty:
        return out
    b = bills.sort_values(["customer_id", "issue_date"])
    mean_before = b.groupby("customer_id")["amount"].transform(lambda s: s.shift().expanding().mean())
    shocked = b.loc[b["amount"] > 1.2 * mean_before, ["customer_id", "issue_date"]]
    pos = pd.Series(np.arange(len(cust)), index=cust["customer_id"].astype(str))
    rows = pos.reindex(shocked["customer_id"].astype(str)).to_numpy()
    day0 = days.tz_convert(None).normalize()
    first = day0.searchsorted(pd.DatetimeIndex(shocked["issue_date"]))
    for r, f in zip(rows, first, strict=True):  # one slice per shocked bill (hundreds), not per row
        if not np.isnan(r):
            out[int(r), f : f + 30] = True
    return out
