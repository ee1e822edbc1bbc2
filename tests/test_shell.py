"""Shell scripts: shellcheck on every one, and the image build's scripts run against a fake pi-gen.

Building a real image needs pi-gen, root, qemu and an hour: not CI. What CI checks instead is
that scripts/build-image.sh lays out a correct pi-gen stage and config and calls pi-gen the
documented way, and that the stage's own scripts do what pi-gen expects of them.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from fakes import installed

REPO = Path(__file__).resolve().parent.parent
BUILD_IMAGE = REPO / "scripts" / "build-image.sh"
STAGE = REPO / "image" / "stage-kiosk"

# Every shell script in the repository, and the shell fragments pi-gen sources.
SCRIPTS = sorted({*REPO.glob("scripts/*.sh"), *REPO.glob("image/**/*.sh"), REPO / ".ci" / "run",
                  STAGE / "prerun.sh"})
FRAGMENTS = [REPO / "image" / "config", STAGE / "EXPORT_IMAGE"]
OURS = {REPO / "scripts" / "install.sh", REPO / "scripts" / "build-image.sh", REPO / ".ci" / "run",
        *REPO.glob("image/**/*.sh"), *FRAGMENTS}


def shellcheck() -> str:
    return installed("shellcheck", "shellcheck")


def check(path: Path, severity: str) -> subprocess.CompletedProcess[str]:
    args = [shellcheck(), "--external-sources", "--source-path=SCRIPTDIR",
            f"--severity={severity}", "--format=gcc"]
    if not path.read_text().startswith("#!"):
        args.append("--shell=bash")  # sourced fragments (pi-gen config, EXPORT_IMAGE, venv.sh)
    return subprocess.run([*args, str(path)], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_every_script_is_found() -> None:
    names = {str(p.relative_to(REPO)) for p in SCRIPTS}
    assert {"scripts/install.sh", "scripts/build-image.sh", "scripts/test.sh", ".ci/run",
            "image/stage-kiosk/prerun.sh", "image/stage-kiosk/00-install/00-run.sh",
            "image/stage-kiosk/00-install/00-run-chroot.sh"} <= names


@pytest.mark.parametrize("path", sorted(set(SCRIPTS) | set(FRAGMENTS)),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck_has_no_warnings(path: Path) -> None:
    name = str(path.relative_to(REPO))
    # Scripts written for the Pi deployment are held to every severity, style included.
    severity = "style" if path in OURS else "warning"
    result = check(path, severity)
    assert result.stdout == "", f"{name}:\n{result.stdout}"
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_catches_a_mistake(tmp_path: Path) -> None:
    """The check above is not vacuous."""
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/bin/bash\nrm -rf $1/*\ncd $HOME\n')
    result = check(bad, "warning")
    assert result.returncode != 0
    assert "SC2164" in result.stdout  # cd without || exit


def test_scripts_are_executable() -> None:
    for path in (REPO / "scripts" / "install.sh", BUILD_IMAGE, STAGE / "prerun.sh",
                 STAGE / "00-install" / "00-run.sh", STAGE / "00-install" / "00-run-chroot.sh"):
        assert path.stat().st_mode & stat.S_IXUSR, path


# ------------------------------------------------------------------------------- build-image.sh

def fake_pi_gen(root: Path) -> Path:
    """A directory shaped like a pi-gen checkout whose build scripts record how they ran."""
    pi_gen = root / "pi-gen"
    for stage in ("stage0", "stage1", "stage2"):
        (pi_gen / stage).mkdir(parents=True)
    for script in ("build.sh", "build-docker.sh"):
        path = pi_gen / script
        path.write_text(f'#!/bin/sh\necho "{script} $* (in $(pwd))" > ran\n')
        path.chmod(0o755)
    return pi_gen


def build_image(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(BUILD_IMAGE), *map(str, args)], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def sourced(config: Path, *names: str) -> dict[str, str]:
    """The variables pi-gen's build.sh gets when it sources the config."""
    script = f'set -e; source "{config}"; ' + "; ".join(
        f'printf "%s\\0" "${{{name}-<unset>}}"' for name in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ["PATH"]}).stdout
    return dict(zip(names, out.split("\0"), strict=False))


