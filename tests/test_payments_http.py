"""The shared httpx boundary (kiosk.payments.http) and the token bucket (ratelimit)."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import pytest

from fakes import FakeTime
from kiosk.errors import (
    GatewayError,
    GatewayProtocolError,
    GatewayRejected,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
)
from kiosk.payments.http import (
    DEFAULT_TIMEOUT,
    MAX_REPLY_BYTES,
    GatewayHttp,
    map_httpx_errors,
    retry_after_s,
)
from kiosk.payments.ratelimit import RateLimiter

SECRET = "SECRET-key-123"


# -- every httpx exception is mapped --------------------------------------------------------------

def _httpx_exception_classes() -> list[type[BaseException]]:
    return [obj for name in httpx.__all__
            if inspect.isclass(obj := getattr(httpx, name)) and issubclass(obj, BaseException)]


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance carrying a secret-looking message, whatever the class's constructor wants."""
    request = httpx.Request("GET", f"https://api.example/v1/x?key={SECRET}")
    if issubclass(cls, httpx.HTTPStatusError):
        return cls(SECRET, request=request, response=httpx.Response(500, request=request))
    try:
        return cls(f"{SECRET} https://api.example/v1/x?key={SECRET}")
    except TypeError:            # RequestNotRead, ResponseNotRead, StreamConsumed, StreamClosed
        return cls()


def _expected(cls: type[BaseException]) -> type[GatewayError]:
    if issubclass(cls, httpx.TimeoutException):
        return GatewayTimeout
    if issubclass(cls, httpx.TransportError):
        return GatewayUnavailable
    if issubclass(cls, (httpx.DecodingError, httpx.TooManyRedirects)):
        return GatewayProtocolError
    return GatewayError


def test_the_walk_finds_every_httpx_exception_family() -> None:
    names = {cls.__name__ for cls in _httpx_exception_classes()}
    assert {"ConnectTimeout", "PoolTimeout", "ConnectError", "ProxyError", "UnsupportedProtocol",
            "LocalProtocolError", "DecodingError", "TooManyRedirects", "HTTPStatusError",
            "InvalidURL", "CookieConflict", "StreamError", "StreamClosed",
            "ResponseNotRead"} <= names
    assert len(names) >= 28


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_exception_class_is_mapped(cls: type[BaseException]) -> None:
    original = _instance(cls)
    with pytest.raises(GatewayError) as caught:
        with map_httpx_errors("mixpay GET /payments_result"):
            raise original
    assert type(caught.value) is _expected(cls)
    assert caught.value.__cause__ is original
    message = str(caught.value)
    assert message.startswith("mixpay GET /payments_result: ")
    assert SECRET not in message and "api.example" not in message


def test_timeouts_are_also_builtin_timeouts_and_transport_errors_connection_errors() -> None:
    with pytest.raises(TimeoutError, match="read timeout"):
        with map_httpx_errors("mixpay GET /payments_result"):
            raise httpx.ReadTimeout("boom")
    with pytest.raises(ConnectionError, match="connect error"):
        with map_httpx_errors("mixpay GET /payments_result"):
            raise httpx.ConnectError("boom")


def test_non_httpx_exceptions_pass_through_untouched() -> None:
    with pytest.raises(KeyError):
        with map_httpx_errors("mixpay GET /payments_result"):
            raise KeyError("programming error")


# -- GatewayHttp over MockTransport ---------------------------------------------------------------

def _http(handler: Callable[[httpx.Request], httpx.Response], *,
          limiter: RateLimiter | None = None, clock: FakeTime | None = None,
          timeout: httpx.Timeout | None = None) -> GatewayHttp:
    return GatewayHttp("demo", "https://api.example/v1", limiter=limiter,
                       transport=httpx.MockTransport(handler), timeout=timeout,
                       clock=clock or FakeTime())


