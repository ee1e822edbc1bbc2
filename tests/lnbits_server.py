"""A real LNbits server for the LNbits gateway's tests: ``lnbits`` 1.6.2 from PyPI (with
``bitstring<5``) on the ``FakeWallet`` funding source (no Lightning node, no network), in its
own virtual environment, started on a free loopback port with its own data folder.

The venv: built on first use from ``requirements-lnbits.lock`` (hash-pinned; regenerate it with
``scripts/lock-lnbits.sh``) with ``pip install --require-hashes``, into
``~/.cache/vending-kiosk/lnbits-<hash of the lock file and Python version>`` (``$XDG_CACHE_HOME``
is honoured; ``VK_LNBITS_VENV`` names a ready venv instead). It is built in a temp dir next to
that and renamed into place under a file lock (``fcntl.flock``), so pytest-xdist workers
building it at once wait for one build. Never in the project's ``.venv``: lnbits pins FastAPI,
pydantic 1, httpx 0.27 and more, which would clash with the kiosk's pins. A failed pip run fails
the test with pip's output; it is skipped only when ``CI`` is unset and PyPI is unreachable. A
fresh build (no pip cache) took 45-80 s here; CI builds it once per run.

Fixtures (import them into a test module; pytest finds them there):

- ``lnbits`` (per test) and ``module_lnbits`` (per module): a running ``LnbitsServer``, its
  first-install step done (super user ``admin``), killed at the end whatever the test did.

``LnbitsServer`` (also a context manager): ``base_url``; ``create_wallet(name) -> Wallet(id,
adminkey, inkey, name, user)``; ``fund(wallet, sats)`` (the super user credits it);
``invoice(wallet, sats, memo="", expiry=3600, **extra) -> dict``; ``pay(payer, bolt11) -> dict``;
``payment(key_or_wallet, payment_hash) -> httpx.Response`` (the status endpoint, raw);
``balance_msat(wallet)``; ``admin_wallet(name)`` (a wallet of the super user);
``install_extension(zip, ext_id, version)`` (offline; see the end);
``api(method, path, key=..., admin=False, **httpx_kwargs) -> httpx.Response`` for anything
else; ``stop()`` (SIGTERM) / ``kill()`` (SIGKILL) and ``start()`` again on the same port
and data folder (wallets, keys and invoices survive); ``log`` (the server's output; its path is
in every ``LnbitsError``). Helpers raise ``LnbitsError`` (``status``, ``body``) on an HTTP error.

How it is run (each point checked here):

- ``lnbits`` mounts ``lnbits/static`` and ``lnbits/templates`` by relative paths and reads
  ``.env`` from its working directory. Each server gets its own working directory holding that
  ``.env`` and a symlink ``lnbits -> <venv site-packages>/lnbits`` (so parallel servers don't
  share one ``.env`` in the shared venv), and a clean environment (pydantic settings would take
  ``HOST``, ``PORT``, ``DEBUG``... from the test's environment over the ``.env``).
- The ``lnbits`` console script's shebang names the directory the venv was built in (a temp dir,
  renamed since), so the server is started as ``<venv>/bin/python -c 'from lnbits.server import
  main; main()' --host 127.0.0.1 --port N``: the same entry point.
- ``lnbits`` runs uvicorn in a ``multiprocessing`` child, which does not inherit
  ``setpriv --pdeathsig KILL``: the bootstrap sets PR_SET_PDEATHSIG in every forked child too
  (``os.register_at_fork``), and the server runs in its own process group, which ``stop()`` and
  ``kill()`` signal as a whole. So the port is free again when they return.
- Settings (``.env``): FakeWallet with a random ``FAKE_WALLET_SECRET``; ``LNBITS_ADMIN_UI=true``
  (needed to credit wallets: the super user's ``PUT /users/api/v1/balance``); the extension
  manifests pointed at the loopback "shelf" (see the end; nothing fetched from GitHub), WASM
  manifests none, the extensions path inside the server's directory (nothing written into the
  shared venv); rate limit lifted (default 200 requests a minute per IP, which a polling client
  in a test suite reaches); ``AUTH_HTTPS_ONLY=false``; log file off (the output goes to
  ``log``). ``LnbitsServer(settings={...})`` adds or overrides entries. Fees: none between
  wallets of one server (no reserve for internal payments, no service fee by default).
- First install: with the admin UI on, every route, ``/api/v1/health`` too, answers 307 to
  ``/first_install`` until ``PUT /api/v1/auth/first_install`` sets the super user's username and
  password; it returns ``{"access_token": ..., "token_type": "bearer"}`` and session cookies.
  The fixture uses the bearer token and drops the cookies (they would make every later request
  of its client the super user's). After a restart it logs in again (``POST /api/v1/auth``).
- Exchange rates: every wallet is created with currency USD, and every invoice and payment
  then looks up a BTC/USD price (an aggregator, then eight exchanges): offline that took 1.5 s
  a call here, and online it would add ``wallet_fiat_*`` entries to ``extra``. The aggregator and
  the providers are switched off, so the lookup fails at once ("Could not get exchange rate for
  USD" in the log: harmless) and ``extra`` stays ``{}``.
- FakeWallet keeps its open invoices in memory. At startup LNbits checks every pending payment
  with the funding source, so an invoice still open when the server stopped reads
  ``{"paid": false, "status": "failed"}`` after ``start()`` (label "expired" absent) and can no
  longer be paid (a real node remembers its invoices: they would stay pending). Invoices paid
  before the stop stay paid; wallets, keys and balances survive.

JSON observed from LNbits 1.6.2 (FakeWallet; each shape asserted by
tests/test_lnbits_server.py). Amounts are msat unless said otherwise; hashes 64 hex chars.

Create an invoice (invoice key; ``amount`` in sats)::

    POST /api/v1/payments  X-Api-Key: <inkey>  {"out": false, "amount": 2500, "memo": "m",
                                               "expiry": 300}
    -> 201 {"checking_id": <hash>, "payment_hash": <same hash>, "wallet_id": <wallet id>,
            "amount": 2500000, "fee": 0, "bolt11": "lnbc25u1...", "payment_request": <=bolt11>,
            "status": "pending", "memo": "m", "expiry": "2026-11-26T01:09:15" (UTC, NO offset
            here), "time"/"created_at"/"updated_at": "...+00:00", "preimage": <hex> (FakeWallet
            shows it), "extra": {}, "labels": [], "webhook": null, "webhook_status": null,
            "fiat_provider": null, "tag": null, "extension": null, "external_id": null}
            (no "paid" key)
    a key of no wallet -> 404 {"detail": "Wallet not found."}

Status, ``GET /api/v1/payments/<hash>`` with ``X-Api-Key: <inkey or adminkey of the invoice's
wallet>`` (``details`` is the record above, with "expiry" now "...+00:00")::

    pending  -> 200 {"paid": false, "status": "pending", "preimage": null, "details": {...,
                     "status": "pending"}}
    paid     -> 200 {"paid": true, "preimage": <hex>, "details": {..., "status": "success"}}
                (NO top-level "status" once paid: read "paid", or details.status)
    expired  -> the first read after the expiry marks it failed:
                200 {"paid": false, "status": "failed", "preimage": null,
                     "details": {..., "status": "failed", "labels": ["expired"]}}
                later reads: 200 {"paid": false, "status": "failed", "details": {...}}
                (no "preimage" key)
    open across a restart (FakeWallet only, see above) -> the later-reads shape, labels []
    another wallet's invoice, this wallet's key -> 404 {"detail": "Payment does not exist."}
        (but the payer's key on a hash it paid finds the payer's own outgoing payment:
        200 {"paid": true, ..., "details": {"amount": -2500000, "wallet_id": <payer>,
        "checking_id": "internal_<hash>", ...}})
    unknown hash, or not a hash at all          -> 404 {"detail": "Payment does not exist."}
    no key, or a key of no wallet (NOT a 401)   -> 200 {"paid": false, "preimage": null} /
        {"paid": true, "preimage": <hex>} / {"paid": false, "status": "failed"}

Pay (payer's admin key; between wallets of one server it settles at once)::

    POST /api/v1/payments  X-Api-Key: <adminkey>  {"out": true, "bolt11": ...}
    -> 201 {"checking_id": "internal_<hash>", "payment_hash": <hash>, "wallet_id": <payer>,
            "amount": -2500000, "fee": 0, "status": "success", "preimage": <hex>, ...}
    with an invoice key      -> 403 {"detail": "Invoice (or Admin) key required."}
    already paid             -> 520 {"detail": "Internal invoice already paid.",
                                     "status": "failed"}
    not enough balance       -> 520 {"detail": "Insufficient balance.", "status": "failed"}
    not a bolt11             -> 520 {"detail": "Bolt11 decoding failed.", "status": "failed"}
    expired and already read as failed -> 201 (!) with the INVOICE's own record (the payee's
        wallet_id, positive amount, "status": "failed"); nothing moves
    open across a restart, read failed -> 520 {"detail": "Payment is failed node, retrying is
        not possible.", "status": "failed"}
    expired but never read since -> PAID (201, "success"): LNbits marks an invoice expired
        only when its status is read (or at startup), and an internal payment does not look at
        the expiry. A client must handle "paid after its expiry" (refund it).

LNURL-withdraw ("withdraw" extension, the usual Lightning refund voucher): not in the lnbits
package (1.6.2 ships no extensions); LNbits installs an extension only from an http(s) manifest
that names an http(s) zip (GitHub by default: the internet). Offline it works from a local zip:
``install_extension()`` serves a manifest and the zip on loopback, then installs, activates and
enables it for the super user (``admin_wallet()`` wallets): lnbits/withdraw v1.2.2 installed
this way, created a voucher (``POST /withdraw/api/v1/links``), and a second wallet redeemed it
through the LNURL callback (test_lnurl_withdraw_extension_offline; skipped unless
``VK_LNBITS_WITHDRAW_ZIP`` names such a zip, which this repository does not ship).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO / "requirements-lnbits.lock"
START_TIMEOUT_S = 60.0
SETPRIV = shutil.which("setpriv")  # util-linux
ADMIN_USER = "admin"
ADMIN_PASSWORD = "vk-test-admin-password"

# The server's entry point: ``lnbits`` (lnbits.server:main), with PR_SET_PDEATHSIG set again in
# each forked child (the uvicorn process), and without the working directory (holding the
# ``lnbits`` symlink) on sys.path: the package is imported from the venv, as the script would.
_BOOTSTRAP = """\
import ctypes, os, signal, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
_libc = ctypes.CDLL(None, use_errno=True)
def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(1)
os.register_at_fork(after_in_child=_die_with_parent)
sys.argv[0] = "lnbits"
from lnbits.server import main
sys.exit(main())
"""


class LnbitsError(AssertionError):
    """An LNbits call failed (``status`` 0: no answer), or the server would not start."""

    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Wallet:
    """A wallet of the server: its id and keys (``adminkey`` spends, ``inkey`` invoices and
    reads), its name and owner (``user``)."""

    id: str
    adminkey: str
    inkey: str
    name: str = ""
    user: str = ""


# -- the venv --------------------------------------------------------------------------------

def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vending-kiosk"


def _venv_key(lock_text: str) -> str:
    digest = hashlib.sha256(lock_text.encode())
    digest.update(f"{sys.version_info[0]}.{sys.version_info[1]} {sysconfig.get_platform()}"
                  .encode())
    return digest.hexdigest()[:16]


def _network_up() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=3):
            return True
    except OSError:
        return False


def _pip_block(lock_text: str, name: str) -> str:
    """The lock file's entry for ``name`` (its ``name==version`` line and hash lines)."""
    lines = lock_text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(f"{name}=="):
            block = [line]
            while block[-1].rstrip().endswith("\\"):
                index += 1
                block.append(lines[index])
            return "\n".join(block) + "\n"
    raise LookupError(f"{name} is not pinned in {LOCK_FILE}")


