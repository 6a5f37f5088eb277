"""Reasons in words a billing clerk understands, built from feature values (pure, vectorised).

A *template* is a format string whose fields name feature columns, for example
``"unpaid balance of {arrears_amount} for {arrears_age_days} days"``. Each field is formatted by the
unit of its column (``currency`` -> ``£142``, ``ratio`` -> ``35%``, ``count``/``days``/``months`` ->
whole numbers) or by an explicit spec: ``{late_bills_12m:n bill}`` -> ``1 bill`` / ``2 bills``,
``{bill_amount_change_prev3:change}`` -> ``35% higher`` / ``12% lower``. Features without a template
fall back to ``"<description>: <value>"`` from the feature pipeline's ``FEATURE_DESCRIPTIONS``.

Rendering is vectorised per feature (one pass over the rows that need it), never per row.
"""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd

H = 12  # the payment pipeline's history window (months) in the names below
TEMPLATES: dict[str, str] = {
    f"late_bills_{H}m": f"{{late_bills_{H}m:n bill}} paid more than {{late_days}} days late in the last {H} months",
    "late_bills_total": "{late_bills_total:n bill} paid more than {late_days} days late since the account opened",
    "arrears_amount": "unpaid balance of {arrears_amount} for {arrears_age_days:n day}",
    "arrears_age_days": "unpaid balance of {arrears_amount} for {arrears_age_days:n day}",
    "unpaid_past_due_bills": "{unpaid_past_due_bills:n bill} past the due date and not fully paid",
    "outstanding_amount": "{outstanding_amount} still owed on issued bills",
    f"on_time_ratio_{H}m": f"only {{on_time_ratio_{H}m}} of bills in the last {H} months paid by the due date",
    f"days_late_mean_{H}m": (
        f"bills in the last {H} months paid {{days_late_mean_{H}m:n day}} after the due date on average"
    ),
    f"days_late_max_{H}m": (
        f"worst bill in the last {H} months paid (or still open) {{days_late_max_{H}m:n day}} after the due date"
    ),
    "late_streak_max": "{late_streak_max:n late bill} in a row",
    "months_since_last_late": "a bill went more than {late_days} days late {months_since_last_late:ago}",
    f"payments_{H}m": f"{{payments_{H}m:n payment}} received in the last {H} months",
    f"partial_payments_{H}m": f"{{partial_payments_{H}m:n part payment}} in the last {H} months",
    "billing_tenure_months": "customer for only {billing_tenure_months:n month}",
    "bill_amount_last": "latest bill of {bill_amount_last}",
    f"bill_amount_mean_{H}m": f"average bill of {{bill_amount_mean_{H}m}} over the last {H} months",
    "bill_amount_change_prev3": "latest bill {bill_amount_change_prev3:change} than the 3 before it",
    "bill_kwh_last": "latest bill for {bill_kwh_last} kWh",
    "bill_kwh_change_prev3": "latest bill's energy use {bill_kwh_change_prev3:change} than the 3 bills before it",
    "bills_3m": "{bills_3m:n bill} in the last 3 months",
    "bills_6m": "{bills_6m:n bill} in the last 6 months",
    f"bills_{H}m": f"{{bills_{H}m:n bill}} in the last {H} months",
    "bills_total": "{bills_total:n bill} since the account opened",
    "tenure_months": "customer for only {tenure_months:n month}",
    **{
        f"kwh_mean_{w}d": f"uses {{kwh_mean_{w}d:1f}} kWh a day on average over the last {w} days"
        for w in (7, 28, 30, 90, 365)
    },
}
SKIP_WHEN_ZERO = frozenset(
    {
        "arrears_amount",
        "arrears_age_days",
        "unpaid_past_due_bills",
        "outstanding_amount",
        f"late_bills_{H}m",
        "late_bills_total",
        "late_streak_max",
        f"partial_payments_{H}m",
        f"days_late_mean_{H}m",
        f"days_late_max_{H}m",
    }
)
"""Features never named as a reason when their value is 0 or unknown (e.g. "unpaid balance of £0")."""
_CHANNEL = re.compile(r"^channel_share_(?P<channel>.+)_(?P<months>\d+)m$")
_WHOLE = {"count", "bool", "days", "months", "kwh", "n"}


def _whole(v: np.ndarray) -> np.ndarray:
    return np.round(v).astype(np.int64).astype(str).astype(object)


def format_values(values: np.ndarray, unit: str, spec: str = "", *, currency: str = "£") -> np.ndarray:
    """Format `values` (float array) as text by `unit` or `spec`; NaN becomes ``"unknown"``."""
    v = np.asarray(values, dtype=float)
    missing = ~np.isfinite(v)
    v = np.where(missing, 0.0, v)
    if spec == "change":
        text = _whole(np.abs(v) * 100) + np.where(v >= 0, "% higher", "% lower").astype(object)
    elif spec == "1f":
        text = np.round(v, 1).astype(str).astype(object)
    elif spec.startswith("share "):
        channel = spec[6:]
        text = np.where(
            v > 0, _whole(v * 100) + f"% of payments made by {channel}", f"no payments made by {channel}"
        ).astype(object)
    elif spec == "ago":
        months = np.round(v)
        text = np.where(
            months < 1, "less than a month ago", _whole(months) + np.where(months == 1, " month ago", " months ago")
        )
    elif spec.startswith("n "):
        noun = spec[2:]
        count = np.round(v)
        text = _whole(count) + np.where(count == 1, " " + noun, " " + noun + "s").astype(object)
    elif unit == "currency":
        text = currency + _whole(v)
    elif unit == "ratio":
        text = _whole(v * 100) + "%"
    elif unit.lower() in _WHOLE:
        text = _whole(v)
    else:
        text = np.round(v, 2).astype(str).astype(object)
    return np.where(missing, "unknown", np.asarray(text, dtype=object))