def test_client_uses_the_explicit_default_timeouts_and_the_base_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    _http(handler).get("/payments_result", {"traceId": "t"})
    assert DEFAULT_TIMEOUT == httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)
    assert seen[0].extensions["timeout"] == {"connect": 5.0, "read": 10.0, "write": 10.0,
                                             "pool": 5.0}
    assert seen[0].url == "https://api.example/v1/payments_result?traceId=t"
    assert seen[0].headers["accept"] == "application/json"


def test_a_configured_timeout_replaces_the_default() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    _http(handler, timeout=httpx.Timeout(2.0, read=3.0)).post_json("/x", {"a": "1"})
    assert seen[0].extensions["timeout"]["read"] == 3.0
    assert seen[0].extensions["timeout"]["connect"] == 2.0


@pytest.mark.parametrize(("raised", "kind", "words"), [
    (httpx.ConnectTimeout, GatewayTimeout, "connect timeout"),
    (httpx.ReadTimeout, GatewayTimeout, "read timeout"),
    (httpx.ConnectError, GatewayUnavailable, "connect error"),
    (httpx.RemoteProtocolError, GatewayUnavailable, "remote protocol error"),
])
def test_transport_failures_are_mapped_with_the_call_named(
        raised: type[httpx.HTTPError], kind: type[GatewayError], words: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised(f"failed for {request.url}")

    with pytest.raises(kind) as caught:
        _http(handler).get("/payments_result", {"traceId": SECRET})
    assert str(caught.value) == f"demo GET /payments_result: {words}"
    assert isinstance(caught.value.__cause__, raised)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_unavailable(status: int) -> None:
    with pytest.raises(GatewayUnavailable, match=f"demo GET /x: HTTP {status}"):
        _http(lambda r: httpx.Response(status, json={"success": False})).get("/x", {})


@pytest.mark.parametrize(("body", "words"), [
    (b"<html>maintenance</html>", "not JSON"),
    (b'[{"success": true}]', "a JSON list, not an object"),
    (b'"ok"', "a JSON str, not an object"),
    (b'{"amount": NaN}', "not JSON"),
    (b"\xff\xfe\x00garbage", "not JSON"),
])
def test_bodies_that_are_not_a_json_object_are_protocol_errors(body: bytes, words: str) -> None:
    with pytest.raises(GatewayProtocolError, match=words):
        _http(lambda r: httpx.Response(200, content=body)).get("/x", {})


@pytest.mark.parametrize("status", [401, 403, 404, 413])
def test_a_4xx_that_is_not_json_is_a_refusal_naming_the_status(status: int) -> None:
    """A proxy's or firewall's HTML page: the call was refused, not answered ambiguously."""
    with pytest.raises(GatewayRejected, match=f"demo GET /x: HTTP {status}, not the gateway"):
        _http(lambda r: httpx.Response(status, content=b"<html>Forbidden</html>")).get("/x", {})


def test_a_reply_over_a_mebibyte_is_refused_without_reading_it_all() -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            sent.append(1)
            yield b" " * 65536

    with pytest.raises(GatewayProtocolError, match="reply over 1024 KiB"):
        _http(lambda r: httpx.Response(200, content=endless())).get("/x", {})
    assert len(sent) <= MAX_REPLY_BYTES // 65536 + 1


def test_json_numbers_are_decimals_never_floats() -> None:
    reply = _http(lambda r: httpx.Response(200, content=b'{"a": 2.50, "b": 3}')).get("/x", {})
    assert reply.body == {"a": Decimal("2.50"), "b": 3}
    assert isinstance(reply.body["a"], Decimal) and str(reply.body["a"]) == "2.50"


def test_a_4xx_with_a_json_object_is_returned_for_the_client_to_judge() -> None:
    reply = _http(lambda r: httpx.Response(404, json={"code": 404, "success": False})).get("/x", {})
    assert (reply.status_code, reply.body["code"], reply.where) == (404, 404, "demo GET /x")


def test_http_429_pauses_the_limiter_for_retry_after() -> None:
    fake = FakeTime()
    limiter = RateLimiter(600, clock=fake, sleep=fake.sleep)
    http = _http(lambda r: httpx.Response(429, headers={"Retry-After": "7"}), limiter=limiter,
                 clock=fake)
    with pytest.raises(GatewayRateLimited) as caught:
        http.get("/x", {})
    assert caught.value.retry_after_s == 7
    limiter.acquire(max_wait_s=15)
    assert fake.sleeps == [7]


@pytest.mark.parametrize(("header", "seconds"), [
    ("12", 12.0),
    ("1.5", 1.5),
    ("-4", 0.0),
    ("Tue, 14 Nov 2023 22:13:40 GMT", 20.0),     # 20 s after the fake clock's now
    ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),      # already past
    ("soon", 10.0),
    ("nan", 10.0),
    ("", 10.0),
])
def test_retry_after_accepts_seconds_and_http_dates(header: str, seconds: float) -> None:
    headers = httpx.Headers({"Retry-After": header} if header else {})
    assert retry_after_s(headers, 1_700_000_000.0) == pytest.approx(seconds)