def _run_pip(python: Path, args: list[str], log: Path) -> None:
    command = [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
               *args]
    with log.open("ab") as out:
        out.write(f"\n==== {' '.join(command)}\n".encode())
        out.flush()
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        text = "\n".join(line for line in log.read_text(errors="replace").splitlines()
                         if not line.startswith("WARNING: Location"))
        if not os.environ.get("CI") and not _network_up():
            pytest.skip("no network to build the LNbits test venv (pip failed; CI unset)")
        pytest.fail(f"building the LNbits test venv failed (pip exit {done.returncode}):\n"
                    f"{text[-6000:]}", pytrace=False)


def _build(target: Path, key: str, lock_text: str) -> None:
    build = Path(tempfile.mkdtemp(prefix=f"{target.name}.build-", dir=target.parent))
    try:
        log = build.parent / f"{build.name}.log"
        started = time.monotonic()
        made = subprocess.run([sys.executable, "-m", "venv", str(build)], check=False,
                              capture_output=True, text=True)
        if made.returncode != 0:
            pytest.fail(f"python -m venv failed:\n{made.stdout}{made.stderr}", pytrace=False)
        python = build / "bin" / "python"
        lock = build / LOCK_FILE.name  # the very text the key was made of
        lock.write_text(lock_text)
        # The pip bundled with Python 3.11 (23.2) refuses pydantic[email] (an extra asked for
        # by fastapi-sso) in --require-hashes mode: first the lock's own pip, by its hashes.
        pins = build / "pip.txt"
        pins.write_text(_pip_block(lock_text, "pip"))
        _run_pip(python, ["--require-hashes", "-r", str(pins)], log)
        _run_pip(python, ["--require-hashes", "-r", str(lock)], log)
        seconds = time.monotonic() - started
        (build / ".built").write_text(f"{LOCK_FILE.name} {key} in {seconds:.0f} s\n")
        build.rename(target)
        log.unlink(missing_ok=True)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)


