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
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = REPO / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service"))
KIOSK_BIN = "/opt/vending-kiosk/bin/kiosk"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = (f"{name} is not installed "
                   "(.ci/run installs it: apt-get install systemd shellcheck)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


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
    tool = _tool("systemd-analyze")
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


@pytest.mark.parametrize("name", [u.name for u in UNITS])
def test_unit_keeps_its_sandbox(verify_copies: Path, name: str) -> None:
    """systemd's own exposure score (0 safest .. 10): at most 4.0 ("OK") for every unit."""
    tool = _tool("systemd-analyze")
    result = subprocess.run([tool, "security", "--offline=true", "--threshold=40",
                             str(verify_copies / name)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-600:] + result.stderr


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