class ReasonWriter:
    """Turns (feature index, row values) into a sentence, one feature at a time (picklable).

    Parameters
    ----------
    feature_names : list of str
        Model input columns, in order.
    descriptions : dict, optional
        ``column -> (unit, description)``, as the feature pipeline's ``FEATURE_DESCRIPTIONS``.
    templates : dict, optional
        Extra or replacement templates (merged over :data:`TEMPLATES`).
    constants : dict, optional
        Values for non-column fields such as ``{late_days}``.
    currency : str
        Symbol put before money amounts.
    """

    def __init__(
        self,
        feature_names: list[str],
        descriptions: dict[str, tuple[str, str]] | None = None,
        templates: dict[str, str] | None = None,
        constants: dict[str, object] | None = None,
        currency: str = "£",
    ):
        self.feature_names = list(feature_names)
        self.descriptions = dict(descriptions or {})
        self.constants = {"late_days": 30, **(constants or {})}
        self.currency = currency
        merged = {**TEMPLATES, **(templates or {})}
        self.templates = {name: self._template_for(name, merged) for name in self.feature_names}

    def _template_for(self, name: str, merged: dict[str, str]) -> str:
        template = merged.get(name)
        if template is not None and all(f in self.feature_names or f in self.constants for f in _fields(template)):
            return template
        m = _CHANNEL.match(name)
        if m:
            channel = m["channel"].replace("_", " ")
            return f"{{{name}:share {channel}}} in the last {m['months']} months"
        unit, description = self.descriptions.get(name, ("", name.replace("_", " ")))
        return f"{description}: {{{name}}}" + (f" {unit}" if unit.lower() in {"kwh"} else "")

    def unit(self, name: str) -> str:
        return self.descriptions.get(name, ("", ""))[0] or _guess_unit(name)

    def render(self, name: str, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Sentences for feature `name` given the rows' values of every column it mentions."""
        pieces: list[np.ndarray | str] = []
        n = len(next(iter(columns.values()))) if columns else 0
        for literal, field, spec, _ in string.Formatter().parse(self.templates[name]):
            if literal:
                pieces.append(literal)
            if field is None:
                continue
            if field in self.constants:
                pieces.append(str(self.constants[field]))
            else:
                pieces.append(format_values(columns[field], self.unit(field), spec or "", currency=self.currency))
        out = np.full(n, "", dtype=object)
        for piece in pieces:
            out = out + piece
        return out

    def fields(self, name: str) -> list[str]:
        return [f for f in _fields(self.templates[name]) if f not in self.constants]

    def write(self, X: np.ndarray, contributions: np.ndarray, top: int = 3) -> np.ndarray:
        """The `top` reasons per row, from per-feature contributions (log-odds), strongest first.

        Only features pushing the risk up (contribution > 0) are named; the remaining slots are None,
        except the first, which then says no factor raises the risk. Shape ``(n_rows, top)``, object.
        """
        n, f = contributions.shape
        k = min(top, f)
        skip = [j for j, name in enumerate(self.feature_names) if name in SKIP_WHEN_ZERO]
        if skip:  # a zero balance is never a reason, whatever its contribution
            trivial = ~(np.nan_to_num(X[:, skip], nan=0.0) > 0)
            contributions = contributions.copy()
            contributions[:, skip] = np.where(trivial, -np.inf, contributions[:, skip])
        idx = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
        up = np.take_along_axis(contributions, idx, axis=1) > 0
        out = np.full((n, top), None, dtype=object)
        out[:, 0] = "no factor raises the risk above the average customer"
        col = {name: j for j, name in enumerate(self.feature_names)}
        # the same sentence may be picked twice through two features of one template: keep it once
        for j in np.unique(idx[up]):
            rows = np.flatnonzero((idx == j).any(axis=1) & (up & (idx == j)).any(axis=1))
            name = self.feature_names[j]
            text = self.render(name, {c: X[rows, col[c]] for c in self.fields(name)})
            hit = (idx[rows] == j) & up[rows]
            for slot in range(k):
                sel = hit[:, slot]
                out[rows[sel], slot] = text[sel]
        return _dedupe(out, up.any(axis=1))


def _dedupe(out: np.ndarray, any_up: np.ndarray) -> np.ndarray:
    """Drop a repeated sentence within a row (two features sharing one template) and shift left."""
    if out.shape[1] < 2:
        return out
    present = ~pd.isna(out)
    dup = np.zeros(out.shape, dtype=bool)
    for s in range(1, out.shape[1]):  # loop over slots (3), not rows
        for t in range(s):
            dup[:, s] |= present[:, s] & present[:, t] & (out[:, s] == out[:, t])
    if not dup.any():
        return out
    cleaned = np.where(dup, None, out)
    order = np.argsort(pd.isna(cleaned), axis=1, kind="stable")
    cleaned = np.take_along_axis(cleaned, order, axis=1)
    cleaned[~any_up, 0] = out[~any_up, 0]
    return cleaned


def _fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _guess_unit(name: str) -> str:
    if name.endswith(("_amount", "_gbp")) or "amount" in name:
        return "currency"
    if "ratio" in name or "share" in name:
        return "ratio"
    if name.endswith("_days"):
        return "days"
    return ""
