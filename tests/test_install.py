"""scripts/install.sh, run for real under --prefix (and as a dry run), then what landed.

The installer builds its virtual environment under the prefix with pip from this checkout
(wheels come from PyPI or pip's cache; about 15 s here), so no option to reuse a venv is
needed. Commands that would change the machine itself (apt-get, useradd, usermod, chown,
systemctl, udevadm, runuser) are replaced on PATH by stubs that record any call: under
--prefix and --dry-run none may be called.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "scripts" / "install.sh"
SYSTEM_COMMANDS = ("apt-get", "useradd", "usermod", "groupadd", "chown", "udevadm", "runuser",
                   "systemctl")
CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
           "fsck.repair=yes rootwait quiet consoleblank=600 "
           "init=/usr/lib/raspberrypi-sys-mods/firstboot")
CONFIG_TXT = """\
# For more options and information see
# http://rptl.io/configtxt
dtparam=audio=on
camera_auto_detect=1
display_auto_detect=1
dtoverlay=vc4-kms-v3d
max_framebuffers=2

[cm4]
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
"""
BLOCK_BEGIN = "# >>> vending-kiosk: managed by scripts/install.sh, rewritten on every run"
BLOCK_END = "# <<< vending-kiosk"
NOTHING = "nothing to change: vending-kiosk is installed and up to date"
PLACEHOLDER_PAYEE = "00000000-0000-4000-8000-000000000000"     # kiosk.example.toml's
PLACEHOLDER_SUPPORT = '"+1 555 0100 / help@example.com"'


def make_stubs(directory: Path, log: Path) -> None:
    directory.mkdir()
    for name in SYSTEM_COMMANDS:
        stub = directory / name
        # Read-only systemctl queries answer "no", like a machine without the kiosk.
        queries = ('case "$1" in is-enabled|is-active|get-default) exit 1 ;; esac\n'
                   if name == "systemctl" else "")
        stub.write_text(f'#!/bin/sh\n{queries}echo "{name} $*" >> "{log}"\nexit 0\n')
        stub.chmod(0o755)


def make_boot(prefix: Path) -> Path:
    boot = prefix / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "cmdline.txt").write_text(CMDLINE + "\n")
    (boot / "config.txt").write_text(CONFIG_TXT)
    return boot


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under root: mode, mtime (ns) and content hash of files / link target."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            digest = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest = ""
        state[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, digest)
    return state


@dataclass
class Run:
    code: int
    out: str


@dataclass
class Scenario:
    prefix: Path
    stub_log: Path
    runs: dict[str, Run] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, dict[str, tuple[int, int, str]]] = field(default_factory=dict)


def run_install(*args: str, stubs: Path, timeout: int = 600) -> Run:
    env = dict(os.environ)
    env["PATH"] = f"{stubs}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # idempotence must not depend on it
    result = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                            env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(result.returncode, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """One machine's life under --prefix: install, re-run, edit, switch to MDB and back."""
    base = tmp_path_factory.mktemp("install")
    prefix = base / "root"
    boot = make_boot(prefix)
    log = base / "system-commands.log"
    make_stubs(base / "stubs", log)
    s = Scenario(prefix, log)
    etc = prefix / "etc" / "vending-kiosk"

    def run(name: str, *extra: str) -> Run:
        s.runs[name] = run_install("--prefix", str(prefix), *extra, stubs=base / "stubs")
        return s.runs[name]

    build_dir_before = (REPO / "build").exists()
    run("first")
    assert s.runs["first"].code == 0, s.runs["first"].out
    s.files["cmdline_first"] = (boot / "cmdline.txt").read_text()
    s.files["config_first"] = (boot / "config.txt").read_text()
    s.files["build_dir_appeared"] = str((REPO / "build").exists() and not build_dir_before)

    # The operator fills in the installed config (and edits the secrets); a second run keeps
    # them.
    kiosk_toml = etc / "kiosk.toml"
    kiosk_toml.write_text(kiosk_toml.read_text().replace('id = "vm-0001"', 'id = "vm-edited"')
                          .replace(PLACEHOLDER_PAYEE, "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e")
                          .replace(PLACEHOLDER_SUPPORT, '"+1 202 555 0173"')
                          + "# edited by the operator\n")
    secrets = etc / "secrets.toml"
    secrets.write_text(secrets.read_text().replace("your-api-secret", "edited-secret"))
    s.files["kiosk_edited"] = kiosk_toml.read_text()
    s.files["secrets_edited"] = secrets.read_text()
    s.snapshots["before_second"] = snapshot(prefix)
    run("second")
    s.snapshots["after_second"] = snapshot(prefix)
    s.files["kiosk_after_second"] = kiosk_toml.read_text()
    s.files["secrets_after_second"] = secrets.read_text()

    run("dry_installed", "--dry-run")
    s.snapshots["after_dry_installed"] = snapshot(prefix)

    # An operator file on the boot partition selecting MDB: UART on, serial console off.
    example = (REPO / "assets" / "vending-kiosk.boot.example.toml").read_text()
    (boot / "vending-kiosk.toml").write_text(
        example.replace('driver = "simulated"', 'driver = "mdb"', 1))
    run("mdb")
    s.files["cmdline_mdb"] = (boot / "cmdline.txt").read_text()
    s.files["config_mdb"] = (boot / "config.txt").read_text()
    run("mdb_again")

    # Back to a GPIO machine: the UART lines leave config.txt.
    (boot / "vending-kiosk.toml").unlink()
    run("back")
    s.files["cmdline_back"] = (boot / "cmdline.txt").read_text()
    s.files["config_back"] = (boot / "config.txt").read_text()

    # A broken config fails the smoke test (exit 1) and is still not overwritten.
    good = kiosk_toml.read_text()
    kiosk_toml.write_text(good.replace('currency = "USD"', 'currency = "usd"'))
    s.files["kiosk_broken"] = kiosk_toml.read_text()
    run("broken_config")
    s.files["kiosk_after_broken"] = kiosk_toml.read_text()
    kiosk_toml.write_text(good)

    # A damaged marker block in config.txt stops the installer before it edits anything.
    config_txt = boot / "config.txt"
    damaged = config_txt.read_text().replace(BLOCK_END + "\n", "")
    config_txt.write_text(damaged)
    s.files["config_damaged"] = damaged
    run("damaged")
    s.files["config_after_damaged"] = config_txt.read_text()
    return s


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------------------- help, options