def lnbits_venv() -> Path:
    """The LNbits venv (built now if missing; see the module docstring)."""
    if os.environ.get("VK_LNBITS_VENV"):
        return Path(os.environ["VK_LNBITS_VENV"])
    root = _cache_root()
    lock_text = LOCK_FILE.read_text()
    key = _venv_key(lock_text)
    target = root / f"lnbits-{key}"
    if (target / ".built").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".built").is_file():
            if target.exists():  # not ours to trust: a half-removed venv
                shutil.rmtree(target)
            for stale in root.glob(f"{target.name}.build-*"):  # a build killed midway
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)
            _build(target, key, lock_text)
    return target


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages/lnbits"))
    if not found:
        raise LnbitsError(f"no lnbits package in {venv}")
    return found[0].parent


# -- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


class LnbitsServer:
    """LNbits on ``127.0.0.1:port`` with FakeWallet and its data in ``root``; see the module
    docstring. ``LnbitsServer(root)`` then ``start()``, or use it as a context manager."""

    def __init__(self, root: Path | None = None, *, venv: Path | None = None,
                 port: int | None = None, settings: Mapping[str, str] | None = None) -> None:
        self._own_root = root is None  # a temp dir of ours: removed by close()
        self.root = Path(tempfile.mkdtemp(prefix="vk-lnbits-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.venv = venv or lnbits_venv()
        self.port = port or free_port()
        self.data = self.root / "data"
        self.log = self.root / "lnbits.log"
        self.shelf = self.root / "shelf"  # extensions to install (see install_extension)
        self.shelf_port = free_port()
        self._shelf_server: ThreadingHTTPServer | None = None
        self.settings: dict[str, str] = {
            "LNBITS_DATA_FOLDER": str(self.data),
            "LNBITS_EXTENSIONS_PATH": str(self.root / "ext"),
            "LNBITS_BACKEND_WALLET_CLASS": "FakeWallet",
            "FAKE_WALLET_SECRET": "vk-test-" + os.urandom(8).hex(),
            "LNBITS_ADMIN_UI": "true",
            "AUTH_HTTPS_ONLY": "false",
            "LNBITS_EXTENSIONS_MANIFESTS": json.dumps([self.shelf_url + "/extensions.json"]),
            "LNBITS_WASM_EXTENSIONS_MANIFESTS": "[]",
            "LNBITS_EXTENSIONS_DEFAULT_INSTALL": "[]",
            "LNBITS_PRICE_AGGREGATOR_ENABLED": "false",
            "LNBITS_EXCHANGE_RATE_PROVIDERS": "[]",
            "LNBITS_RATE_LIMIT_NO": "1000000",
            "ENABLE_LOG_TO_FILE": "false",
            "DEBUG": "false",
        }
        self.settings.update(settings or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.installed = False
        self._http = httpx.Client(timeout=15.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def shelf_url(self) -> str:
        return f"http://127.0.0.1:{self.shelf_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __repr__(self) -> str:
        return f"<LnbitsServer {self.base_url} log={self.log}>"

    # life
    def start(self) -> LnbitsServer:
        """Start (again: same port, same data); returns once it answers and the super user is
        logged in."""
        if self.running:
            return self
        workdir = self.root / "run"
        workdir.mkdir(exist_ok=True)
        link = workdir / "lnbits"
        if not link.is_symlink():
            link.symlink_to(site_packages(self.venv) / "lnbits", target_is_directory=True)
        (workdir / ".env").write_text(
            "".join(f"{key}={value}\n" for key, value in self.settings.items()))
        env = {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.root),
               "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [str(self.venv / "bin" / "python"), "-c", _BOOTSTRAP,
                "--host", "127.0.0.1", "--port", str(self.port)]
        command = [SETPRIV, "--pdeathsig", "KILL", "--", *argv] if SETPRIV else argv
        with self.log.open("ab") as out:
            out.write(f"\n==== {time.strftime('%H:%M:%S')} lnbits --port {self.port}\n"
                      .encode())
            out.flush()
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=workdir, env=env,
                                            start_new_session=True)
        try:
            self._wait_healthy()
            self._log_in()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if not self.running:
                raise self._error(f"LNbits exited ({self.process and self.process.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                # before the first install, it answers 307 to /first_install
                if self._http.get(f"{self.base_url}/api/v1/health").status_code in (200, 307):
                    return
            if time.monotonic() > deadline:
                raise self._error(f"LNbits did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def _log_in(self) -> None:
        body = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        if not self.installed:
            reply = self.api("PUT", "/api/v1/auth/first_install",
                             json={**body, "password_repeat": ADMIN_PASSWORD})
            self.installed = True
        else:
            reply = self.api("POST", "/api/v1/auth", json=body)
        self.token = self._json(reply)["access_token"]
        # its session cookies would make every later request the super user's: bearer only
        self._http.cookies.clear()

    def _signal(self, sig: signal.Signals, wait_s: float) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        # the uvicorn child, if it outlived its parent: the whole group, until it is gone
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, signal.SIGKILL if time.monotonic() > deadline - 3
                          else 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.process = None

    def stop(self) -> None:
        """SIGTERM to the server's process group (uvicorn shuts down cleanly); SIGKILL if it is
        slow. The port is free once this returns."""
        self._signal(signal.SIGTERM, 10)

    def kill(self) -> None:
        """SIGKILL to the server's process group (a crash / power cut)."""
        self._signal(signal.SIGKILL, 5)

    def close(self) -> None:
        self.kill()
        self._http.close()
        if self._shelf_server is not None:
            self._shelf_server.shutdown()
            self._shelf_server.server_close()
            self._shelf_server = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LnbitsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # HTTP
    def _error(self, message: str, status: int = 0, body: Any = None) -> LnbitsError:
        return LnbitsError(f"{message}\n-- {self.log} (tail):\n{_tail(self.log)}", status, body)

    def api(self, method: str, path: str, key: str | Wallet | None = None,
            admin: bool = False, **kwargs: Any) -> httpx.Response:
        """One request to ``path`` with ``X-Api-Key: key`` (a Wallet: its inkey) and/or the
        super user's bearer token (``admin``); the raw response."""
        headers = dict(kwargs.pop("headers", {}))
        if isinstance(key, Wallet):
            key = key.inkey
        if key:
            headers["X-Api-Key"] = key
        if admin:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return self._http.request(method, self.base_url + path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise self._error(f"{method} {path}: {error!r}") from error

    def _json(self, reply: httpx.Response) -> Any:
        try:
            body = reply.json()
        except ValueError:
            body = reply.text
        if reply.is_error or reply.is_redirect:
            raise self._error(f"{reply.request.method} {reply.request.url.path} -> "
                              f"{reply.status_code} {body!r}", reply.status_code, body)
        return body

    # helpers
    def create_wallet(self, name: str = "wallet") -> Wallet:
        """A new account with one wallet named ``name``."""
        body = self._json(self.api("POST", "/api/v1/account", json={"name": name}))
        return Wallet(body["id"], body["adminkey"], body["inkey"], body.get("name", name),
                      body.get("user", ""))

    def fund(self, wallet: Wallet, sats: int) -> None:
        """Credit ``sats`` to ``wallet`` (the super user's balance update)."""
        self._json(self.api("PUT", "/users/api/v1/balance", admin=True,
                            json={"id": wallet.id, "amount": int(sats)}))

    def invoice(self, wallet: Wallet, sats: int, memo: str = "", expiry: int = 3600,
                **extra: Any) -> dict[str, Any]:
        """A new invoice of ``wallet`` (created with its invoice key) for ``sats``."""
        body = {"out": False, "amount": sats, "memo": memo, "expiry": expiry, **extra}
        return dict(self._json(self.api("POST", "/api/v1/payments", wallet.inkey, json=body)))

    def pay(self, payer: Wallet, bolt11: str) -> dict[str, Any]:
        """``payer`` pays ``bolt11`` (with its admin key); settles at once between wallets of
        this server. Raises ``LnbitsError`` if LNbits refuses."""
        return dict(self._json(self.api("POST", "/api/v1/payments", payer.adminkey,
                                        json={"out": True, "bolt11": bolt11})))

    def payment(self, key: str | Wallet, payment_hash: str) -> httpx.Response:
        """``GET /api/v1/payments/<hash>`` with ``key`` (a Wallet: its inkey), raw."""
        return self.api("GET", f"/api/v1/payments/{payment_hash}", key)

    def balance_msat(self, wallet: Wallet) -> int:
        return int(self._json(self.api("GET", "/api/v1/wallet", wallet.inkey))["balance"])

    def admin_wallet(self, name: str = "admin wallet") -> Wallet:
        """A new wallet of the super user (the account ``install_extension`` enables
        extensions for)."""
        body = self._json(self.api("POST", "/api/v1/wallet", admin=True, json={"name": name}))
        return Wallet(body["id"], body["adminkey"], body["inkey"], body.get("name", name),
                      body.get("user", ""))

    def install_extension(self, archive: Path, ext_id: str, version: str,
                          min_lnbits_version: str = "1.0.0") -> None:
        """Install ``archive`` (a zip of an extension's repository, e.g. ``git archive
        --format zip --prefix=withdraw-1.2.2/ v1.2.2`` in lnbits/withdraw), activate it and
        enable it for the super user, offline. LNbits installs extensions only from an http(s)
        manifest naming an http(s) archive (``POST /api/v1/extension``), so this server's
        manifest list is one URL on a loopback HTTP server in the test process (the
        "shelf"), which serves the manifest and the zip from ``shelf``."""
        self.shelf.mkdir(exist_ok=True)
        zip_name = f"{ext_id}-{version}.zip"
        shutil.copyfile(archive, self.shelf / zip_name)
        archive_url = f"{self.shelf_url}/{zip_name}"
        manifest = {"extensions": [{
            "id": ext_id, "name": ext_id, "version": version, "archive": archive_url,
            "hash": hashlib.sha256((self.shelf / zip_name).read_bytes()).hexdigest(),
            "min_lnbits_version": min_lnbits_version, "short_description": ext_id}]}
        (self.shelf / "extensions.json").write_text(json.dumps(manifest))
        if self._shelf_server is None:
            handler = functools.partial(_QuietHandler, directory=str(self.shelf))
            self._shelf_server = ThreadingHTTPServer(("127.0.0.1", self.shelf_port), handler)
            threading.Thread(target=self._shelf_server.serve_forever, daemon=True,
                             name=f"lnbits-shelf-{self.shelf_port}").start()
        self._json(self.api("POST", "/api/v1/extension", admin=True, json={
            "ext_id": ext_id, "archive": archive_url,
            "source_repo": f"{self.shelf_url}/extensions.json", "version": version}))
        self._json(self.api("PUT", f"/api/v1/extension/{ext_id}/activate", admin=True))
        self._json(self.api("PUT", f"/api/v1/extension/{ext_id}/enable", admin=True))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def running_lnbits(root: Path, **options: Any) -> Iterator[LnbitsServer]:
    server = LnbitsServer(root, **options)
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture(name="lnbits")
def lnbits_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LnbitsServer]:
    """A running ``LnbitsServer`` for one test (first install done); killed at the end."""
    with running_lnbits(tmp_path_factory.mktemp("lnbits")) as server:
        yield server


@pytest.fixture(name="module_lnbits", scope="module")
def module_lnbits_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LnbitsServer]:
    """``lnbits`` shared by a whole module (restart it if a test stops it)."""
    with running_lnbits(tmp_path_factory.mktemp("lnbits")) as server:
        yield server
