"""The systemd units and udev rules in systemd/: strict verification and their contracts.

How the verification works (systemd 252, Debian 12):

- ``systemd-analyze verify`` fails when an ``ExecStart=`` binary is missing on the verifying
  machine, so each unit is verified from a copy in a temporary directory whose
  ``/opt/vending-kiosk/bin/kiosk`` is replaced by ``/bin/true`` (nothing else changes);
- the copies' directory is on the unit search path, so ``OnSuccess=vending-kiosk.service``,
  ``Wants=vending-kiosk-firstboot.service`` and the like resolve to our own units;
- it does not check that ``User=kiosk`` exists, so no user is needed;
- ``--recursive-errors=yes`` makes unknown keys and bad values fail (without it they are only
  warnings and the exit code is 0); ``--man=no`` skips man-page lookups of ``Documentation=``;
- anything on stderr counts as a failure too.

The sandbox is held to ``systemd-analyze security --offline=true`` (the unit file as it is, no
running systemd needed), and each unit's ``SystemCallFilter=`` to the system calls its real
program makes: the kiosk (the demo on the real MDB driver over a pty, the self-test, the clock
probe) and the first-boot import run under ``strace -f -c``, and every call they make must be
in the unit's list as ``systemd-analyze syscall-filter`` expands its groups.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from brokers import running_mosquitto
from fakes import KIOSK, OPERATOR_FILE, installed, kiosk_toml, mixpay_table, simulated_machine

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = REPO / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service"))
KIOSK_BIN = "/opt/vending-kiosk/bin/kiosk"


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value in order (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        assert current is not None, f"{path.name}: {line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}: expected one value, found {values}"
    return values[0]


def words(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> list[str]:
    return " ".join(unit.get(section, {}).get(key, [])).split()


@pytest.fixture(scope="module")
def verify_copies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of every unit with the kiosk binary replaced by /bin/true."""
    directory = tmp_path_factory.mktemp("units")
    for unit in UNITS:
        (directory / unit.name).write_text(unit.read_text().replace(KIOSK_BIN, "/bin/true"))
    return directory


def verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = installed("systemd-analyze", "systemd")
    return subprocess.run([tool, "verify", "--man=no", "--recursive-errors=yes",
                           *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_all_three_units_exist() -> None:
    assert [u.name for u in UNITS] == ["vending-kiosk-firstboot.service",
                                       "vending-kiosk-selftest.service",
                                       "vending-kiosk.service"]


@pytest.mark.parametrize("name", [u.name for u in UNITS])
def test_unit_passes_strict_verification(verify_copies: Path, name: str) -> None:
    copy = verify_copies / name
    assert "/bin/true" in copy.read_text()
    result = verify(copy)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_all_units_verify_together(verify_copies: Path) -> None:
    result = verify(*sorted(verify_copies.glob("*.service")))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("mistake", ["Restart=sometimes", "WatchdogSecs=30", "NotifyAccess=most"])
def test_verification_catches_a_mistake(verify_copies: Path, tmp_path: Path, mistake: str) -> None:
    """The check above is not vacuous: one bad line in the kiosk unit fails it."""
    bad = tmp_path / "vending-kiosk.service"
    text = (verify_copies / "vending-kiosk.service").read_text()
    bad.write_text(text.replace("[Service]\n", f"[Service]\n{mistake}\n", 1))
    line = text.splitlines().index("[Service]") + 2
    result = verify(bad)
    assert result.returncode != 0
    assert f"{bad}:{line}:" in result.stderr  # it names the bad line


def test_verification_fails_on_a_missing_binary(tmp_path: Path) -> None:
    """Why the copies point ExecStart at /bin/true."""
    unit = tmp_path / "vending-kiosk.service"
    shutil.copy(SYSTEMD / "vending-kiosk.service", unit)
    if Path(KIOSK_BIN).exists():
        pytest.skip(f"{KIOSK_BIN} is installed on this machine")
    assert verify(unit).returncode != 0


def test_kiosk_unit_contract() -> None:
    unit = parse_unit(SYSTEMD / "vending-kiosk.service")
    service = {key: one(unit, "Service", key) for key in (
        "Type", "NotifyAccess", "WatchdogSec", "Restart", "RestartSec", "User",
        "WorkingDirectory", "StateDirectory", "TTYPath", "StandardInput", "ExecStart",
        "ProtectSystem", "ProtectHome", "NoNewPrivileges", "PrivateDevices")}
    assert service == {
        "Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30", "Restart": "always",
        "RestartSec": "2", "User": "kiosk", "WorkingDirectory": "/var/lib/vending-kiosk",
        "StateDirectory": "vending-kiosk", "TTYPath": "/dev/tty1", "StandardInput": "tty",
        "ExecStart": f"{KIOSK_BIN} run --config /etc/vending-kiosk/kiosk.toml",
        "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes",
        "PrivateDevices": "no"}
    assert "SDL_VIDEODRIVER=kmsdrm" in words(unit, "Service", "Environment")
    assert "/var/lib/vending-kiosk" in words(unit, "Service", "ReadWritePaths")
    assert one(unit, "Service", "StandardOutput") == "journal"
    assert "getty@tty1.service" in words(unit, "Unit", "Conflicts")
    interval = int(one(unit, "Unit", "StartLimitIntervalSec"))
    burst = int(one(unit, "Unit", "StartLimitBurst"))
    # Restart=always every 2 s must be able to use its whole burst inside the interval.
    assert burst >= 3 and interval >= burst * 2 * 5
    assert "vending-kiosk-firstboot.service" in words(unit, "Unit", "After")
    assert "vending-kiosk-firstboot.service" in words(unit, "Unit", "Wants")
    assert words(unit, "Install", "WantedBy") == ["multi-user.target"]


@pytest.mark.parametrize("name", [u.name for u in UNITS
                                  if u.name != "vending-kiosk-firstboot.service"])
def test_kiosk_units_can_reach_display_input_gpio_and_serial(name: str) -> None:
    """No device filter: /dev/dri, /dev/input, /dev/gpiochip*, /dev/gpiomem*, /dev/tty* stay
    reachable, with access decided by the kiosk user's groups."""
    service = parse_unit(SYSTEMD / name)["Service"]
    assert service.get("PrivateDevices", ["no"]) == ["no"]
    assert "DevicePolicy" not in service and "DeviceAllow" not in service
    # ProtectClock=yes implies DeviceAllow=char-rtc, which turns the filter on for every device.
    assert service.get("ProtectClock", ["no"]) == ["no"]
    # A group listed here that an image lacks would stop the unit: membership comes from
    # /etc/group instead (install.sh adds kiosk to the groups that exist).
    assert "SupplementaryGroups" not in service
    families = words(parse_unit(SYSTEMD / name), "Service", "RestrictAddressFamilies")
    assert {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"} <= set(families)


def test_selftest_unit_frees_the_hardware_and_brings_the_kiosk_back() -> None:
    unit = parse_unit(SYSTEMD / "vending-kiosk-selftest.service")
    assert one(unit, "Service", "Type") == "oneshot"
    assert one(unit, "Service", "ExecStart").split()[:4] == [KIOSK_BIN, "selftest", "--json",
                                                              "--no-motors"]
    assert words(unit, "Unit", "Conflicts") == ["vending-kiosk.service"]
    assert "vending-kiosk.service" in words(unit, "Unit", "After")
    assert words(unit, "Unit", "OnSuccess") == ["vending-kiosk.service"]
    assert words(unit, "Unit", "OnFailure") == ["vending-kiosk.service"]
    assert one(unit, "Service", "StandardOutput") == "journal"
    assert one(unit, "Service", "User") == "kiosk"
    assert "Install" not in unit  # run on demand, never at boot


def test_firstboot_unit_imports_the_operator_file_before_the_kiosk() -> None:
    unit = parse_unit(SYSTEMD / "vending-kiosk-firstboot.service")
    assert one(unit, "Unit", "ConditionPathExists") == "/boot/firmware/vending-kiosk.toml"
    assert "vending-kiosk.service" in words(unit, "Unit", "Before")
    assert one(unit, "Service", "Type") == "oneshot"
    assert one(unit, "Service", "RemainAfterExit") == "yes"
    assert "User" not in unit["Service"]  # root: it writes /etc and the FAT partition
    command = one(unit, "Service", "ExecStart").split()
    assert command[:2] == [KIOSK_BIN, "import-boot-config"]
    assert command[command.index("--boot-file") + 1] == "/boot/firmware/vending-kiosk.toml"
    assert command[command.index("--config") + 1] == "/etc/vending-kiosk/kiosk.toml"
    # The import runs as root: the kiosk user must still own its secrets afterwards.
    posts = unit["Service"]["ExecStartPost"]
    assert "-/bin/chown kiosk:kiosk /etc/vending-kiosk/secrets.toml" in posts
    assert "-/bin/chmod 0600 /etc/vending-kiosk/secrets.toml" in posts
    writable = words(unit, "Service", "ReadWritePaths")
    assert {"-/etc/vending-kiosk", "-/boot/firmware"} <= set(writable)
    assert words(unit, "Install", "WantedBy") == ["multi-user.target"]


def test_unit_commands_are_valid_kiosk_command_lines() -> None:
    """Every ExecStart of the kiosk binary parses with the real CLI (no typo in a flag)."""
    from kiosk.cli import _parser

    parser = _parser()
    commands = [value.split() for unit in UNITS
                for value in parse_unit(unit)["Service"].get("ExecStart", [])
                if value.startswith(KIOSK_BIN)]
    assert len(commands) == 3
    for command in commands:
        args = parser.parse_args(command[1:])
        assert callable(args.command)
        assert str(args.config) == "/etc/vending-kiosk/kiosk.toml"


EXPOSURE_LIMIT = 2.5
KIOSK_UNITS = ["vending-kiosk.service", "vending-kiosk-selftest.service"]


def security(path: Path) -> subprocess.CompletedProcess[str]:
    tool = installed("systemd-analyze", "systemd")
    return subprocess.run([tool, "security", "--offline=true", "--no-pager",
                           f"--threshold={round(EXPOSURE_LIMIT * 10)}", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", [u.name for u in UNITS])
def test_unit_keeps_its_sandbox(verify_copies: Path, name: str) -> None:
    """systemd's own exposure score (0 safest .. 10): at most 2.5 for every unit (3.2 to 3.7
    before they had system call filters)."""
    result = security(verify_copies / name)
    overall = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert overall, result.stdout[-600:] + result.stderr
    assert float(overall.group(1)) <= EXPOSURE_LIMIT, result.stdout
    assert result.returncode == 0, result.stdout[-600:] + result.stderr


@pytest.mark.parametrize("name", KIOSK_UNITS)
def test_systemd_finds_the_read_only_clock_call_allowed(verify_copies: Path, name: str) -> None:
    """systemd's own reading of the filter: of @clock it lets adjtimex through (which
    kiosk/time_sync.py calls with modes = 0; the unit has no CAP_SYS_TIME to set the clock)."""
    clock = [line for line in security(verify_copies / name).stdout.splitlines()
             if "SystemCallFilter=~@clock" in line]
    assert len(clock) == 1 and "adjtimex is allowed" in clock[0], clock


@functools.cache
def syscall_groups() -> dict[str, tuple[str, ...]]:
    """``systemd-analyze syscall-filter``: every @group and its members (calls or @groups)."""
    listing = subprocess.run([installed("systemd-analyze", "systemd"), "syscall-filter",
                              "--no-pager"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    groups: dict[str, list[str]] = {}
    members: list[str] | None = None
    for line in listing.splitlines():
        if line.startswith("@"):
            members = groups.setdefault(line.split()[0], [])
        elif line.startswith(" ") and members is not None:
            if not line.strip().startswith("#"):      # the group's description
                members.append(line.strip())
        else:                                         # a blank line, or the unlisted calls
            members = None
    return {group: tuple(names) for group, names in groups.items()}


def expand(name: str) -> set[str]:
    if not name.startswith("@"):
        return {name}
    groups = syscall_groups()
    assert name in groups, f"no system call group {name} in systemd-analyze syscall-filter"
    return set().union(*(expand(member) for member in groups[name]))


@dataclass(frozen=True)
class SyscallFilter:
    """``SystemCallFilter=`` lines resolved as systemd does: a first line without ``~`` makes
    an allow list (which then holds @default too), with ``~`` a deny list; each later line
    adds its calls to the list, or with ``~`` takes them out of an allow list (and adds them
    to a deny list)."""

    allow_list: bool
    names: frozenset[str]

    @classmethod
    def of(cls, values: list[str]) -> SyscallFilter:
        assert values, "no SystemCallFilter="
        allow_list = not values[0].startswith("~")
        names = expand("@default") if allow_list else set()
        for value in values:
            inverted = value.startswith("~")
            listed = set().union(*(expand(word.partition(":")[0])
                                   for word in value.lstrip("~").split()))
            names = names - listed if inverted == allow_list else names | listed
        return cls(allow_list, frozenset(names))

    @classmethod
    def of_unit(cls, name: str) -> SyscallFilter:
        return cls.of(parse_unit(SYSTEMD / name)["Service"].get("SystemCallFilter", []))

    def allows(self, syscall: str) -> bool:
        return (syscall in self.names) == self.allow_list

    def refused(self, calls: set[str]) -> list[str]:
        return sorted(call for call in calls if not self.allows(call))


# The Pi's 64-bit kernel lacks some x86-64 calls; glibc makes the same library call there with
# these instead, so the trace's calls are checked under both names.
AARCH64_NAMES = {
    "open": "openat", "creat": "openat", "stat": "newfstatat", "lstat": "newfstatat",
    "access": "faccessat", "readlink": "readlinkat", "mkdir": "mkdirat", "mknod": "mknodat",
    "unlink": "unlinkat", "rmdir": "unlinkat", "rename": "renameat", "link": "linkat",
    "symlink": "symlinkat", "chmod": "fchmodat", "chown": "fchownat", "lchown": "fchownat",
    "poll": "ppoll", "select": "pselect6", "pipe": "pipe2", "dup2": "dup3",
    "epoll_wait": "epoll_pwait", "epoll_create": "epoll_create1", "getdents": "getdents64",
    "eventfd": "eventfd2", "inotify_init": "inotify_init1", "signalfd": "signalfd4",
    "fork": "clone", "vfork": "clone", "utimes": "utimensat", "futimesat": "utimensat",
}
# What the kiosk and the self-test do on a Pi that cannot be traced here (no DRM card, touch
# panel, GPIO chip or serial bridge), by the calls it takes (aarch64 names; clock_adjtime64 and
# pselect6_time64 on 32-bit Raspberry Pi OS). Every DRM, evdev, GPIO-line and termios request
# is an ioctl().
ON_THE_PI = {
    "KMSDRM display (SDL, libdrm, Mesa)": [
        "openat", "ioctl", "mmap", "munmap", "ppoll", "read", "eventfd2", "memfd_create",
        "dup3", "getdents64", "readlinkat", "sched_getaffinity", "epoll_create1", "epoll_ctl",
        "epoll_pwait", "clone3", "futex"],
    "touch panel and hot-plug (SDL's evdev and udev)": [
        "socket", "bind", "setsockopt", "getsockopt", "getsockname", "recvmsg",
        "inotify_init1", "inotify_add_watch"],
    "GPIO (lgpio's FIFOs in its working directory, line requests, edge thread)": [
        "mknodat", "fchmodat", "unlinkat", "ioctl", "ppoll", "clock_nanosleep", "clone3"],
    "serial port (pyserial)": ["ioctl", "flock", "pselect6", "pselect6_time64", "write"],
    "the clock's NTP state (kiosk/time_sync.py: adjtimex with modes = 0)": [
        "adjtimex", "clock_adjtime", "clock_adjtime64"],
}
# Calls made only because the tests may run as root: SQLite hands its -wal and -journal files
# to the database's owner when its euid is 0. The units run the kiosk as User=kiosk.
AS_ROOT_ONLY = {"fchown"} if os.geteuid() == 0 else set()
SUMMARY_ROW = re.compile(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+(?:\d+\s+)?(\w+)")


def traced(command: list[str], summary: Path, env: dict[str, str] | None = None) -> set[str]:
    """Run ``command`` under ``strace -f -c``: the names of every system call it and its
    threads and children made (asserting the command itself succeeded is the caller's)."""
    strace = installed("strace", "strace")
    probe = subprocess.run([strace, "-qq", "-o", os.devnull, "true"], capture_output=True,
                           text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here (ptrace refused?): {probe.stderr.strip()}")
    result = subprocess.run([strace, "-f", "-qq", "-c", "-o", str(summary), *command],
                            capture_output=True, text=True, timeout=300, env=env)
    summary.with_suffix(".out").write_text(result.stdout)
    summary.with_suffix(".err").write_text(result.stderr)
    summary.with_suffix(".rc").write_text(str(result.returncode))
    rows = (SUMMARY_ROW.fullmatch(line) for line in summary.read_text().splitlines())
    return {row.group(1) for row in rows if row} - {"total"}


def outcome(summary: Path) -> tuple[int, str, str]:
    return (int(summary.with_suffix(".rc").read_text()), summary.with_suffix(".out").read_text(),
            summary.with_suffix(".err").read_text())


@pytest.fixture(scope="module")
def kiosk_calls(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every system call of the kiosk program: the demo (one customer paying, the real MDB
    driver over a pty with its termios calls, the journal, HTTP, the pygame UI off screen,
    worker threads), the self-test (with timedatectl, and logging in to a real fleet broker
    over TLS as the fleet link does) and the clock probe (ctypes, adjtimex)."""
    tmp = tmp_path_factory.mktemp("traced")
    calls = traced([*KIOSK, "demo", "--headless", "--customers", "1", "--driver", "mdb-sim",
                    "--data-dir", str(tmp / "demo")], tmp / "demo.strace")
    returncode, _, stderr = outcome(tmp / "demo.strace")
    assert returncode == 0, stderr[-2000:]
    config = tmp / "kiosk.toml"
    with running_mosquitto(tmp / "broker", machines=["vm-0001"]) as broker:
        config.write_text(kiosk_toml(tmp / "data", payment={"gateway": "mixpay",
                                                            "assets": ["BTC"],
                                                            "mixpay": mixpay_table()},
                                     fleet={"broker": broker.url,
                                            "ca_file": str(broker.ca_file)},
                                     **simulated_machine("jam")))
        user, password = broker.machine("vm-0001")
        (tmp / "secrets.toml").write_text(
            f'[fleet]\nusername = "{user}"\npassword = "{password}"\n')
        (tmp / "secrets.toml").chmod(0o600)
        calls |= traced([*KIOSK, "selftest", "--config", str(config), "--json",
                         "--no-motors"], tmp / "selftest.strace",
                        env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    returncode, stdout, stderr = outcome(tmp / "selftest.strace")
    assert returncode in (0, 1), stderr[-2000:]
    checks = {check["name"]: check for check in json.loads(stdout)["checks"]}
    assert checks["config"]["passed"] and checks["data_dir"]["passed"], checks
    assert checks["fleet"]["passed"], checks["fleet"]
    calls |= traced([sys.executable, "-c", "from kiosk.time_sync import kernel_time_synced; "
                     "print(kernel_time_synced())"], tmp / "clock.strace")
    returncode, stdout, stderr = outcome(tmp / "clock.strace")
    assert (returncode, stdout.strip()) in ((0, "True"), (0, "False")), stderr
    return calls


def test_the_trace_sees_the_kiosk_at_work(kiosk_calls: set[str]) -> None:
    """Not an empty or partial trace: files, ioctls, sockets, threads, fsync, the clock."""
    assert {"openat", "ioctl", "socket", "connect", "fdatasync", "mmap"} <= kiosk_calls
    assert {"clone", "clone3"} & kiosk_calls
    assert {"adjtimex", "clock_adjtime", "clock_adjtime64"} & kiosk_calls
    assert len(kiosk_calls) > 40


@pytest.mark.parametrize("name", KIOSK_UNITS)
def test_the_kiosk_makes_no_system_call_its_unit_refuses(kiosk_calls: set[str],
                                                         name: str) -> None:
    allowed = SyscallFilter.of_unit(name)
    assert allowed.allow_list, "an allow list: a call nobody thought of is refused"
    used = kiosk_calls - AS_ROOT_ONLY
    used |= {AARCH64_NAMES.get(call, call) for call in used}
    assert allowed.refused(used) == [], f"{name} refuses calls the kiosk makes"
    for need, calls in ON_THE_PI.items():
        assert allowed.refused(set(calls)) == [], f"{name} refuses what {need} needs"


@pytest.mark.parametrize(("line", "victims"), [
    ("~@network-io", {"socket", "connect"}),    # no gateway, no sandbox
    ("~@clock", {"clock_adjtime"}),             # what ProtectClock=yes would add
    ("~ioctl", {"ioctl"}),                      # no termios (nor DRM, evdev, GPIO)
    ("~@ipc", {"pipe2"}),
])
def test_the_check_catches_a_filter_that_would_break_the_kiosk(kiosk_calls: set[str],
                                                                line: str,
                                                                victims: set[str]) -> None:
    values = parse_unit(SYSTEMD / "vending-kiosk.service")["Service"]["SystemCallFilter"]
    broken = SyscallFilter.of([*values, line])
    assert victims <= set(broken.refused(kiosk_calls))


@pytest.fixture(scope="module")
def firstboot_calls(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every system call of the first-boot unit's commands: the import of an operator file
    with secrets, then its ExecStartPost= chown and chmod (to this test's user, by number)."""
    tmp = tmp_path_factory.mktemp("firstboot")
    boot = tmp / "boot" / "vending-kiosk.toml"
    etc = tmp / "etc"
    boot.parent.mkdir()
    etc.mkdir()
    boot.write_text(OPERATOR_FILE.format(data_dir=tmp / "data", secret="wct-secret-7f3a9c",
                                         price="2.50"))
    calls = traced([*KIOSK, "import-boot-config", "--boot-file",
                    str(boot), "--config", str(etc / "kiosk.toml")], tmp / "import.strace")
    returncode, stdout, stderr = outcome(tmp / "import.strace")
    assert returncode == 0 and "secret(s) moved" in stdout, stdout + stderr
    posts = parse_unit(SYSTEMD / "vending-kiosk-firstboot.service")["Service"]["ExecStartPost"]
    for index, post in enumerate(posts):
        command = (post.lstrip("-").replace("kiosk:kiosk", f"{os.getuid()}:{os.getgid()}")
                   .replace("/etc/vending-kiosk/", f"{etc}/").split())
        calls |= traced(command, tmp / f"post{index}.strace")
        assert outcome(tmp / f"post{index}.strace")[0] == 0, outcome(tmp / f"post{index}.strace")
    return calls


def test_the_first_boot_import_makes_no_system_call_its_unit_refuses(
        firstboot_calls: set[str]) -> None:
    allowed = SyscallFilter.of_unit("vending-kiosk-firstboot.service")
    assert allowed.allow_list
    assert {"rename", "fsync", "chmod"} <= firstboot_calls
    assert {"chown", "fchown", "fchownat", "lchown"} & firstboot_calls
    used = firstboot_calls | {AARCH64_NAMES.get(call, call) for call in firstboot_calls}
    assert allowed.refused(used) == []


RULE_KEY = re.compile(r'(SUBSYSTEMS?|KERNELS?|ACTION|DRIVERS?|ATTRS?\{\w+\}|ENV\{\w+\}|SYMLINK|'
                      r'GROUP|MODE|OWNER|TAG)\s*(==|!=|\+=|:=|=)\s*"([^"]*)"')


def parse_rules(path: Path) -> list[list[tuple[str, str, str]]]:
    rules = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [part.strip() for part in line.split(",")]
        matches = [RULE_KEY.fullmatch(part) for part in parts]
        assert all(matches), f"unparsable udev rule part in {line!r}"
        rules.append([m.groups() for m in matches if m])
    return rules


def test_udev_rule_names_the_mdb_bridge_and_hides_it_from_modemmanager() -> None:
    rules = parse_rules(SYSTEMD / "99-vending-kiosk.rules")
    tty = [rule for rule in rules if ("SUBSYSTEM", "==", "tty") in rule]
    assert len(tty) == 1
    rule = set(tty[0])
    assert ("SYMLINK", "+=", "mdb-bridge") in rule
    assert ("ENV{ID_MM_DEVICE_IGNORE}", "=", "1") in rule
    assert ("GROUP", "=", "dialout") in rule
    assert ("KERNEL", "==", "ttyACM[0-9]*") in rule
    assert any(key.startswith("ATTRS{") and op == "==" for key, op, _ in rule)
    for rule in rules:  # every rule matches something before it assigns anything
        assert any(op in ("==", "!=") for _, op, _ in rule)
        assert ("ENV{ID_MM_DEVICE_IGNORE}", "=", "1") in rule
