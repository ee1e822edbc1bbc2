"""The fleet link against a real mosquitto: event latency, outbox throughput, idle cost.

Starts ``/usr/sbin/mosquitto`` with a config of its own (one plain listener on a free loopback
port, anonymous, no persistence, ``user root``) in a temporary directory, then drives the real
``kiosk.fleet.link.FleetLink`` over a real on-disk ``Journal`` (WAL, ``synchronous=FULL``: every
commit and every outbox delete is an fsync of this machine's disk).

- latency: N ``journal.operator_event("bench", {"i": i})`` calls, one every ``--interval-ms``,
  the link started and connected. Each event is timed from just before the journal call to:
  the journal call returning (its commit), the link handing the PUBACK'd row to
  ``journal.outbox_sent`` (PUBACK seen), that call returning (the row has left the outbox), and
  its arrival at a console subscriber (a paho client in this process, QoS 1, its own network
  thread). ``outbox_batch`` and ``outbox_sent`` are wrapped on the journal instance to map
  rows to events and to timestamp deletions; nothing in the link is patched.
- throughput, burst: ``--burst`` events written as fast as the journal takes them while the link
  publishes; time from the first journal call until every one has left the outbox. The link
  thread's CPU over the burst (``/proc/self/task/<tid>/schedstat``) is shown per event.
- throughput, backlog: the same number of events already in the outbox of a fresh journal
  before the link starts (a broker that was away); time from ``start()`` (connect included)
  until the outbox is empty.
- idle: two child processes idle side by side for ``--idle-s``: one opens a journal and starts
  a FleetLink connected to the broker (importing ``kiosk.fleet.link`` and
  ``kiosk.fleet.commands``, i.e. paho and cryptography, as ``kiosk.fleet.start`` does), the other
  only opens a journal. CPU % of one core of each from ``/proc/<pid>/stat`` (utime+stime, clock
  ticks) and per-thread ``schedstat`` (ns), context switches per second, and RSS/USS from
  ``/proc/<pid>/smaps_rollup``; the link's cost is the difference. The link turns at least
  every ``IDLE_WAIT_S`` (5 s) and pings the broker every ``keepalive_s`` (15 s by default).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    CLK_TCK,
    PYTHON,
    REPO,
    Metric,
    base_parser,
    cpu_ticks,
    fmt,
    memory_kb,
    percentile,
    report,
    thread_stats,
)

TITLE = "fleet link: event latency to the broker, outbox throughput, idle cost"
MOSQUITTO = "/usr/sbin/mosquitto"
PREFIX = "vk/v1"
MACHINE = "bench-0001"
CPU_TARGET_PCT = 0.05
RSS_TARGET_MB = 5.0
WAIT_S = 60.0
# idle children, each with the kiosk's modules and a journal: no more; + kiosk.fleet.link
# imported (paho); + kiosk.fleet.commands; + the link started and connected
IDLE_MODES = ("bare", "paho", "imports", "link")
IDLE_LABELS = {"paho": "kiosk.fleet.link imported", "imports": "and kiosk.fleet.commands",
               "link": "and the link started"}

MOSQUITTO_CONF = """\
user root
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
log_dest file {log}
log_type error
log_type warning
"""


# ---------------------------------------------------------------- the broker


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    """A mosquitto on a free loopback port, killed on the way out; yields the port."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    log_path = workdir / "mosquitto.log"
    conf.write_text(MOSQUITTO_CONF.format(port=port, log=log_path))
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = process.stderr.read() if process.stderr else ""
                    log = log_path.read_text() if log_path.exists() else ""
                    raise RuntimeError(f"mosquitto did not start: {err}{log}") from None
                time.sleep(0.02)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- the link in this process


class Observer:
    """The least a kiosk could report: in service, an empty state."""

    def service(self) -> tuple[bool, str]:
        return True, ""

    def state(self) -> dict[str, Any]:
        return {}


