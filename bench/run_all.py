"""Run every bench script and print one table: metric, target, measured, result.

Runs ``frame_time.py``, ``tap_to_qr.py`` and ``footprint.py`` one after the other (never in
parallel: they would skew each other's CPU figures), each with ``--json`` and a time limit,
then prints the figures that have a target first and the informational ones after. Everything
talks to 127.0.0.1 only. A full run takes about two minutes; ``--quick`` about twenty seconds.

Exit status: 0 when every script ran (whatever the figures), 2 when one failed to run; with
``--strict``, 1 when a target was missed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from _common import (
    BENCH,
    PYTHON,
    REPO,
    Metric,
    base_parser,
    machine_info,
    machine_line,
    table,
)

SCRIPTS = (("frame_time.py", 60), ("tap_to_qr.py", 120), ("footprint.py", 170))


def run_script(name: str, timeout_s: float, quick: bool) -> dict[str, Any]:
    args = [PYTHON, str(BENCH / name), "--json", *(["--quick"] if quick else [])]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"{name} exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    documents, failures, timings = [], [], []
    for name, timeout_s in SCRIPTS:
        started = time.monotonic()
        try:
            documents.append(run_script(name, timeout_s, args.quick))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            failures.append(f"{name}: {exc}")
        timings.append(f"{name} {time.monotonic() - started:.0f} s")
    metrics = [Metric.from_json(m) for d in documents for m in d["metrics"]]
    ordered = ([m for m in metrics if m.target is not None]
               + [m for m in metrics if m.target is None])
    if args.json:
        print(json.dumps({"machine": machine_info(), "metrics": [m.as_json() for m in ordered],
                          "scripts": documents, "failures": failures}, indent=2))
    else:
        print("# vending-kiosk footprint and latency")
        print(f"machine: {machine_line()}")
        print()
        print(table(ordered))
        for document in documents:
            print()
            print(f"## {document['title']}")
            for metric in document["metrics"]:
                if metric.get("note"):
                    print(f"  {metric['label']}: {metric['note']}")
            for line in document["details"]:
                print(line)
        print()
        print("run times: " + ", ".join(timings))
        for failure in failures:
            print(f"FAILED {failure}", file=sys.stderr)
    if failures:
        return 2
    if args.strict and any(m.passed() is False for m in metrics):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
