"""Shared by the bench scripts: metrics and their table, /proc readers, the sandbox process,
kiosk configs. Standard library only (plus the kiosk package where noted)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keeps stdout to the report

if str(REPO) not in sys.path:  # `python bench/x.py` from anywhere finds the kiosk package
    sys.path.insert(0, str(REPO))

TABLE_HEADER = "| metric | target | measured | result |"
PAYEE_ID = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
SETTLEMENT_ASSET_ID = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"


# ---------------------------------------------------------------- metrics and the table


@dataclass
class Metric:
    """One measured figure: its samples, and the target it is held to (None: for information)."""

    key: str                          # stable identifier, e.g. "idle_cpu_attract_pct"
    label: str                        # what the table calls it
    unit: str                         # "%", "MB", "ms", "s", "/s"
    samples: list[float] = field(default_factory=list)
    target: float | None = None       # measured (median) must be <= target
    stat: str = "median"              # which statistic is compared: "median" | "p95" | "max"
    note: str = ""

    def value(self) -> float:
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        if self.stat == "max":
            return ordered[-1]
        if self.stat == "p95":
            return percentile(ordered, 95)
        return statistics.median(ordered)

    def passed(self) -> bool | None:
        if self.target is None or not self.samples:
            return None
        return self.value() <= self.target

    def result(self) -> str:
        ok = self.passed()
        return "info" if ok is None else ("PASS" if ok else "FAIL")

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"<= {fmt(self.target)} {self.unit}"

    def measured_text(self) -> str:
        if not self.samples:
            return "n/a (not measured)"
        text = f"{fmt(self.value())} {self.unit}"
        if len(self.samples) > 1:
            lo, hi = min(self.samples), max(self.samples)
            text += f" ({self.stat} of {len(self.samples)}; {fmt(lo)}..{fmt(hi)})"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "unit": self.unit, "stat": self.stat,
                "value": self.value() if self.samples else None, "samples": self.samples,
                "target": self.target, "result": self.result(), "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metric:
        return cls(data["key"], data["label"], data["unit"], list(data["samples"]),
                   data["target"], data["stat"], data.get("note", ""))


def fmt(value: float) -> str:
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile of already sorted values."""
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def table(metrics: Sequence[Metric]) -> str:
    rows = [TABLE_HEADER, "|---|---|---|---|"]
    for m in metrics:
        rows.append(f"| {m.label} | {m.target_text()} | {m.measured_text()} | {m.result()} |")
    return "\n".join(rows)


def report(title: str, metrics: Sequence[Metric], details: Sequence[str], as_json: bool,
           extra: dict[str, Any] | None = None) -> None:
    """Print the script's result: a table (and details), or one JSON document."""
    if as_json:
        print(json.dumps({"title": title, "machine": machine_info(),
                          "metrics": [m.as_json() for m in metrics], "details": list(details),
                          **(extra or {})}, indent=2))
        return
    print(f"# {title}")
    print(f"machine: {machine_line()}")
    print()
    print(table(metrics))
    for m in metrics:
        if m.note:
            print(f"  {m.label}: {m.note}")
    if details:
        print()
        for line in details:
            print(line)


def base_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: fewer samples, same output format")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    return parser


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "cpu": cpu_model(),
                            "machine": platform.machine(), "kernel": platform.release(),
                            "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as meminfo:
            info["mem_total_mb"] = round(int(meminfo.readline().split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return info


def machine_line() -> str:
    i = machine_info()
    return (f"{i['cpu']}, nproc {i['nproc']}, {i['machine']}, Linux {i['kernel']}, "
            f"Python {i['python']}")


# ---------------------------------------------------------------- /proc readers

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process (every thread), in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])     # fields 14 and 15 of proc(5)


