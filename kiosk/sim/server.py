"""The sandbox's HTTP plumbing: one threaded stdlib server, routed by the first path segment.

``/mixpay/...`` is handed to the MixPay simulator with the rest of the path; WCT Pay and
Centrapay simulators mount beside it. A simulator is any object with
``handle(request) -> Response`` and ``received()``: it owns its own state and lock and never sees
the socket.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024                 # a simulator never needs more; refuse instead of buffering


class BadBody(ValueError):
    """The request body is not the JSON object or form it claims to be."""


@dataclass(frozen=True)
class Request:
    """One HTTP request, already read, as a simulator sees it."""

    method: str
    mount: str                        # "/mixpay": where the simulator lives, for absolute links
    path: str                         # below the mount: "/v1/payments_result"
    query: Mapping[str, str]          # first value of each parameter
    headers: Mapping[str, str]        # lower-case names
    body: bytes
    client: str                       # peer address, for per-client rate limits

    @property
    def wants_json(self) -> bool:
        return "application/json" in self.headers.get("accept", "")

    def fields(self) -> dict[str, Any]:
        """The body as a dict: a JSON object (numbers as Decimal), or form-encoded strings."""
        if "application/json" in self.headers.get("content-type", ""):
            try:
                data = json.loads(self.body or b"{}", parse_float=Decimal)
            except ValueError as exc:
                raise BadBody("body is not valid JSON") from exc
            if not isinstance(data, dict):
                raise BadBody("body must be a JSON object")
            return data
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadBody("form body is not UTF-8") from exc
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(status: int, payload: object,
                  headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, default=_json_default).encode()
    return Response(status, body, "application/json", dict(headers or {}))


def html_response(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/html; charset=utf-8")


def form_flag(value: Any) -> bool:
    """A switch in a form or JSON body: ``1`` or ``true`` turn it on."""
    return str(value).strip().lower() in ("1", "true")


@dataclass(frozen=True)
class ReceivedPayment:
    """Money that arrived at a simulated gateway, whatever became of the sale it was for."""

    tx_id: str                        # the kiosk's transaction id the payment was made under
    amount: Decimal                   # everything that arrived, confirmed or not, in ``asset``
    asset: str                        # the coin (MixPay, WCT Pay) or currency (Centrapay)


class Simulator(Protocol):
    def handle(self, request: Request) -> Response: ...

    def received(self) -> list[ReceivedPayment]:
        """Every payment some money arrived for, oldest first."""
        ...


FAULT_KINDS = ("http_500", "http_502", "http_503", "http_504", "malformed_json", "timeout",
               "rate_limit", "no_answer")


@dataclass(frozen=True)
class Fault:
    """A scripted failure for the next matching request to a mount (5xx bursts, hangs...).

    ``timeout`` holds the request ``hang_s`` seconds before answering 504, so a client with a
    shorter read timeout gives up first; ``rate_limit`` answers 429 with ``Retry-After``;
    ``no_answer`` closes the connection without a reply, as a gateway that is down does.
    """

    kind: str
    path: str = ""                    # only requests whose path below the mount contains this
    method: str = ""                  # only this method ("GET"), or any
    hang_s: float = 15.0
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {', '.join(FAULT_KINDS)}")

    def response(self) -> Response | None:
        """The reply to send; None: hang up without one."""
        if self.kind == "no_answer":
            return None
        if self.kind == "malformed_json":
            return Response(200, b'{"status": "ok", "data": {', "application/json")
        if self.kind == "rate_limit":
            return json_response(429, {"statusCode": 429, "message": "RATE_LIMIT_EXCEEDED"},
                                 {"Retry-After": str(self.retry_after_s)})
        if self.kind == "timeout":
            time.sleep(self.hang_s)
            return json_response(504, {"error": "gateway timeout"})
        status = int(self.kind.removeprefix("http_"))
        return json_response(status, {"error": f"simulated {status}"})


class _HTTPServer(ThreadingHTTPServer):
    """Remembers open connections so that stopping also ends idle keep-alive connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open_lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its reply (a kiosk that timed out, stopped or was
        killed) is normal here: one debug line, not socketserver's traceback on stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.debug("sandbox: %s hung up before its reply (%s)", client_address[0], error)
            return
        log.exception("sandbox: a request from %s failed", client_address[0])

    def close_connections(self) -> None:
        with self._open_lock:
            for connection in self._open:
                with contextlib.suppress(OSError):      # the peer may already have gone
                    connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """A threaded HTTP server on a daemon thread that dispatches to mounted simulators."""

    def __init__(self, host: str, port: int, mounts: Mapping[str, Simulator],
                 clock: Callable[[], float] = time.time) -> None:
        self._address = (host, port)
        self._clock = clock
        self._mounts = dict(mounts)            # "mixpay" -> simulator
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._log_lock = threading.Lock()
        self._log: list[str] = []
        self._faults: dict[str, deque[Fault]] = {name: deque() for name in self._mounts}
        # Faults that hit every matching request until a time (clock) passes: outages.
        self._windows: dict[str, list[tuple[Fault, float]]] = {name: [] for name in self._mounts}

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        if name == "0.0.0.0":  # on every interface: this machine reaches it on loopback
            name = "127.0.0.1"
        return f"http://{name}:{port}"

    @property
    def request_log(self) -> tuple[str, ...]:
        """Every request seen so far, as ``"GET /mixpay/v1/payments_result"`` (no query)."""
        with self._log_lock:
            return tuple(self._log)

    def inject(self, mount: str, fault: Fault, count: int = 1) -> None:
        """Make the next ``count`` matching requests to ``mount`` fail as ``fault`` says."""
        if mount not in self._faults:
            raise KeyError(f"nothing is mounted at /{mount}")
        with self._log_lock:
            self._faults[mount].extend([fault] * count)

    def inject_for(self, mount: str, fault: Fault, seconds: float) -> None:
        """Make every matching request to ``mount`` fail as ``fault`` says for ``seconds``."""
        if mount not in self._windows:
            raise KeyError(f"nothing is mounted at /{mount}")
        with self._log_lock:
            self._windows[mount].append((fault, self._clock() + seconds))

    def _take_fault(self, mount: str, method: str, path: str) -> Fault | None:
        with self._log_lock:
            queue = self._faults[mount]
            for fault in queue:
                if _matches(fault, method, path):
                    queue.remove(fault)
                    return fault
            now = self._clock()
            windows = self._windows[mount] = [w for w in self._windows[mount] if now < w[1]]
            return next((fault for fault, _ in windows if _matches(fault, method, path)), None)

    def start(self) -> None:
        if self._httpd is not None:
            return
        httpd = _HTTPServer(self._address, _handler_for(self))
        self._httpd = httpd
        # A short poll interval makes stop() quick (serve_forever notices shutdown per poll).
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,),
                                        name="gateway-sandbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def dispatch(self, request_line: tuple[str, str], headers: Mapping[str, str], body: bytes,
                 client: str) -> Response | None:
        """The reply to one request; None: hang up without one (a scripted fault)."""
        method, target = request_line
        parts = urlsplit(target)
        with self._log_lock:
            self._log.append(f"{method} {parts.path}")
        name, _, rest = parts.path.lstrip("/").partition("/")
        simulator = self._mounts.get(name)
        if simulator is None:
            return json_response(404, {"error": f"nothing is mounted at /{name}"})
        fault = self._take_fault(name, method, f"/{rest}")
        if fault is not None:
            return fault.response()
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(method, f"/{name}", f"/{rest}", query, headers, body, client)
        try:
            return simulator.handle(request)
        except Exception:                      # a simulator bug must not kill the server thread
            log.exception("sandbox simulator /%s failed on %s %s", name, method, parts.path)
            return json_response(500, {"error": "simulator error"})


def _matches(fault: Fault, method: str, path: str) -> bool:
    return fault.path in path and fault.method in ("", method)


def _handler_for(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"          # keep-alive, as a real gateway offers
        disable_nagle_algorithm = True         # headers and body are two writes: no 40 ms stall
        server_version = "kiosk-sandbox"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self.close_connection = True       # the unread body would poison keep-alive
                self._send(json_response(413 if length > 0 else 400,
                                         {"error": "bad or oversized Content-Length"}))
                return
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = server.dispatch((self.command, self.path), headers, body,
                                       self.client_address[0])
            if response is None:
                self.close_connection = True       # nothing sent: the client sees a hang-up
                return
            self._send(response)

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

    return Handler
