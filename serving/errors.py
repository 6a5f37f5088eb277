"""Request-level errors raised by the serving layer (all derive from :class:`MeterwiseError`).

Their HTTP status codes live in ``serving/app.py`` with the rest of the mapping.
"""

from __future__ import annotations

from features.errors import MeterwiseError


class InvalidRequest(MeterwiseError, ValueError):
    """A request is well-formed JSON but breaks a rule the schema cannot express."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        self.field = field
        if code:
            self.code = code
        super().__init__(message)


class DuplicateIds(InvalidRequest):
    """The same customer id appears more than once in one batch."""

    def __init__(self, ids: list[str], field: str = "customer_ids"):
        self.ids = ids
        shown = ", ".join(ids[:10]) + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")
        super().__init__(f"duplicate customer ids in the batch: {shown}", field=field, code="duplicate_ids")


class Unauthenticated(MeterwiseError):
    """No API key, or a key that is not configured."""

    code = "unauthenticated"


class Forbidden(MeterwiseError):
    """The API key is valid but lacks the scope this endpoint needs."""

    code = "forbidden"


class RateLimited(MeterwiseError):
    """The API key spent its token bucket."""

    code = "rate_limited"

    def __init__(self, retry_after_s: float):
        self.retry_after_s = retry_after_s
        super().__init__(f"rate limit exceeded; retry in {retry_after_s:.2f}s")


class Overloaded(MeterwiseError):
    """Too much batch work is in flight; the client should retry after ``Retry-After`` seconds."""

    code = "overloaded"

    def __init__(self, rows: int, in_flight: int, limit: int):
        self.rows, self.in_flight, self.limit = rows, in_flight, limit
        super().__init__(f"server busy: {in_flight} batch rows in flight, this request adds {rows}; limit {limit}")


class ReasonsPending(MeterwiseError):
    """A by-id batch asks for more not-yet-computed reasons than one request may compute."""

    code = "reasons_pending"

    def __init__(self, pending: int, limit: int):
        self.pending, self.limit = pending, limit
        super().__init__(
            f"reasons for {pending} of these customers are still being computed (limit {limit} per request) "
            "after a reload or a new snapshot; retry after Retry-After seconds, split the batch, or send "
            '"include_reasons": false'
        )