@dataclass
class Timeline:
    """Per event ``i``: when it was written, acknowledged, deleted and seen at the console."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seq_to_i: dict[int, int] = field(default_factory=dict)
    called: dict[int, float] = field(default_factory=dict)       # before operator_event
    committed: dict[int, float] = field(default_factory=dict)    # operator_event returned
    acked: dict[int, float] = field(default_factory=dict)        # outbox_sent called
    deleted: dict[int, float] = field(default_factory=dict)      # outbox_sent returned
    console: dict[int, float] = field(default_factory=dict)      # arrived at the subscriber
    delete_calls: int = 0
    delete_s: float = 0.0
    batches: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    expect: set[int] = field(default_factory=set)

    def expect_only(self, wanted: set[int]) -> None:
        with self.lock:
            self.expect = set(wanted) - set(self.deleted)
            self.done.clear()
            if not self.expect:
                self.done.set()


def instrument(journal: Any, timeline: Timeline) -> None:
    """Wrap the journal's outbox reads and deletes (on the instance, for the link's calls)."""
    batch, sent = journal.outbox_batch, journal.outbox_sent

    def outbox_batch(limit: int, after: int = 0) -> Any:
        rows = batch(limit, after)
        with timeline.lock:
            timeline.batches += 1
            for row in rows:
                if row.payload.get("kind") == "bench":
                    timeline.seq_to_i[row.seq] = int(row.payload["detail"]["i"])
        return rows

    def outbox_sent(seqs: list[int]) -> None:
        t_ack = time.monotonic()
        sent(seqs)
        t_gone = time.monotonic()
        with timeline.lock:
            timeline.delete_calls += 1
            timeline.delete_s += t_gone - t_ack
            for seq in seqs:
                i = timeline.seq_to_i.get(seq)
                if i is None:
                    continue
                timeline.acked[i] = t_ack
                timeline.deleted[i] = t_gone
                timeline.expect.discard(i)
            if not timeline.expect:
                timeline.done.set()

    journal.outbox_batch = outbox_batch
    journal.outbox_sent = outbox_sent


class Console:
    """A paho subscriber on the machine's ``event`` topic, recording each bench event's arrival."""

    def __init__(self, port: int, timeline: Timeline) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._timeline = timeline
        self._subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-console")
        client.on_connect = lambda c, *_: c.subscribe(f"{PREFIX}/{MACHINE}/event", qos=1)
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._message
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(10):
            raise RuntimeError("the console could not subscribe")

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.monotonic()
        body = json.loads(message.payload)
        if body.get("kind") == "bench":
            with self._timeline.lock:
                self._timeline.console.setdefault(int(body["detail"]["i"]), now)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def make_link(journal: Any, port: int, machine: str = MACHINE) -> Any:
    from kiosk.config.fleet import Broker, FleetConfig
    from kiosk.fleet.link import FleetLink, Identity

    config = FleetConfig(brokers=(Broker("127.0.0.1", port, False),))
    return FleetLink(config, Identity(machine, "bench"), journal, Observer())


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.005)


def thread_cpu_ns(native_id: int | None) -> int:
    if native_id is None:
        return 0
    try:
        return int(Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class InProcess:
    latency: dict[str, list[float]]           # stage -> ms per event
    lost_at_console: int
    burst_events: int
    burst_write_s: float
    burst_total_s: float
    burst_link_cpu_us: float                  # link thread CPU per event
    burst_deletes: int
    burst_delete_ms: float
    backlog_total_s: float
    backlog_deletes: int
    batches: int
    fill_ms: list[float]                      # journal write time while the backlog grows


def run_in_process(port: int, workdir: Path, events: int, interval_s: float,
                   burst: int) -> InProcess:
    from kiosk.journal import Journal

    timeline = Timeline()
    journal = Journal.open_in(workdir / "latency")
    instrument(journal, timeline)
    console = Console(port, timeline)
    link = make_link(journal, port)
    try:
        link.start()
        wait_until(lambda: link.problem == "", "the link to connect")
        wait_until(lambda: journal.outbox_size() == 0, "the first status and state")

        # 1. latency, one event at a time
        timeline.expect_only(set(range(events)))
        for i in range(events):
            timeline.called[i] = time.monotonic()
            journal.operator_event("bench", {"i": i})
            timeline.committed[i] = time.monotonic()
            time.sleep(interval_s)
        if not timeline.done.wait(WAIT_S):
            raise RuntimeError("latency events never left the outbox")
        try:
            wait_until(lambda: len(timeline.console) >= events, "the console", 5.0)
        except RuntimeError:
            pass                           # reported as "not seen"
        latency: dict[str, list[float]] = {"commit": [], "puback": [], "deleted": [],
                                           "console": [], "delete": []}
        with timeline.lock:
            for i in range(events):
                t0 = timeline.called[i]
                latency["commit"].append(1000 * (timeline.committed[i] - t0))
                latency["puback"].append(1000 * (timeline.acked[i] - t0))
                latency["deleted"].append(1000 * (timeline.deleted[i] - t0))
                latency["delete"].append(1000 * (timeline.deleted[i] - timeline.acked[i]))
                if i in timeline.console:
                    latency["console"].append(1000 * (timeline.console[i] - t0))
        lost = events - len(latency["console"])

        # 2a. burst while the link publishes
        first = 1_000_000
        wanted = set(range(first, first + burst))
        timeline.expect_only(wanted)
        calls0, delete0 = timeline.delete_calls, timeline.delete_s
        cpu0 = thread_cpu_ns(link._thread.native_id)
        t0 = time.monotonic()
        for i in range(first, first + burst):
            journal.operator_event("bench", {"i": i})
        t_written = time.monotonic()
        if not timeline.done.wait(WAIT_S * 3):
            raise RuntimeError("the burst never left the outbox")
        t_empty = max(timeline.deleted[i] for i in wanted)
        cpu1 = thread_cpu_ns(link._thread.native_id)
        deletes = timeline.delete_calls - calls0
        delete_ms = 1000 * (timeline.delete_s - delete0) / max(1, deletes)
    finally:
        link.stop()
        console.close()
        journal.close()

    # 2b. a backlog waiting for a link that starts (a fresh journal and client id)
    timeline2 = Timeline()
    journal2 = Journal.open_in(workdir / "backlog")
    instrument(journal2, timeline2)
    link2 = make_link(journal2, port, machine=f"{MACHINE}-backlog")
    fill_ms = []
    try:
        for i in range(burst):
            t_write = time.monotonic()
            journal2.operator_event("bench", {"i": i})
            fill_ms.append(1000 * (time.monotonic() - t_write))
        timeline2.expect_only(set(range(burst)))
        t_start = time.monotonic()
        link2.start()
        if not timeline2.done.wait(WAIT_S * 3):
            raise RuntimeError("the backlog never left the outbox")
        backlog_s = max(timeline2.deleted.values()) - t_start
    finally:
        link2.stop()
        journal2.close()

    return InProcess(latency, lost, burst, t_written - t0, t_empty - t0,
                     (cpu1 - cpu0) / 1000 / burst, deletes, delete_ms, backlog_s,
                     timeline2.delete_calls, timeline.batches, fill_ms)


# ---------------------------------------------------------------- idle, in child processes


def idle_child(mode: str, port: int, data_dir: Path) -> int:
    """What a child runs: the kiosk's modules (what a kiosk without a fleet has loaded: httpx
    and ssl for the gateways, pygame, the runtime) and a journal, with or without a started
    link; then idles until its stdin closes. Prints one JSON line when ready and one on the
    way out."""
    sys.path.insert(0, str(REPO))
    import kiosk.session  # noqa: F401  (the kiosk without a fleet)
    from kiosk.journal import Journal

    journal = Journal.open_in(data_dir)
    link = None
    if mode in ("paho", "imports", "link"):
        import kiosk.fleet.link  # noqa: F401  (paho)
    if mode in ("imports", "link"):
        import kiosk.fleet.commands  # noqa: F401  (cryptography, as kiosk.fleet.start imports)
    if mode == "link":
        link = make_link(journal, port, machine=f"{MACHINE}-idle")
        link.start()
        wait_until(lambda: link.problem == "", "the link to connect")
        wait_until(lambda: journal.outbox_size() == 0, "the first status and state")
    print(json.dumps({"ready": mode, "pid": os.getpid()}), flush=True)
    sys.stdin.read()                       # idle: the parent closes stdin to end it
    if link is not None:
        link.stop()
    journal.close()
    return 0


@dataclass
class Idle:
    mode: str
    seconds: float
    cpu_pct: float
    cpu_pct_schedstat: float
    switches_per_s: float
    memory: dict[str, int]


def run_idle(port: int, workdir: Path, seconds: float, settle_s: float) -> dict[str, Idle]:
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for mode in IDLE_MODES:
            children[mode] = subprocess.Popen(
                [PYTHON, str(Path(__file__).resolve()), "--idle-child", mode, "--port",
                 str(port), "--data", str(workdir / f"idle-{mode}")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        for mode, child in children.items():
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                raise RuntimeError(f"the {mode} idle child did not start")
        time.sleep(settle_s)
        pids = {mode: child.pid for mode, child in children.items()}
        before = {m: (cpu_ticks(p), thread_stats(p)) for m, p in pids.items()}
        t0 = time.monotonic()
        time.sleep(seconds)
        after = {m: (cpu_ticks(p), thread_stats(p)) for m, p in pids.items()}
        wall = time.monotonic() - t0
        result = {}
        for mode, pid in pids.items():
            (ticks0, tasks0), (ticks1, tasks1) = before[mode], after[mode]
            run_ns = switches = 0
            for tid, (_, run1, sw1) in tasks1.items():
                _, run0, sw0 = tasks0.get(tid, ("", 0, 0))
                run_ns += run1 - run0
                switches += sw1 - sw0
            result[mode] = Idle(mode, wall, 100 * (ticks1 - ticks0) / CLK_TCK / wall,
                                100 * run_ns / 1e9 / wall, switches / wall, memory_kb(pid))
        return result
    finally:
        for child in children.values():
            if child.stdin is not None:
                child.stdin.close()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


# ---------------------------------------------------------------- main


def p99_metric(key: str, label: str, values: list[float]) -> Metric:
    """The 99th percentile as one figure (``Metric`` knows median, p95 and max)."""
    return Metric(key, label, "ms", [percentile(sorted(values), 99)] if values else [])


def stats_text(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"p50 {fmt(percentile(ordered, 50))}, p99 {fmt(percentile(ordered, 99))}, "
            f"max {fmt(ordered[-1])} ms")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--events", type=int, default=None,
                        help="latency events, one at a time (default 1000, quick 100)")
    parser.add_argument("--interval-ms", type=float, default=5.0,
                        help="pause between latency events (default 5)")
    parser.add_argument("--burst", type=int, default=None,
                        help="events in the throughput burst and backlog (default 5000, quick 500)")
    parser.add_argument("--idle-s", type=float, default=None,
                        help="idle measuring window (default 30, quick 3)")
    parser.add_argument("--idle-child", choices=IDLE_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.idle_child:
        return idle_child(args.idle_child, args.port, args.data)
    events = args.events or (100 if args.quick else 1000)
    burst = args.burst or (500 if args.quick else 5000)
    idle_s = args.idle_s or (3.0 if args.quick else 30.0)
    if not Path(MOSQUITTO).exists():
        print(f"{MOSQUITTO} is missing (apt-get install mosquitto)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        workdir = Path(tmp)
        with mosquitto(workdir) as port:
            measured = run_in_process(port, workdir, events, args.interval_ms / 1000, burst)
            idle = run_idle(port, workdir, idle_s, settle_s=0.5 if args.quick else 2.0)

    lat = measured.latency
    link, bare = idle["link"], idle["bare"]
    tenth = max(1, len(measured.fill_ms) // 10)
    fill_first = statistics.mean(measured.fill_ms[:tenth])
    fill_last = statistics.mean(measured.fill_ms[-tenth:])
    rss_mb = (link.memory["Rss"] - bare.memory["Rss"]) / 1024
    uss_mb = (link.memory["Private"] - bare.memory["Private"]) / 1024

    def ms_metric(key: str, label: str, stage: str, stat: str) -> Metric:
        return Metric(key, label, "ms", lat[stage], stat=stat)

    metrics = [
        Metric("idle_cpu_link_pct", "idle CPU added by the link", "%",
               [max(0.0, link.cpu_pct_schedstat - bare.cpu_pct_schedstat)],
               target=CPU_TARGET_PCT,
               note=f"schedstat, {fmt(link.seconds)} s window; /proc/<pid>/stat ticks: "
                    f"{fmt(link.cpu_pct)}% with the link, {fmt(bare.cpu_pct)}% without "
                    f"(one tick = {fmt(100 / CLK_TCK / link.seconds)}%)"),
        Metric("idle_rss_link_mb", "RSS added by the link (paho, its thread)", "MB",
               [rss_mb], target=RSS_TARGET_MB,
               note=f"{fmt(link.memory['Rss'] / 1024)} MB with, {fmt(bare.memory['Rss'] / 1024)}"
                    f" MB without; USS added {fmt(uss_mb)} MB"),
        ms_metric("puback_p50_ms", "journal event to PUBACK (p50)", "puback", "median"),
        p99_metric("puback_p99_ms", "journal event to PUBACK (p99)", lat["puback"]),
        ms_metric("deleted_p50_ms", "journal event to row deleted (p50)", "deleted", "median"),
        p99_metric("deleted_p99_ms", "journal event to row deleted (p99)", lat["deleted"]),
        ms_metric("deleted_max_ms", "journal event to row deleted (max)", "deleted", "max"),
        ms_metric("console_p50_ms", "journal event to console subscriber (p50)", "console",
                  "median"),
        p99_metric("console_p99_ms", "journal event to console subscriber (p99)",
                   lat["console"]),
        Metric("burst_rate", "burst: events/s until the outbox is empty", "/s",
               [measured.burst_events / measured.burst_total_s]),
        Metric("backlog_rate", "backlog: events/s from link start to empty outbox", "/s",
               [measured.burst_events / measured.backlog_total_s]),
        Metric("burst_link_cpu_us", "link thread CPU per event (burst)", "us",
               [measured.burst_link_cpu_us]),
        Metric("idle_wakeups_link", "context switches/s, idle child with the link", "/s",
               [link.switches_per_s]),
    ]
    details = [
        f"latency: {len(lat['puback'])} events, one every {fmt(args.interval_ms)} ms "
        f"(plus the commit); mosquitto {mosquitto_version()} on 127.0.0.1",
        f"  journal commit (operator_event):  {stats_text(lat['commit'])}",
        f"  to PUBACK seen by the link:       {stats_text(lat['puback'])}",
        f"  to row deleted from the outbox:   {stats_text(lat['deleted'])}",
        f"  PUBACK to deleted (outbox_sent):  {stats_text(lat['delete'])}",
        f"  to the console subscriber:        {stats_text(lat['console'])}"
        + (f" ({measured.lost_at_console} not seen)" if measured.lost_at_console else ""),
        f"burst: {measured.burst_events} events written in {fmt(measured.burst_write_s)} s "
        f"({fmt(measured.burst_events / measured.burst_write_s)}/s, the journal's own pace), "
        f"outbox empty after {fmt(measured.burst_total_s)} s; {measured.burst_deletes} "
        f"outbox_sent calls ({fmt(measured.burst_events / max(1, measured.burst_deletes))} "
        f"rows each, {fmt(measured.burst_delete_ms)} ms each)",
        f"backlog: {measured.burst_events} rows drained in {fmt(measured.backlog_total_s)} s "
        f"(connect included), {measured.backlog_deletes} outbox_sent calls; while it grew, "
        f"a journal write took {fmt(fill_first)} ms (first tenth) .. {fmt(fill_last)} ms "
        f"(last tenth, {len(measured.fill_ms)} rows waiting)",
        f"idle ({fmt(link.seconds)} s, side by side): with the link "
        f"{fmt(link.cpu_pct_schedstat)}% (schedstat), {fmt(link.switches_per_s)} switches/s, "
        f"RSS {fmt(link.memory['Rss'] / 1024)} MB, PSS {fmt(link.memory['Pss'] / 1024)} MB; "
        f"without {fmt(bare.cpu_pct_schedstat)}%, {fmt(bare.switches_per_s)} switches/s, "
        f"RSS {fmt(bare.memory['Rss'] / 1024)} MB, PSS {fmt(bare.memory['Pss'] / 1024)} MB",
        "RSS / USS over a kiosk without a fleet: "
        + ", ".join(f"{IDLE_LABELS[m]} +{fmt((idle[m].memory['Rss'] - bare.memory['Rss']) / 1024)}"
                    f" / +{fmt((idle[m].memory['Private'] - bare.memory['Private']) / 1024)} MB"
                    for m in IDLE_MODES[1:]),
    ]
    report(TITLE, metrics, details, args.json)
    return 0


def mosquitto_version() -> str:
    try:
        out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5)
        return out.stdout.splitlines()[0].replace("mosquitto version ", "")
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