def test_build_image_help_names_the_prerequisites() -> None:
    result = build_image("--help")
    assert result.returncode == 0
    for needle in ("PI_GEN_DIR", "pi-gen", "arm64", "downloads nothing", "--docker",
                   "qemu-user-static", "--ssh-pubkey", "--operator-file"):
        assert needle in result.stdout


@pytest.mark.parametrize("args, message", [
    ((), "give the path of a pi-gen checkout"),
    (("/nonexistent/pi-gen",), "no such directory"),
    (("--release", "buster", "."), "trixie or bookworm"),
])
def test_build_image_refuses_bad_arguments(args: tuple[str, ...], message: str) -> None:
    result = build_image(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_build_image_refuses_a_directory_that_is_not_pi_gen(tmp_path: Path) -> None:
    result = build_image(tmp_path)
    assert result.returncode == 2 and "is not a pi-gen checkout" in result.stderr


def test_build_image_prepares_the_stage_and_runs_pi_gen(tmp_path: Path) -> None:
    pi_gen = fake_pi_gen(tmp_path)
    result = build_image("--docker", pi_gen)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (pi_gen / "ran").read_text() == \
        f"build-docker.sh -c config.vending-kiosk (in {pi_gen})\n"
    stage = pi_gen / "stage-kiosk"
    for name in ("prerun.sh", "00-install/00-run.sh", "00-install/00-run-chroot.sh"):
        assert os.access(stage / name, os.X_OK), name
    assert (stage / "EXPORT_IMAGE").is_file()
    assert (stage / "00-install" / "00-packages-nr").is_file()
    assert (pi_gen / "stage2" / "SKIP_IMAGES").exists()
    checkout = stage / "00-install" / "files" / "vending-kiosk"
    assert os.access(checkout / "scripts" / "install.sh", os.X_OK)
    for name in ("pyproject.toml", "kiosk/cli.py", "systemd/vending-kiosk.service",
                 "assets/kiosk.example.toml"):
        assert (checkout / name).read_bytes() == (REPO / name).read_bytes()
    for ignored in (".venv", "build", ".pytest_cache"):
        assert not (checkout / ignored).exists(), ignored
    assert not (stage / "00-install" / "files" / "vending-kiosk.toml").exists()

    config = sourced(pi_gen / "config.vending-kiosk", "IMG_NAME", "STAGE_LIST", "RELEASE",
                     "FIRST_USER_NAME", "FIRST_USER_PASS", "DISABLE_FIRST_BOOT_USER_RENAME",
                     "ENABLE_SSH", "PUBKEY_SSH_FIRST_USER", "TARGET_HOSTNAME")
    assert config == {
        "IMG_NAME": "vending-kiosk", "STAGE_LIST": "stage0 stage1 stage2 stage-kiosk",
        "RELEASE": "trixie", "FIRST_USER_NAME": "technician", "FIRST_USER_PASS": "<unset>",
        "DISABLE_FIRST_BOOT_USER_RENAME": "1", "ENABLE_SSH": "0",
        "PUBKEY_SSH_FIRST_USER": "<unset>", "TARGET_HOSTNAME": "vending-kiosk"}


def test_build_image_options_reach_the_config(tmp_path: Path) -> None:
    pi_gen = fake_pi_gen(tmp_path)
    key = tmp_path / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF4k3x0V technician@laptop\n")
    operator = REPO / "assets" / "vending-kiosk.boot.example.toml"
    result = build_image("--prepare-only", "--release", "bookworm", "--hostname", "vm-0042",
                         "--ssh-pubkey", key, "--operator-file", operator, pi_gen)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (pi_gen / "ran").exists()  # --prepare-only
    assert f"cd {pi_gen} && sudo ./build.sh -c config.vending-kiosk" in result.stdout
    config = sourced(pi_gen / "config.vending-kiosk", "RELEASE", "TARGET_HOSTNAME",
                     "ENABLE_SSH", "PUBKEY_SSH_FIRST_USER", "PUBKEY_ONLY_SSH")
    assert config == {"RELEASE": "bookworm", "TARGET_HOSTNAME": "vm-0042", "ENABLE_SSH": "1",
                      "PUBKEY_SSH_FIRST_USER": key.read_text().strip(), "PUBKEY_ONLY_SSH": "1"}
    baked = pi_gen / "stage-kiosk" / "00-install" / "files" / "vending-kiosk.toml"
    assert baked.read_bytes() == operator.read_bytes()


def test_build_image_refuses_an_invalid_operator_file(tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "kiosk").exists() and shutil.which("kiosk") is None:
        pytest.skip("no kiosk command to check operator files with")
    pi_gen = fake_pi_gen(tmp_path)
    bad = tmp_path / "vending-kiosk.toml"
    bad.write_text('[machine]\ncurrency = "dollars"\n')
    result = build_image("--prepare-only", "--operator-file", bad, pi_gen)
    assert result.returncode == 2
    assert "does not pass kiosk check-config" in result.stderr


# ------------------------------------------------------------------------------- the stage

def pi_gen_env(rootfs: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "ROOTFS_DIR": str(rootfs)}


def test_prerun_copies_the_previous_stage_only_once(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    script = (f'copy_previous() {{ echo copied >> "{calls}"; mkdir -p "$ROOTFS_DIR"; }}\n'
              f'export -f copy_previous\n"{STAGE / "prerun.sh"}"\n"{STAGE / "prerun.sh"}"\n')
    subprocess.run(["bash", "-c", script], check=True, env=pi_gen_env(tmp_path / "rootfs"))
    assert calls.read_text() == "copied\n"


@pytest.mark.parametrize("qemu, suffix", [("0", "-vending-kiosk"), ("1", "-vending-kiosk-qemu")])
def test_export_image_names_the_image(qemu: str, suffix: str) -> None:
    out = subprocess.run(["bash", "-c", f'USE_QEMU={qemu}; source "{STAGE / "EXPORT_IMAGE"}"; '
                          'echo "$IMG_SUFFIX"'], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == suffix


@pytest.mark.skipif(os.geteuid() != 0, reason="00-run.sh gives the files to root (chown 0:0)")
def test_stage_run_puts_the_checkout_and_operator_file_into_the_image(tmp_path: Path) -> None:
    pi_gen = fake_pi_gen(tmp_path)
    operator = REPO / "assets" / "vending-kiosk.boot.example.toml"
    assert build_image("--prepare-only", "--operator-file", operator, pi_gen).returncode == 0
    rootfs = tmp_path / "rootfs"
    (rootfs / "boot" / "firmware").mkdir(parents=True)
    stage_dir = pi_gen / "stage-kiosk" / "00-install"
    for _ in range(2):  # pi-gen may re-run a stage (CONTINUE=1): same result
        subprocess.run([str(stage_dir / "00-run.sh")], check=True, cwd=stage_dir,
                       env=pi_gen_env(rootfs))
    src = rootfs / "usr" / "local" / "src" / "vending-kiosk"
    assert os.access(src / "scripts" / "install.sh", os.X_OK)
    assert (src / "kiosk" / "cli.py").read_bytes() == (REPO / "kiosk" / "cli.py").read_bytes()
    assert (rootfs / "boot/firmware/vending-kiosk.toml").read_bytes() == operator.read_bytes()
    chroot_script = (stage_dir / "00-run-chroot.sh").read_text()
    command = [line for line in chroot_script.splitlines() if line and not line.startswith("#")]
    # pi-gen pipes this file into bash: the installer must not eat the rest of it from stdin.
    assert command == ["PIP_NO_CACHE_DIR=1 /usr/local/src/vending-kiosk/scripts/install.sh "
                       "--image-build </dev/null"]