def test_help_explains_prefix_and_dry_run() -> None:
    result = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for needle in ("--prefix DIR", "--dry-run", "apt-get", "useradd", "systemctl",
                   'skipped (--prefix)', "/opt/vending-kiosk", "/etc/vending-kiosk/kiosk.toml",
                   "/var/lib/vending-kiosk", "enable_uart=1", "check-config"):
        assert needle in result.stdout


def test_unknown_option_is_refused() -> None:
    result = subprocess.run(["bash", str(INSTALL), "--frobnicate"], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr


# ------------------------------------------------------------------------------- first run

def test_first_run_succeeds_with_named_steps(scenario: Scenario) -> None:
    out = scenario.runs["first"].out
    for number, name in enumerate(["preflight", "system packages", "service user",
                                   "virtual environment", "assets", "configuration",
                                   "data directory", "udev rules", "systemd units",
                                   "boot settings", "smoke test"], start=1):
        assert f"==> [{number}/11] {name}" in out
    assert "change(s) made" in out


def test_virtual_environment_runs_the_installed_kiosk(scenario: Scenario) -> None:
    venv = scenario.prefix / "opt" / "vending-kiosk"
    kiosk = venv / "bin" / "kiosk"
    assert os.access(kiosk, os.X_OK)
    result = subprocess.run([str(kiosk), "check-config",
                             str(REPO / "assets" / "vending-kiosk.boot.example.toml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # The package comes from the venv itself (not this checkout in editable mode).
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import kiosk, hardware; print(kiosk.__file__, hardware.__file__)"],
                           capture_output=True, text=True, cwd="/")
    assert where.stdout.count(str(venv)) == 2, where.stdout + where.stderr
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    assert scenario.files["build_dir_appeared"] == "False"  # built from a copy, not in-tree


def test_config_and_secrets_come_from_the_examples(scenario: Scenario) -> None:
    first = scenario.snapshots["before_second"]
    etc = scenario.prefix / "etc" / "vending-kiosk"
    assert mode(etc / "secrets.toml") == 0o600
    assert mode(etc / "kiosk.toml") == 0o644
    assert "edited by the operator" in scenario.files["kiosk_edited"]
    assert first["etc/vending-kiosk/kiosk.toml"][0] & 0o777 == 0o644
    out = scenario.runs["first"].out
    assert "install " + str(etc / "kiosk.toml") + " from kiosk.example.toml" in out
    assert "install " + str(etc / "secrets.toml") + " from secrets.example.toml" in out
    assert "check-config " + str(etc / "kiosk.toml") + " passes" in scenario.runs["second"].out


def test_a_fresh_install_says_what_to_fill_in_without_failing(scenario: Scenario) -> None:
    """The example laid down is a template: not sellable, yet the install itself succeeded."""
    first = scenario.runs["first"]
    assert first.code == 0, first.out
    assert "[payment.mixpay] payee_id: not configured: still a placeholder" in first.out
    assert "[machine] support: not configured" in first.out
    etc = scenario.prefix / "etc" / "vending-kiosk"
    assert f"config: not configured yet, fill in what is listed above in {etc / 'kiosk.toml'}" \
        in first.out
    assert "config: FAILED" not in first.out and "the smoke test failed" not in first.out


def test_data_directory_is_private(scenario: Scenario) -> None:
    data = scenario.prefix / "var" / "lib" / "vending-kiosk"
    assert data.is_dir() and mode(data) == 0o750


def test_units_rules_assets_and_docs_land(scenario: Scenario) -> None:
    p = scenario.prefix
    for unit in ("vending-kiosk.service", "vending-kiosk-selftest.service",
                 "vending-kiosk-firstboot.service"):
        installed = p / "etc" / "systemd" / "system" / unit
        assert installed.read_bytes() == (REPO / "systemd" / unit).read_bytes()
        assert mode(installed) == 0o644
    rules = p / "etc" / "udev" / "rules.d" / "99-vending-kiosk.rules"
    assert rules.read_bytes() == (REPO / "systemd" / "99-vending-kiosk.rules").read_bytes()
    for asset in (REPO / "assets").rglob("*"):
        if asset.is_file():
            shared = p / "usr" / "share" / "vending-kiosk" / "assets"
            copy = shared / asset.relative_to(REPO / "assets")
            assert copy.read_bytes() == asset.read_bytes()
    assert (p / "usr/share/doc/vending-kiosk/operators.md").read_bytes() == \
        (REPO / "docs" / "operators.md").read_bytes()
    boot_example = p / "boot" / "firmware" / "vending-kiosk.example.toml"
    assert boot_example.read_bytes() == \
        (REPO / "assets" / "vending-kiosk.boot.example.toml").read_bytes()


def test_system_changes_are_printed_not_run_under_prefix(scenario: Scenario) -> None:
    assert not scenario.stub_log.exists(), scenario.stub_log.read_text()
    out = scenario.runs["first"].out
    for line in ("skipped (--prefix): install the missing ones of",
                 "+ apt-get install -y --no-install-recommends python3 python3-venv",
                 "+ useradd --system --user-group",
                 "skipped (--prefix): chown kiosk:kiosk",
                 "+ systemctl enable vending-kiosk.service vending-kiosk-firstboot.service",
                 "+ systemctl disable getty@tty1.service",
                 "+ systemctl set-default multi-user.target",
                 "+ udevadm control --reload-rules",
                 "display: skipped under --prefix"):
        assert line in out


def test_boot_cmdline_gets_the_kiosk_settings(scenario: Scenario) -> None:
    text = scenario.files["cmdline_first"]
    assert text.count("\n") == 1 and text.endswith("\n")  # still one line
    tokens = text.split()
    for token in ("consoleblank=0", "quiet", "logo.nologo", "loglevel=3",
                  "vt.global_cursor_default=0"):
        assert tokens.count(token) == 1, token
    assert "consoleblank=600" not in tokens  # replaced, not duplicated
    # Everything else kept, in order; the serial console stays for a non-MDB machine.
    kept = [t for t in CMDLINE.split() if not t.startswith("consoleblank=")]
    assert [t for t in tokens if t in kept] == kept
    original = scenario.prefix / "boot/firmware/cmdline.txt.vending-kiosk-orig"
    assert original.read_text() == CMDLINE + "\n"


def test_boot_config_gets_one_marked_block(scenario: Scenario) -> None:
    text = scenario.files["config_first"]
    assert text.startswith(CONFIG_TXT)
    block = text[text.index(BLOCK_BEGIN):]
    assert text.count(BLOCK_BEGIN) == 1 and block.rstrip().endswith(BLOCK_END)
    assert "\n[all]\n" in block and "disable_splash=1" in block
    assert "enable_uart" not in block  # [vend] driver = "simulated"


# ------------------------------------------------------------------------------- idempotence

def test_second_run_changes_nothing(scenario: Scenario) -> None:
    second = scenario.runs["second"]
    assert second.code == 0, second.out
    assert NOTHING in second.out
    assert "    change: " not in second.out
    assert scenario.snapshots["after_second"] == scenario.snapshots["before_second"]


def test_existing_config_and_secrets_are_never_overwritten(scenario: Scenario) -> None:
    assert scenario.files["kiosk_after_second"] == scenario.files["kiosk_edited"]
    assert scenario.files["secrets_after_second"] == scenario.files["secrets_edited"]
    assert "kiosk.toml exists, its content is kept" in scenario.runs["second"].out
    assert scenario.files["kiosk_after_broken"] == scenario.files["kiosk_broken"]


def test_dry_run_on_an_installed_prefix_has_nothing_to_do(scenario: Scenario) -> None:
    run = scenario.runs["dry_installed"]
    assert run.code == 0, run.out
    assert "dry run: 0 change(s) would be made; nothing was changed" in run.out
    assert scenario.snapshots["after_dry_installed"] == scenario.snapshots["after_second"]


# ------------------------------------------------------------------------------- MDB and back

def test_mdb_operator_file_enables_the_uart_and_frees_it(scenario: Scenario) -> None:
    run = scenario.runs["mdb"]
    assert run.code == 0, run.out
    assert "vending-kiosk.toml, [vend] driver = \"mdb\"" in run.out
    tokens = scenario.files["cmdline_mdb"].split()
    assert not [t for t in tokens if t.startswith("console=serial")]
    assert "console=tty1" in tokens and "consoleblank=0" in tokens
    config = scenario.files["config_mdb"]
    block = config[config.index(BLOCK_BEGIN):config.index(BLOCK_END)]
    assert config.count(BLOCK_BEGIN) == 1
    lines = block.splitlines()
    assert "enable_uart=1" in lines
    assert lines[lines.index("[pi5]") + 1] == "dtparam=uart0=on"
    assert lines[-1] == "[all]"  # later lines apply to every model again
    assert config.startswith(CONFIG_TXT)
    assert "operator file: ok" in run.out
    again = scenario.runs["mdb_again"]
    assert again.code == 0 and NOTHING in again.out


def test_switching_back_removes_the_uart_lines(scenario: Scenario) -> None:
    run = scenario.runs["back"]
    assert run.code == 0, run.out
    config = scenario.files["config_back"]
    assert "enable_uart" not in config and "uart0" not in config
    assert config.count(BLOCK_BEGIN) == 1 and config.count(BLOCK_END) == 1
    assert config == scenario.files["config_first"]
    # The serial console is not put back (the installer cannot know it was wanted).
    assert scenario.files["cmdline_back"] == scenario.files["cmdline_mdb"]


# ------------------------------------------------------------------------------- failures

def test_a_broken_config_fails_the_smoke_test(scenario: Scenario) -> None:
    run = scenario.runs["broken_config"]
    assert run.code == 1
    assert "config: FAILED" in run.out and "currency" in run.out
    assert "the smoke test failed" in run.out


def test_a_damaged_marker_block_stops_the_installer(scenario: Scenario) -> None:
    run = scenario.runs["damaged"]
    assert run.code == 1
    assert "damaged vending-kiosk block" in run.out
    assert scenario.files["config_after_damaged"] == scenario.files["config_damaged"]


# ------------------------------------------------------------------------------- dry runs

def test_dry_run_on_a_fresh_prefix_writes_nothing(tmp_path: Path) -> None:
    prefix = tmp_path / "root"
    make_boot(prefix)
    log = tmp_path / "system-commands.log"
    make_stubs(tmp_path / "stubs", log)
    before = snapshot(tmp_path)
    run = run_install("--dry-run", "--prefix", str(prefix), stubs=tmp_path / "stubs")
    assert run.code == 0, run.out
    assert snapshot(tmp_path) == before
    assert not log.exists()
    for line in ("would: create the virtual environment",
                 "+ python3 -m venv --system-site-packages " + str(prefix / "opt/vending-kiosk"),
                 "would: install " + str(prefix / "etc/vending-kiosk/kiosk.toml"),
                 "would: create directory " + str(prefix / "var/lib/vending-kiosk") + " (0750)",
                 "would: update " + str(prefix / "boot/firmware/cmdline.txt"),
                 "+" + CMDLINE.replace("consoleblank=600", "consoleblank=0"),  # the diff
                 "would run: " + str(prefix / "opt/vending-kiosk/bin/kiosk") + " check-config",
                 "nothing was changed"):
        assert line in run.out, line


def test_dry_run_without_prefix_changes_nothing_on_this_machine(tmp_path: Path) -> None:
    """The real paths, read only: no system command runs and nothing appears."""
    log = tmp_path / "system-commands.log"
    make_stubs(tmp_path / "stubs", log)
    paths = [Path(p) for p in ("/opt/vending-kiosk", "/etc/vending-kiosk",
                               "/var/lib/vending-kiosk", "/usr/share/vending-kiosk",
                               "/etc/systemd/system/vending-kiosk.service",
                               "/etc/udev/rules.d/99-vending-kiosk.rules")]
    before = {p: p.exists() for p in paths}
    run = run_install("--dry-run", stubs=tmp_path / "stubs")
    assert run.code == 0, run.out
    assert "dry run: printing every action, changing nothing" in run.out
    assert "nothing was changed" in run.out
    assert not log.exists(), log.read_text()
    assert {p: p.exists() for p in paths} == before
    if not before[Path("/opt/vending-kiosk")]:
        assert "would: create the virtual environment" in run.out
