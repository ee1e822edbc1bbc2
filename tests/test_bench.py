"""The bench scripts run (quick mode) and print every metric in their table, as numbers.

No timing thresholds here: CI machines are noisy. The figures themselves are for ``bench/``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
ROW = re.compile(r"^\| (?P<metric>[^|]+?) \| (?P<target>[^|]+?) \| (?P<measured>[^|]+?) \| "
                 r"(?P<result>PASS|FAIL|info) \|$")
NUMBER = re.compile(r"^(-?\d+(?:\.\d+)?) (\S+)")

# metric label -> has a target
EXPECTED = {
    "frame_time.py": {
        "frame time, animated attract (p95)": True,
        "frame time, animated attract (median)": False,
        "frame time, animated attract (worst)": False,
        "QR screen, first frame (QR built)": False,
        "QR screen redraw (once a second)": False,
        "building the QR surface alone (uncached)": False,
    },
    "tap_to_qr.py": {
        "tap on coin to QR on screen": True,
        "tap on coin to QR on screen, worst": False,
        "gateway create, server side": False,
    },
    "footprint.py": {
        "cold start to first frame (READY=1)": True,
        "cold start to attract screen shot (upper bound)": False,
        "idle CPU, attract screen": True,
        "idle CPU, attract screen (schedstat)": False,
        "PSS, attract screen": True,
        "RSS, attract screen": False,
        "context switches/s, attract screen": False,
        "idle CPU, QR screen": True,
        "idle CPU, QR screen (schedstat)": False,
        "PSS, QR screen": True,
        "RSS, QR screen": False,
        "context switches/s, QR screen": False,
    },
}

# Not part of run_all.py: it starts a mosquitto (/usr/sbin/mosquitto, installed by .ci/run).
FLEET_LINK = {
    "idle CPU added by the link": True,
    "RSS added by the link (paho, its thread)": True,
    "journal event to PUBACK (p50)": False,
    "journal event to PUBACK (p99)": False,
    "journal event to row deleted (p50)": False,
    "journal event to row deleted (p99)": False,
    "journal event to row deleted (max)": False,
    "journal event to console subscriber (p50)": False,
    "journal event to console subscriber (p99)": False,
    "burst: events/s until the outbox is empty": False,
    "backlog: events/s from link start to empty outbox": False,
    "link thread CPU per event (burst)": False,
    "context switches/s, idle child with the link": False,
}


# Not part of run_all.py either: a mosquitto, simulated machines and the console's service.
FLEET_CONSOLE = {
    "ingest, events/s until all stored (zero loss)": True,
    "sale publish to visible in /api/sales (p99)": True,
    "sale publish to visible in /api/sales (p50)": False,
    "simulated machines connected (held)": True,
    "ingest path alone: Ingester + SQLite, no broker": False,
    "time to connect 50 machines": False,
    "console process CPU while ingesting": False,
}


def run(script: str, *args: str, timeout: float = 150) -> str:
    result = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def table_rows(output: str) -> dict[str, dict[str, str]]:
    lines = output.splitlines()
    assert "| metric | target | measured | result |" in lines, output
    rows = {}
    for line in lines:
        match = ROW.match(line)
        if match and match["metric"] != "metric":
            rows[match["metric"]] = match.groupdict()
    return rows


def check_row(row: dict[str, str], has_target: bool) -> None:
    measured = NUMBER.match(row["measured"])
    assert measured is not None, row
    float(measured[1])
    if has_target:
        target = re.fullmatch(r"<= (\d+(?:\.\d+)?) (\S+)", row["target"])
        assert target is not None and target[2] == measured[2], row
        assert row["result"] in ("PASS", "FAIL"), row
    else:
        assert row["target"] == "-" and row["result"] == "info", row


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_each_script_prints_every_metric_as_a_number(script: str) -> None:
    output = run(script, "--quick")
    rows = table_rows(output)
    assert set(rows) == set(EXPECTED[script]), output
    for label, has_target in EXPECTED[script].items():
        check_row(rows[label], has_target)
    assert "machine:" in output and "nproc" in output


def test_fleet_link_script_prints_every_metric_as_a_number() -> None:
    if not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    output = run("fleet_link.py", "--quick")
    rows = table_rows(output)
    assert set(rows) == set(FLEET_LINK), output
    for label, has_target in FLEET_LINK.items():
        check_row(rows[label], has_target)
    assert "machine:" in output and "nproc" in output


def test_fleet_console_script_prints_every_metric_as_a_number() -> None:
    if not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    output = run("fleet_console.py", "--quick", timeout=300)
    rows = table_rows(output)
    assert set(rows) == set(FLEET_CONSOLE), output
    for label, has_target in FLEET_CONSOLE.items():
        row = rows[label]
        assert re.match(r"-?\d+(\.\d+)?", row["measured"]), row
        if has_target:
            assert re.match(r"(<=|>=) \d", row["target"]) and row["result"] in ("PASS", "FAIL")
        else:
            assert row["target"] == "-" and row["result"] == "info", row
    assert "zero loss" in output


@pytest.mark.parametrize("script", [*sorted(EXPECTED), "fleet_link.py", "fleet_console.py",
                                    "run_all.py", "sandbox_server.py"])
def test_each_script_has_help(script: str) -> None:
    assert "usage:" in run(script, "--help", timeout=60)


def test_run_all_collects_every_metric_in_one_table() -> None:
    output = run("run_all.py", "--quick", timeout=400)
    rows = table_rows(output)
    expected = {label: target for script in EXPECTED.values() for label, target in
                script.items()}
    assert set(rows) == set(expected), output
    for label, has_target in expected.items():
        check_row(rows[label], has_target)
    targeted = [label for label in rows if expected[label]]
    assert list(rows)[:len(targeted)] == targeted  # figures with a target come first


def test_json_output_carries_the_samples() -> None:
    document = json.loads(run("frame_time.py", "--quick", "--json"))
    metrics = {m["key"]: m for m in document["metrics"]}
    p95 = metrics["frame_attract_p95_ms"]
    assert p95["target"] == 8.0 and p95["result"] in ("PASS", "FAIL")
    assert len(p95["samples"]) >= 10 and all(isinstance(v, float) for v in p95["samples"])
    assert document["machine"]["nproc"] >= 1