def task_ids(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def thread_stats(pid: int) -> dict[int, tuple[str, int, int]]:
    """Per thread: (name, on-CPU nanoseconds from schedstat, context switches so far)."""
    result = {}
    for tid in task_ids(pid):
        base = Path(f"/proc/{pid}/task/{tid}")
        try:
            # Python does not name its threads for the OS: every comm reads "python".
            name = "main" if tid == pid else f"tid {tid}"
            run_ns = int((base / "schedstat").read_text().split()[0])
            switches = 0
            for line in (base / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
        result[tid] = (name, run_ns, switches)
    return result


def descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        for tid in task_ids(current):
            try:
                children = Path(f"/proc/{current}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                stack.append(child)
    return found


def memory_kb(pid: int) -> dict[str, int]:
    """smaps_rollup of the process and all its descendants, summed: Pss, Rss, Pss_Anon,
    Pss_File, and Private (Private_Clean + Private_Dirty, the USS), in kB."""
    wanted = ("Pss", "Rss", "Pss_Anon", "Pss_File", "Private_Clean", "Private_Dirty")
    total = dict.fromkeys(wanted, 0)
    for p in [pid, *descendants(pid)]:
        try:
            lines = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in lines[1:]:
            key, _, rest = line.partition(":")
            if key in total:
                total[key] += int(rest.split()[0])
    total["Private"] = total.pop("Private_Clean") + total.pop("Private_Dirty")
    return total


def pss_kb(pid: int) -> int:
    """PSS of the process and all its descendants, from smaps_rollup."""
    return memory_kb(pid)["Pss"]


@dataclass
class CpuWindow:
    """What one process did over a measuring window."""

    seconds: float
    cpu_pct: float                    # utime+stime (clock ticks) over wall time, % of one core
    cpu_pct_schedstat: float          # the same from per-thread schedstat (ns resolution)
    wakeups_per_s: float              # context switches of all threads per second
    threads: list[tuple[str, float, float]]   # (name, % of one core, switches per second)


def measure_cpu(pid: int, seconds: float) -> CpuWindow:
    ticks0, tasks0, t0 = cpu_ticks(pid), thread_stats(pid), time.monotonic()
    time.sleep(seconds)
    ticks1, tasks1, t1 = cpu_ticks(pid), thread_stats(pid), time.monotonic()
    wall = t1 - t0
    threads, run_total, switch_total = [], 0, 0
    for tid, (name, run1, sw1) in sorted(tasks1.items()):
        _, run0, sw0 = tasks0.get(tid, (name, 0, 0))
        run_total += run1 - run0
        switch_total += sw1 - sw0
        threads.append((name, 100 * (run1 - run0) / 1e9 / wall, (sw1 - sw0) / wall))
    return CpuWindow(wall, 100 * (ticks1 - ticks0) / CLK_TCK / wall,
                     100 * run_total / 1e9 / wall, switch_total / wall, threads)


# ---------------------------------------------------------------- the sandbox process


class SandboxProcess:
    """``bench/sandbox_server.py`` in a child process; its request timeline is collected."""

    def __init__(self, delay_ms: float, confirm_s: float = 0.0) -> None:
        self._process = subprocess.Popen(
            [PYTHON, str(BENCH / "sandbox_server.py"), "--delay-ms", str(delay_ms),
             "--confirm-s", str(confirm_s), "--timeline"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self._process.stdout is not None
        first = self._process.stdout.readline()
        if not first:
            self.close()
            raise RuntimeError("the sandbox process did not start")
        info = json.loads(first)
        self.url: str = info["listening"]
        self.mixpay_api_base: str = info["mixpay_api_base"]
        self.checkout_base: str = info["checkout_base"]
        self.requests: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                self.requests.put(json.loads(line))
            except ValueError:
                pass

    def drain(self) -> list[dict[str, Any]]:
        items = []
        while True:
            try:
                items.append(self.requests.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()     # the server exits when its stdin closes
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@contextmanager
def sandbox_process(delay_ms: float, confirm_s: float = 0.0) -> Iterator[SandboxProcess]:
    sandbox = SandboxProcess(delay_ms, confirm_s)
    try:
        yield sandbox
    finally:
        sandbox.close()


# ---------------------------------------------------------------- kiosk configs

CONFIG = """\
[machine]
id = "bench-0001"
currency = "USD"
data_dir = "{data_dir}"
wait_for_time_sync = false

[display]
width = {width}
height = {height}
fullscreen = false

[payment]
gateway = "mixpay"
timeout_s = {timeout_s}
{poll_line}
[payment.mixpay]
payee_id = "{payee_id}"
settlement_asset_id = "{settlement_asset_id}"
api_base = "{api_base}"
checkout_base = "{checkout_base}"

[vend]
driver = "simulated"

[vend.simulated]
turn_time_s = 0

[[slot]]
id = "A1"
name = "Sparkling water"
price = "2.50"
image = "water.png"
stock = 50

[[slot]]
id = "A2"
name = "Cola"
price = "2.00"
image = "cola.png"
stock = 50

[[slot]]
id = "A3"
name = "Crisps"
price = "1.75"
image = "crisps.png"
stock = 50

[[slot]]
id = "A4"
name = "Chocolate"
price = "1.50"
image = "chocolate.png"
stock = 50
"""


def write_config(directory: Path, sandbox: SandboxProcess, *, width: int, height: int,
                 timeout_s: int, poll_interval_s: float | None = None) -> Path:
    """A kiosk.toml in ``directory``: MixPay at the sandbox, the simulated machine."""
    poll_line = f"poll_interval_s = {poll_interval_s}\n" if poll_interval_s else ""
    path = directory / "kiosk.toml"
    path.write_text(CONFIG.format(data_dir=directory / "data", width=width, height=height,
                                  timeout_s=timeout_s, poll_line=poll_line,
                                  payee_id=PAYEE_ID, settlement_asset_id=SETTLEMENT_ASSET_ID,
                                  api_base=sandbox.mixpay_api_base,
                                  checkout_base=sandbox.checkout_base))
    return path
