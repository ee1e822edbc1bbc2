"""The one httpx boundary every gateway client talks through.

Everything httpx can raise is translated here, once, into ``kiosk.errors``:

    httpx.TimeoutException family            -> GatewayTimeout
    other httpx.TransportError               -> GatewayUnavailable
    httpx.DecodingError, TooManyRedirects    -> GatewayProtocolError
    anything else from httpx (InvalidURL, CookieConflict, StreamError, HTTPStatusError, ...)
                                             -> GatewayError

and so are the HTTP-level failures: 5xx -> GatewayUnavailable, 429 -> GatewayRateLimited (the
shared limiter is paused for Retry-After), a body that is not a JSON object -> GatewayProtocolError.
Messages name the gateway, the method and the path only ("mixpay GET /payments_result: read
timeout"): never a query string, a header or httpx's own text, which may carry secrets.
JSON numbers are parsed as ``Decimal`` so an amount never passes through a float.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timezone
from decimal import Decimal
from typing import Any, NoReturn

import httpx

from kiosk import __version__
from kiosk.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
)
from kiosk.money import parse_decimal
from kiosk.payments.ratelimit import RateLimiter

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)
DEFAULT_RETRY_AFTER_S = 10.0
DEFAULT_MAX_WAIT_S = 15.0          # how long a caller may queue for the rate limiter
MAX_REPLY_BYTES = 1024 * 1024
TEXT_MAX = 200                # how much of a gateway's own text goes into a message

# Every exception class httpx can raise at a caller, and the ones that deserve a narrower kiosk
# error, most specific first; the rest become a plain GatewayError.
_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError)
_NARROWER: tuple[tuple[tuple[type[Exception], ...], type[GatewayError]], ...] = (
    ((httpx.TimeoutException,), GatewayTimeout),
    ((httpx.TransportError,), GatewayUnavailable),
    ((httpx.DecodingError, httpx.TooManyRedirects), GatewayProtocolError),
)


def _describe(exc: Exception) -> str:
    """``ReadTimeout`` -> ``read timeout``: the class says what failed without httpx's text."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", type(exc).__name__).lower()


@contextmanager
def map_httpx_errors(where: str) -> Iterator[None]:
    """Re-raise any httpx exception inside the block as its kiosk error, chained to the original.

    ``where`` names the call, e.g. ``"mixpay GET /payments_result"``.
    """
    try:
        yield
    except _HTTPX_ERRORS as exc:
        kind = next((target for sources, target in _NARROWER if isinstance(exc, sources)),
                    GatewayError)
        raise kind(f"{where}: {_describe(exc)}") from exc


def retry_after_s(headers: httpx.Headers, now: float) -> float:
    """Seconds from ``Retry-After`` (delta-seconds or HTTP-date); 10 s if absent or unreadable."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER_S
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER_S
        if when.tzinfo is None:          # HTTP-dates are GMT by definition
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    return max(seconds, 0.0) if math.isfinite(seconds) else DEFAULT_RETRY_AFTER_S


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number we accept")


def redacted(text: str, *secrets: str, mark: str = "<redacted>") -> str:
    """A gateway's own text, shortened to ``TEXT_MAX``, with our ``secrets`` (in any case)
    replaced: a key echoed back in an error must never reach a log or a screen."""
    for secret in secrets:
        if secret:
            text = re.sub(re.escape(secret), mark, text, flags=re.IGNORECASE)
    return text[:TEXT_MAX]


def _read_capped(response: httpx.Response, where: str) -> bytes:
    """The body, refused past ``MAX_REPLY_BYTES``: a gateway's reply is a few KiB, and a
    runaway one must not fill a small machine's memory."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise GatewayProtocolError(f"{where}: reply over {MAX_REPLY_BYTES // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(content: bytes, where: str) -> dict[str, Any]:
    """A JSON object, non-integer numbers as ``Decimal``; anything else is a protocol error."""
    try:
        body = json.loads(content, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as exc:            # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise GatewayProtocolError(f"{where}: body is not JSON") from exc
    if not isinstance(body, dict):
        raise GatewayProtocolError(f"{where}: body is a JSON {type(body).__name__}, not an object")
    return body


def json_decimal(value: Any) -> Decimal | None:
    """A finite amount from a JSON string or number (int or Decimal, never float), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value) if Decimal(value).is_finite() else None
    if isinstance(value, str):
        try:
            return parse_decimal(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class JsonReply:
    """A non-5xx, non-429 answer whose body is a JSON object; the gateway client judges it."""

    where: str                       # "mixpay GET /payments_result", for the client's messages
    status_code: int
    body: dict[str, Any]
    headers: httpx.Headers


class GatewayHttp:
    """One gateway's ``httpx.Client`` (built once), its rate limiter, and the error boundary."""

    def __init__(
        self,
        gateway: str,
        base_url: str,
        *,
        limiter: RateLimiter | None = None,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateway = gateway
        self._limiter = limiter
        self._max_wait_s = max_wait_s
        self._clock = clock
        with map_httpx_errors(f"{gateway} client setup"):   # e.g. an unparseable api_base
            self._client = httpx.Client(
                base_url=base_url,
                transport=transport,
                timeout=timeout or DEFAULT_TIMEOUT,
                headers={"Accept": "application/json",
                         "User-Agent": f"vending-kiosk/{__version__}", **(headers or {})},
            )

    def get(self, path: str, params: Mapping[str, str]) -> JsonReply:
        return self._request("GET", path, params=dict(params))

    def post_json(self, path: str, body: Mapping[str, Any]) -> JsonReply:
        return self._request("POST", path, json=dict(body))

    def post_form(self, path: str, body: Mapping[str, str]) -> JsonReply:
        """POST ``application/x-www-form-urlencoded`` (WCT Pay may want a form, not JSON)."""
        return self._request("POST", path, data=dict(body))

    def rate_limited(self, where: str, headers: httpx.Headers) -> GatewayRateLimited:
        """Pause every caller for the gateway's Retry-After and build the error to raise."""
        wait = retry_after_s(headers, self._clock())
        if self._limiter is not None:
            self._limiter.pause(wait)
        return GatewayRateLimited(f"{where}: rate limited, retry in {wait:g} s", retry_after_s=wait)

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> JsonReply:
        where = f"{self.gateway} {method} {path}"
        if self._limiter is not None:
            self._limiter.acquire(self._max_wait_s)
        with map_httpx_errors(where), self._client.stream(method, path, **kwargs) as response:
            content = _read_capped(response, where)
        status = response.status_code
        if status == 429:
            raise self.rate_limited(where, response.headers)
        if status >= 500:
            raise GatewayUnavailable(f"{where}: HTTP {status}")
        try:
            body = parse_json_object(content, f"{where}: HTTP {status}")
        except GatewayProtocolError:
            if 400 <= status < 500:   # refused before the gateway's own code saw it: a proxy's
                raise GatewayRejected(f"{where}: HTTP {status}, not the gateway's JSON (a "
                                      f"proxy or firewall in the way?)", f"HTTP {status}") from None
            raise
        return JsonReply(where, status, body, response.headers)
