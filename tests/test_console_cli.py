"""``vending-fleet``: keygen's line for the kiosks, add-user then logging in, config errors that
name file, table and key (exit 2, one line each), and ``serve`` refusing a bad config or key
without a traceback."""

from __future__ import annotations

import base64
import io
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kiosk.config.fleet import decode_public_key
from kiosk.fleet.signing import public_key_text
from vending_fleet.cli import main
from vending_fleet.config import load_console_config
from vending_fleet.hub import Hub
from vending_fleet.keys import load_key
from vending_fleet.store import open_store
from vending_fleet.web import create_app

REPO = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
KEY_LINE = re.compile(r'command_public_key = "([A-Za-z0-9+/]{43}=)"')


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vending_fleet.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def write_config(directory: Path, console: str = "", broker: str = "",
                 extra: str = "") -> Path:
    path = directory / "console.toml"
    path.write_text('[console]\nlisten = "127.0.0.1:0"\ndatabase = "sqlite:///console.db"\n'
                    f'signing_key = "fleet-key.pem"\nsecure_cookies = false\n{console}\n'
                    f'[broker]\nurl = "mqtt://127.0.0.1:1883"\n{broker}\n{extra}')
    return path


def test_keygen_prints_the_kiosks_line_and_keeps_the_key_private(tmp_path: Path) -> None:
    key = tmp_path / "fleet-key.pem"
    result = run("keygen", str(key))
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    match = KEY_LINE.fullmatch(line)
    assert match is not None, line
    raw = decode_public_key(match.group(1))          # what a kiosk's [fleet] accepts
    assert raw is not None and len(raw) == 32
    assert public_key_text(load_key(key)) == match.group(1)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert base64.b64decode(match.group(1)) == raw

    before = key.read_bytes()
    again = run("keygen", str(key))                  # never overwritten
    assert again.returncode == 1 and again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1 and "exists" in again.stderr
    assert key.read_bytes() == before


def login(client: TestClient, name: str, password: str) -> Any:
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": token.group(1)}, follow_redirects=False)


def test_add_user_then_login_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert main(["add-user", "olga", "--role", "operator", "--config", str(config),
                 "--password-stdin"]) == 0
    assert "added operator olga" in capsys.readouterr().err

    monkeypatch.setattr(sys, "stdin", io.StringIO("another password\n"))
    assert main(["add-user", "olga", "--role", "admin", "--config", str(config),
                 "--password-stdin"]) == 1                  # the name is taken
    assert "olga" in capsys.readouterr().err

    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["add-user", "sam", "--role", "viewer", "--config", str(config),
                 "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err

    store = open_store(load_console_config(config).database)
    try:
        user = store.user("olga")
        assert user is not None and user.role.value == "operator"
        assert store.user("sam") is None
        app = create_app(store, Hub(), object(), secure_cookies=False)  # type: ignore[arg-type]
        with TestClient(app, base_url="http://127.0.0.1") as client:
            assert login(client, "olga", "wrong password!").status_code == 401
            answer = login(client, "olga", "a long enough password")
            assert answer.status_code == 303
            assert client.get("/api/machines").status_code == 200
    finally:
        store.close()


def test_add_user_asks_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    answers = iter(["first password", "second password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["add-user", "ann", "--role", "viewer", "--config", str(config)]) == 2
    assert "differ" in capsys.readouterr().err
    answers = iter(["same password", "same password"])
    assert main(["add-user", "ann", "--role", "viewer", "--config", str(config)]) == 0


@pytest.mark.parametrize(("console", "broker", "extra", "named"), [
    ('', 'share_group = "a/b"', "", "[broker] share_group"),
    ("listen = 8080", "", "", "[console] listen"),
    ("", "keepalive_s = 2", "", "[broker] keepalive_s"),
    ("", "urll = 1", "", "[broker] urll"),
    ("", "", "[alerts]\nlow_stock = -1\n", "[alerts] low_stock"),
    ("", "", '[alerts]\nwebhook = "http://hooks.example.net/x"\n', "[alerts] webhook"),
])
def test_a_config_error_names_its_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      console: str, broker: str, extra: str,
                                      named: str) -> None:
    text = write_config(tmp_path, broker=broker, extra=extra).read_text()
    if console:      # replace the key rather than repeat it (TOML refuses a repeated key)
        key = console.split(" =")[0]
        text = re.sub(rf"(?m)^{key} = .*$", console, text)
    config = tmp_path / "console.toml"
    config.write_text(text)
    assert main(["add-user", "x", "--role", "viewer", "--config", str(config),
                 "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"{config}: {named}:" in err


def test_a_broker_url_list_and_the_secrets_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here\n")
    path = tmp_path / "console.toml"
    path.write_text('[broker]\nurl = ["mqtts://n1.example.net", "mqtts://n2.example.net:8884"]\n'
                    'ca_file = "ca.pem"\nshare_group = "consoles"\n')
    secrets = tmp_path / "console-secrets.toml"
    secrets.write_text('[broker]\nusername = "console"\npassword = "s3cret"\n')
    secrets.chmod(0o600)
    config = load_console_config(path)
    assert [b.url for b in config.broker.brokers] == ["mqtts://n1.example.net:8883",
                                                      "mqtts://n2.example.net:8884"]
    assert config.broker.ca_file == ca
    assert (config.broker.username, config.broker.password) == ("console", "s3cret")
    assert config.broker.share_group == "consoles" and config.broker.client_id
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.database == "sqlite:////var/lib/vending-fleet/console.db"
    assert config.signing_key == tmp_path / "fleet-key.pem"
    assert config.secure_cookies is True
    assert not config.warnings

    path.write_text('[broker]\nurl = "mqtt://broker.example.net"\npassword = "in the file"\n')
    secrets.unlink()
    issues = run("serve", "--config", str(path))
    assert issues.returncode == 2
    assert "Traceback" not in issues.stderr
    lines = issues.stderr.strip().splitlines()
    assert any("[broker] url:" in line and "plain mqtt://" in line for line in lines)
    assert any("[broker] username:" in line for line in lines)
    assert "in the file" not in issues.stderr                # a secret is never echoed


def test_serve_with_a_bad_config_exits_2_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "console.toml"
    config.write_text('[console]\nlisten = "127.0.0.1:80800"\n[broker]\nurl = "mqtt://127.0.0.1"\n')
    result = run("serve", "--config", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"{config}: [console] listen:" in line

    broken = run("serve", "--config", str(tmp_path / "missing.toml"))
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert "file not found" in broken.stderr

    good = write_config(tmp_path)                      # a good config, but no key made yet
    keyless = run("serve", "--config", str(good))
    assert keyless.returncode == 2 and "Traceback" not in keyless.stderr
    [line] = keyless.stderr.strip().splitlines()
    assert "fleet-key.pem" in line and "keygen" in line
