"""Bad input to the `kiosk` command (issue #10): a non-zero exit and one line on stderr that
names the problem, never a traceback. Real subprocesses, typed as an operator would."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from fakes import KIOSK, offline_kiosk_toml

from kiosk.cli import DEFAULT_CONFIG
from kiosk.config import Config

# Every row runs without a display: the demo row needs that, and no other row may care. Without
# XDG_RUNTIME_DIR, SDL cannot find a Wayland compositor by its default socket name either.
NO_DISPLAY = {name: value for name, value in os.environ.items()
              if name not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "XDG_RUNTIME_DIR")}
AS_ROOT = os.geteuid() == 0


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]       # "{tmp}": the test's directory; "{busy_port}": a port in use
    words: tuple[str, ...]      # what the one line on stderr must say
    status: int = 1
    stdin: str | None = None    # None: at end of file; "closed": fd 0 closed; else its text


CASES = [
    pytest.param(Case(("set-pin",), ("no config file", str(DEFAULT_CONFIG)), 2),
                 marks=pytest.mark.skipif(DEFAULT_CONFIG.exists(),
                                          reason=f"{DEFAULT_CONFIG} exists on this machine"),
                 id="set-pin without the default config"),
    pytest.param(Case(("set-pin", "--config", "{tmp}/kiosk.tml"),
                      ("no config file", "kiosk.tml", "nothing changed"), 2),
                 id="set-pin --config mistyped"),
    pytest.param(Case(("set-pin", "--config", "{tmp}"), ("no config file",), 2),
                 id="set-pin --config a directory"),
    pytest.param(Case(("set-pin", "--config", "{tmp}/kiosk.toml"),
                      ("terminal", "--pin-from-stdin")),
                 id="set-pin prompt, stdin at EOF"),
    pytest.param(Case(("set-pin", "--config", "{tmp}/kiosk.toml"),
                      ("terminal", "--pin-from-stdin"), stdin="closed"),
                 id="set-pin prompt, stdin closed"),
    pytest.param(Case(("set-pin", "--config", "{tmp}/kiosk.toml", "--pin-from-stdin"),
                      ("input ended",)),
                 id="set-pin --pin-from-stdin, stdin at EOF"),
    pytest.param(Case(("set-pin", "--config", "{tmp}/kiosk.toml", "--pin-from-stdin"),
                      ("input ended",), stdin="closed"),
                 id="set-pin --pin-from-stdin, stdin closed"),
    pytest.param(Case(("set-pin", "--config", "{tmp}/binary/kiosk.toml", "--pin-from-stdin"),
                      ("secrets.toml", "not UTF-8", "nothing changed"), stdin="1234\n"),
                 id="set-pin, secrets.toml not text"),
    pytest.param(Case(("demo", "--headless", "--data-dir", "{tmp}/a-file"),
                      ("a-file", "is a file, not a directory")),
                 id="demo --data-dir a file"),
    pytest.param(Case(("demo", "--headless", "--data-dir", "{tmp}/a-file/data"),
                      ("a-file/data", "not usable", "Not a directory")),
                 id="demo --data-dir that cannot be created"),
    pytest.param(Case(("demo", "--headless", "--data-dir", "{tmp}/read-only"),
                      ("read-only", "not usable", "Permission denied")),
                 marks=pytest.mark.skipif(AS_ROOT, reason="root writes into a 0o500 directory "
                                          "anyway; 'cannot be created' covers root"),
                 id="demo --data-dir read-only"),
    pytest.param(Case(("demo", "--customers", "0"), ("--customers", "1 or more"), 2),
                 id="demo --customers 0"),
    pytest.param(Case(("demo", "--customers", "-1"), ("--customers", "1 or more"), 2),
                 id="demo --customers -1"),
    pytest.param(Case(("demo", "--data-dir", "{tmp}/demo"), ("no display", "--headless")),
                 id="demo without a display"),
    pytest.param(Case(("run", "--config", "{tmp}/run/kiosk.toml"), ("no display", "--headless")),
                 id="run without a display"),
    pytest.param(Case(("run", "--autopilot", "0"), ("--autopilot", "1 or more"), 2),
                 id="run --autopilot 0"),
    pytest.param(Case(("sandbox", "--port", "99999"), ("--port", "0 to 65535"), 2),
                 id="sandbox --port 99999"),
    pytest.param(Case(("sandbox", "--port", "{busy_port}"),
                      ("cannot listen", "{busy_port}", "Address already in use")),
                 id="sandbox --port in use"),
    pytest.param(Case(("sandbox", "--host", "192.0.2.1", "--port", "0"),  # TEST-NET-1
                      ("cannot listen", "192.0.2.1")),
                 id="sandbox --host not this machine"),
    pytest.param(Case(("journal", "--data-dir", "/nonexistent"), ("no journal", "/nonexistent")),
                 id="journal --data-dir nonexistent"),
    pytest.param(Case(("journal", "--data-dir", "{tmp}/journal-dir"), ("cannot open journal",)),
                 id="journal, journal.db a directory"),
    pytest.param(Case(("import-boot-config", "--boot-file", "{tmp}", "--config",
                       "{tmp}/kiosk.tml"), ("Is a directory",)),
                 id="import-boot-config --boot-file a directory"),
    pytest.param(Case((), ("required", "COMMAND"), 2), id="no command"),
]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "kiosk.toml").touch()            # set-pin only needs the config to exist
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "kiosk.toml").touch()
    (tmp_path / "binary" / "secrets.toml").write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "journal-dir" / "journal.db").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    runnable = offline_kiosk_toml(tmp_path / "run")
    (tmp_path / "run" / "kiosk.toml").write_text(runnable)
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    yield tmp_path
    read_only.chmod(0o700)


def run(args: list[str], stdin: str | None = None,
        timeout: float = 20) -> subprocess.CompletedProcess[str]:
    command = [*KIOSK, *args]
    if stdin == "closed":  # Python then starts with sys.stdin None
        command = ["sh", "-c", 'exec "$@" <&-', "sh", *command]
    return subprocess.run(command, input=None if stdin == "closed" else stdin or "",
                          capture_output=True, text=True, timeout=timeout, env=NO_DISPLAY,
                          check=False)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_ends_in_one_line_naming_the_problem(case: Case, workdir: Path,
                                                        busy_port: int) -> None:
    def fill(text: str) -> str:
        return text.format(tmp=workdir, busy_port=busy_port)

    result = run([fill(arg) for arg in case.args], case.stdin)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == case.status, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for words in case.words:
        assert fill(words) in lines[0]
    assert not (workdir / "secrets.toml").exists()    # no row may set a PIN anywhere
    assert (workdir / "binary" / "secrets.toml").read_bytes() == b"\xff\xfe\x00 not text"
    assert not (workdir / "demo").exists()             # refused before anything was made


@pytest.mark.parametrize(("path", "problem"), [("/nonexistent", "file not found"),
                                               ("/", "is a directory"),
                                               (sys.executable, "is not valid UTF-8")])
def test_config_problems_are_the_commands_report_on_stdout(path: str, problem: str) -> None:
    """check-config's output is its list of issues (stdout, exit 2), as is a scripted run's."""
    for args in (["check-config", path], ["run", "--config", path, "--headless",
                                          "--autopilot", "1"]):
        result = run(args)
        assert result.returncode == 2 and result.stderr == "", result.stderr
        assert f"{path}: (top level): {problem}" in result.stdout
        assert result.stdout.endswith("1 error in the configuration\n")


def test_selftest_of_a_missing_config_still_prints_its_json() -> None:
    result = run(["selftest", "--config", "/nonexistent", "--json", "--no-network"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    config = report["checks"][0]
    assert not report["passed"] and config["name"] == "config" and not config["passed"]
    assert "file not found" in config["reason"]


@pytest.mark.parametrize("transactions", [0, 60], ids=["flushed at exit", "while printing"])
def test_journal_into_a_closed_pipe_stops_quietly_with_141(tmp_path: Path,
                                                           transactions: int) -> None:
    """``kiosk journal --json | head``: the reader has gone; exit 128 + SIGPIPE, print nothing."""
    from kiosk.journal import Journal
    from kiosk.payments.base import Order

    with Journal.open_in(tmp_path) as journal:
        for index in range(transactions):
            journal.begin(Order(f"tx-{index}", "A1", "Water", Decimal("2.50"), "USD", None,
                                2_000_000_000), "mixpay")
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run([*KIOSK, "journal", "--data-dir", str(tmp_path), "--json"],
                                stdout=writer, stderr=subprocess.PIPE, text=True, timeout=20,
                                check=False)
    finally:
        os.close(writer)
    assert result.returncode == 141 and result.stderr == ""


@pytest.mark.parametrize(("key", "status", "words"), [(b"\x04", 1, "input ended"),
                                                      (b"\x03", 130, "interrupted")],
                         ids=["Ctrl-D", "Ctrl-C"])
def test_set_pin_prompt_left_with_a_key(tmp_path: Path, key: bytes, status: int,
                                        words: str) -> None:
    """On a real terminal (a pty, which getpass opens as /dev/tty); ``key`` at the prompt."""
    (tmp_path / "kiosk.toml").touch()
    controller, terminal = pty.openpty()
    # Only a function run in the child can make the pty its controlling terminal (Python 3.11).
    process = subprocess.Popen([*KIOSK, "set-pin", "--config", str(tmp_path / "kiosk.toml")],
                               stdin=terminal, stdout=terminal, stderr=subprocess.PIPE,
                               start_new_session=True,
                               preexec_fn=_take_stdin_as_terminal)  # noqa: PLW1509
    os.close(terminal)
    try:
        _read_until(controller, b"PIN: ")
        os.write(controller, key)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
        os.close(controller)
    lines = stderr.decode().splitlines()
    assert process.returncode == status and len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / "secrets.toml").exists()


def _take_stdin_as_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read_until(fd: int, marker: bytes, timeout: float = 15) -> None:
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} on the terminal; got {seen!r}"
        if select.select([fd], [], [], left)[0]:
            seen += os.read(fd, 1024)


def test_demo_reads_a_relative_data_dir_from_where_it_was_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--data-dir data`` is ./data once, not ./data/data (the config inside names it)."""
    from kiosk.demo import DemoOptions, run_demo

    seen: list[Path] = []

    def kiosk_that_stops(config: Config, **_: object) -> bool:
        seen.append(config.machine.data_dir)
        return True

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("kiosk.demo.run_kiosk", kiosk_that_stops)
    assert run_demo(DemoOptions(headless=True, data_dir=Path("data"))) == 0
    assert seen == [tmp_path.resolve() / "data"]
    assert (tmp_path / "data" / "kiosk.toml").exists() and not (tmp_path / "data" / "data").exists()