def test_an_unusable_base_url_is_a_gateway_error() -> None:
    with pytest.raises(GatewayError, match="demo client setup: invalid url"):
        GatewayHttp("demo", "http://a\x00b")


# -- RateLimiter ----------------------------------------------------------------------------------

def test_limiter_allows_a_burst_then_spaces_requests() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake, sleep=fake.sleep)      # burst 5, then 55/min
    for _ in range(5):
        limiter.acquire(max_wait_s=15)
    assert fake.sleeps == []
    limiter.acquire(max_wait_s=15)
    assert fake.sleeps == [pytest.approx(60 / 55)]


def test_limiter_never_exceeds_the_budget_in_any_minute() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake, sleep=fake.sleep)
    stamps = []
    for _ in range(300):
        limiter.acquire(max_wait_s=15)
        stamps.append(fake.now)
    worst = max(sum(1 for t in stamps if start <= t < start + 60) for start in stamps)
    assert worst <= 60


def test_limiter_refuses_a_wait_longer_than_allowed_without_taking_a_token() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake, sleep=fake.sleep, burst=1)
    limiter.acquire(max_wait_s=0)
    with pytest.raises(GatewayRateLimited) as caught:
        limiter.acquire(max_wait_s=0.5)
    assert caught.value.retry_after_s == pytest.approx(60 / 59)
    limiter.acquire(max_wait_s=2)                  # the refused caller did not queue ahead
    assert fake.sleeps == [pytest.approx(60 / 59)]


def test_pause_holds_every_caller_and_is_never_shortened() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake, sleep=fake.sleep)
    limiter.pause(10)
    limiter.pause(3)
    with pytest.raises(GatewayRateLimited, match="next slot in 10.0 s"):
        limiter.acquire(max_wait_s=5)
    limiter.acquire(max_wait_s=15)
    assert fake.sleeps == [10]


def test_a_pause_arriving_while_a_caller_sleeps_holds_it_too() -> None:
    fake = FakeTime()
    limiters: list[RateLimiter] = []

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 1:
            limiters[0].pause(5)      # another thread saw a 429 meanwhile

    limiters.append(RateLimiter(60, clock=fake, sleep=sleep, burst=1))
    limiters[0].acquire(max_wait_s=15)
    limiters[0].acquire(max_wait_s=15)
    assert fake.sleeps == [pytest.approx(60 / 59), 5]


def test_concurrent_callers_get_exactly_burst_free_tokens() -> None:
    frozen = FakeTime()

    class Queued(Exception):
        pass

    def sleep(seconds: float) -> None:
        raise Queued

    limiter = RateLimiter(6000, clock=frozen, sleep=sleep, burst=50)
    results: list[bool] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(10):
            try:
                limiter.acquire(max_wait_s=1000)
                free = True
            except Queued:
                free = False
            with lock:
                results.append(free)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 160 and results.count(True) == 50


@pytest.mark.parametrize(("per_minute", "burst"), [(0, None), (60, 0), (60, 61)])
def test_limiter_rejects_impossible_budgets(per_minute: int, burst: int | None) -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_minute, burst=burst)
