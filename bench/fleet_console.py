"""The fleet console against a real mosquitto and a simulated fleet: ingest rate with zero loss,
sale-to-API latency, machines connected.

Starts ``/usr/sbin/mosquitto`` (one plain listener on a free loopback port, ``user root``,
anonymous, ``max_connections -1``, ``sys_interval 1``, a deep queue for the console's session)
and the real console as a child process (``vending-fleet serve`` on SQLite in a temporary
directory, a key from ``vending-fleet keygen``, an operator from ``vending-fleet add-user``).
Then, in this process:

- the simulated fleet (``vending_fleet.simulator``): ``--machines`` machines, each its own MQTT
  connection with client id = machine id, all on one thread (paho's external-loop API), selling
  at ``--rate`` sale events a second in total (a sale is 6 events plus a retained state) for
  ``--duration`` seconds once every machine is connected;
- a logged-in operator's HTTP client polling ``/api/sales?since=...`` every ``--poll-ms``: each
  sale's latency is from the ``at`` the machine stamped just before publishing its
  ``vend_result`` to the first poll that returned it (so it includes up to one poll interval);
- mosquitto's ``$SYS/broker/clients/connected`` every second.

Figures: (1) ingest: events published (each acknowledged by the broker) over the time from the
first sale until the console's SQLite file holds every one of them (a read-only count of
distinct event ids); zero loss means stored == published. (2) p99 sale-to-API latency.
(3) simulated machines connected, held for the whole run (the lowest count while selling, the
simulator's own; the broker's count is shown beside it). Also the console process's CPU.
"""

from __future__ import annotations

import os
import re
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from _common import CLK_TCK, PYTHON, REPO, Metric, base_parser, cpu_ticks, fmt, percentile, \
    report

MOSQUITTO = "/usr/sbin/mosquitto"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
USER, PASSWORD = "bench", "bench-password"


class AtLeast(Metric):
    """A figure that must reach its target (a rate, a count)."""

    def passed(self) -> bool | None:
        if self.target is None or not self.samples:
            return None
        return self.value() >= self.target

    def target_text(self) -> str:
        return "-" if self.target is None else f">= {fmt(self.target)} {self.unit}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def wait_port(port: int, timeout_s: float, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s} s")


@contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join([
        "user root", f"listener {port} 127.0.0.1", "allow_anonymous true",
        "max_connections -1", "persistence false", "sys_interval 1",
        # the console's kept session queues what it has not taken yet: never drop for depth
        "max_queued_messages 0", "max_queued_bytes 0", "max_inflight_messages 100",
        "log_dest stderr", "log_type error", "log_type warning", ""]))
    log = (workdir / "mosquitto.log").open("wb")
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_port(port, 10, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def cli(*args: str, stdin: str = "") -> str:
    result = subprocess.run([PYTHON, "-m", "vending_fleet.cli", *args], input=stdin,
                            capture_output=True, text=True, timeout=60, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    if result.returncode != 0:
        raise RuntimeError(f"vending-fleet {args[0]}: {result.stderr[-2000:]}")
    return result.stdout


@contextmanager
def console(workdir: Path, broker_port: int) -> Iterator[tuple[subprocess.Popen[Any], int, Path]]:
    """``vending-fleet serve`` as a child: (process, web port, database file)."""
    port = free_port()
    database = workdir / "console.db"
    cli("keygen", str(workdir / "fleet-key.pem"))
    config = workdir / "console.toml"
    config.write_text(f'[console]\nlisten = "127.0.0.1:{port}"\n'
                      f'database = "sqlite:///{database}"\nsigning_key = "fleet-key.pem"\n'
                      f'secure_cookies = false\n\n[broker]\n'
                      f'url = "mqtt://127.0.0.1:{broker_port}"\nclient_id = "bench-console"\n')
    cli("add-user", USER, "--role", "operator", "--config", str(config), "--password-stdin",
        stdin=PASSWORD + "\n")
    log = (workdir / "console.log").open("wb")
    process = subprocess.Popen([PYTHON, "-m", "vending_fleet.cli", "serve", "--config",
                                str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_port(port, 30, process)
        yield process, port, database
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class BrokerCount:
    """mosquitto's $SYS/broker/clients/connected, as it publishes it (every second)."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.value = 0
        self.samples: list[int] = []
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sys",
                             protocol=mqtt.MQTTv311)
        client.on_connect = lambda c, *_: c.subscribe("$SYS/broker/clients/connected")
        client.on_message = self._message
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client

    def _message(self, _client: Any, _userdata: Any, message: Any) -> None:
        try:
            self.value = int(message.payload)
        except ValueError:
            return
        self.samples.append(self.value)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class SalePoller:
    """An operator's client polling /api/sales; the latency of each sale first seen."""

    def __init__(self, port: int, since: datetime, poll_s: float) -> None:
        import httpx

        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        form = self.client.get("/login")
        token = CSRF.search(form.text)
        assert token is not None, form.text[:300]
        answer = self.client.post("/login", data={"name": USER, "password": PASSWORD,
                                                  "csrf": token.group(1)})
        assert answer.status_code == 303, answer.text[:300]
        self.start = since
        self.cursor = since.timestamp()       # polls ask for sales from 1 s before the newest
        self.poll_s = poll_s
        self.missed = 0                       # found only by the final sweep
        self.seen: dict[str, float] = {}
        self.latencies: list[float] = []
        self.polls = 0
        self.poll_times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            since = datetime.fromtimestamp(self.cursor - 1.0, timezone.utc).isoformat()
            try:
                sales = self.client.get("/api/sales", params={"since": since,
                                                              "limit": "5000"}).json()
            except Exception as exc:  # noqa: BLE001 - a bench: note it, go on
                print(f"poll failed: {exc!r}", file=sys.stderr)
                sales = []
            now = time.time()
            self.polls += 1
            self.poll_times.append(time.monotonic() - started)
            self._note(sales, now)
            self._stop.wait(max(0.0, self.poll_s - (time.monotonic() - started)))

    def _note(self, sales: list[dict[str, Any]], now: float) -> int:
        new = 0
        for sale in sales:
            if sale["event_id"] not in self.seen:
                at = datetime.fromisoformat(sale["at"]).timestamp()
                self.seen[sale["event_id"]] = now
                self.latencies.append(now - at)
                self.cursor = max(self.cursor, at)
                new += 1
        return new

    def stop(self) -> None:
        """Stop polling; a last sweep over the whole run finds any sale the polls missed
        (its latency then counts up to now: an upper bound)."""
        self._stop.set()
        self._thread.join(15)
        sales = self.client.get("/api/sales", params={"since": self.start.isoformat()}).json()
        self.missed = self._note(sales, time.time())
        self.client.close()


def stored_events(database: Path) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT count(*) FROM events WHERE machine LIKE 'sim-%'").fetchone()
        return int(row[0])
    except sqlite3.Error:
        return -1


BATCH = 200


def ingest_alone(count: int) -> float:
    """Events/s through ``Ingester.handle_batch`` into a fresh SQLite store, in this thread,
    in batches as the service's ingest queue makes them under load."""
    import json
    import uuid

    from vending_fleet.hub import Hub
    from vending_fleet.ingest import Ingester
    from vending_fleet.store import open_store

    kinds = (("payment_requested", "creating"), ("payment_created", "awaiting"),
             ("paid_verified", "paid"), ("vend_started", "vending"),
             ("vend_dispensing", "vending"), ("vend_result", "vended"))
    messages = []
    for n in range(count // len(kinds)):
        machine, tx = f"sim-{n % 100:04d}", str(uuid.uuid4())
        for seq, (kind, status) in enumerate(kinds, n * len(kinds) + 1):
            messages.append((f"vk/v1/{machine}/event", json.dumps({
                "id": f"0123456789ab-{seq}", "machine": machine, "group": "sale",
                "kind": kind, "at": datetime.now(timezone.utc).isoformat(), "tx": tx,
                "status": status, "slot": "A1", "item": "Water", "amount": "2.50",
                "currency": "USD", "gateway": "mixpay", "asset": "BTC",
                "detail": {}}).encode()))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        store = open_store(f"sqlite:///{tmp}/console.db")
        ingester = Ingester(store, Hub())
        started = time.perf_counter()
        now = datetime.now(timezone.utc)
        for first in range(0, len(messages), BATCH):   # as the service's ingest queue does
            ingester.handle_batch([(topic, payload, now)
                                   for topic, payload in messages[first:first + BATCH]])
        elapsed = time.perf_counter() - started
        store.close()
    return len(messages) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--machines", type=int)
    parser.add_argument("--rate", type=float, help="sale events/s offered by the whole fleet")
    parser.add_argument("--duration", type=float, help="seconds of selling")
    parser.add_argument("--poll-ms", type=float, default=100.0)
    args = parser.parse_args(argv)
    machines = args.machines or (50 if args.quick else 1000)
    rate = args.rate or (600.0 if args.quick else 2400.0)
    duration = args.duration or (4.0 if args.quick else 30.0)
    if not os.path.exists(MOSQUITTO):
        print(f"{MOSQUITTO} is missing (apt-get install mosquitto)", file=sys.stderr)
        return 2
    fd_limit = raise_fd_limit(machines * 3 + 1024)   # children (mosquitto) inherit it

    from vending_fleet.simulator import EVENTS_PER_SALE, SimOptions, Simulator

    with tempfile.TemporaryDirectory(prefix="bench-fleet-console-") as tmp:
        workdir = Path(tmp)
        with mosquitto(workdir) as broker_port, \
                console(workdir, broker_port) as (process, web_port, database):
            broker = BrokerCount(broker_port)
            simulator = Simulator(SimOptions(f"mqtt://127.0.0.1:{broker_port}",
                                             machines=machines, rate=rate, seed=1))
            started = time.monotonic()
            simulator.start()
            connected_all = simulator.wait_connected(timeout_s=60)
            connect_s = time.monotonic() - started
            while simulator.stats.selling_since == 0.0 and time.monotonic() - started < 90:
                time.sleep(0.01)
            poller = SalePoller(web_port, datetime.now(timezone.utc) - timedelta(seconds=5),
                                args.poll_ms / 1000)
            ticks0, first_sale = cpu_ticks(process.pid), time.monotonic()
            held: list[int] = []
            broker_held: list[int] = []
            while time.monotonic() - first_sale < duration:
                time.sleep(0.25)
                held.append(simulator.stats.connected)
                broker_held.append(broker.value)
            simulator.stop_selling()
            sell_end = time.monotonic()
            simulator.wait_acked(60)      # every event the broker has taken
            simulator.stop()              # a goodbye status from each, then DISCONNECT
            published = simulator.stats.events_published
            acked = simulator.stats.events_acked
            deadline = sell_end + max(60.0, duration * 2)
            stored = stored_events(database)
            while stored < published and time.monotonic() < deadline:
                time.sleep(0.1)
                stored = stored_events(database)
            all_stored = time.monotonic()
            ticks1 = cpu_ticks(process.pid)
            expected_sales = simulator.stats.sales
            while len(poller.seen) < expected_sales and time.monotonic() < deadline:
                time.sleep(0.1)
            poller.stop()
            broker.close()
            console_ok = process.poll() is None

    alone = ingest_alone(3000 if args.quick else 12000)
    ingest_s = all_stored - first_sale
    ingest_rate = stored / ingest_s if ingest_s > 0 else 0.0
    offered = published / max(sell_end - first_sale, 1e-9)
    latencies = sorted(poller.latencies)
    cpu_pct = (ticks1 - ticks0) / CLK_TCK / max(ingest_s, 1e-9) * 100

    metrics = [
        AtLeast("ingest_events_per_s", "ingest, events/s until all stored (zero loss)", "/s",
                [ingest_rate] if stored == published else [0.0], 2000.0,
                note=f"{stored} of {published} events stored ({acked} acknowledged to the "
                     f"machines), offered at {offered:.0f}/s"),
        Metric("sale_to_api_p99", "sale publish to visible in /api/sales (p99)", "ms",
               [percentile(latencies, 99) * 1000] if latencies else [], 1000.0, stat="max",
               note=f"{len(latencies)} sales ({poller.missed} found only by the final sweep); "
                    f"poll every {args.poll_ms:g} ms"),
        Metric("sale_to_api_p50", "sale publish to visible in /api/sales (p50)", "ms",
               [percentile(latencies, 50) * 1000] if latencies else []),
        AtLeast("machines_connected", "simulated machines connected (held)", "",
                [float(min(held))] if held else [], float(1000 if not args.quick else machines),
                note=f"broker's count (console and bench clients included): "
                     f"{min(broker_held) if broker_held else 'n/a'}..."
                     f"{max(broker_held) if broker_held else 'n/a'}"),
        AtLeast("ingest_alone", "ingest path alone: Ingester + SQLite, no broker", "/s",
                [alone], None, note="one thread feeding Ingester.handle sale events as fast as "
                                    "it takes them, the database in the system's temp dir"),
        Metric("connect_s", f"time to connect {machines} machines", "s", [connect_s]),
        Metric("console_cpu", "console process CPU while ingesting", "%", [cpu_pct]),
    ]
    details = [
        f"{machines} machines, {rate:g} events/s offered ({EVENTS_PER_SALE} events a sale, "
        f"plus a retained state each), {duration:g} s of selling; SQLite store; "
        f"fd limit {fd_limit}",
        f"published {published}, acknowledged {acked}, stored {stored}, sales "
        f"{simulator.stats.sales}, seen in the API {len(poller.seen)}; all connected: "
        f"{connected_all}; the console still running at the end: {console_ok}",
        f"API polls: {poller.polls}, p50 {percentile(sorted(poller.poll_times), 50) * 1000:.0f} "
        f"ms each",
    ]
    report("fleet console: ingest, sale latency, machines", metrics, details, args.json,
           {"published": published, "stored": stored})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except (RuntimeError, OSError) as exc:
        print(f"fleet_console.py: {exc}", file=sys.stderr)
        sys.exit(2)
