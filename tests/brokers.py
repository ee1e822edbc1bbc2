"""Real MQTT brokers for the fleet-link tests: Debian's mosquitto (TLS, passwords, per-machine
ACLs, persistence) and a three-node nats-server cluster with JetStream and its MQTT listener,
plus ``Collector``, a console client that records what a kiosk published.

Every broker runs as its own process on free loopback ports, with its config, TLS material,
store and log in its own directory (a ``tmp_path``: kept by pytest after a failure, so the log
is there to read), and is killed when its fixture ends, whatever the test did. A broker also
dies with the pytest process that started it (``setpriv --pdeathsig KILL``). Fixtures (import
them into a test module; pytest finds them there):

- ``mosquitto`` (per test) and ``module_mosquitto`` (per module): a running ``Mosquitto`` with
  a TLS listener, a plain loopback listener, machines ``m-001`` and ``m-002`` and the console.
- ``nats_cluster`` (per test) and ``module_nats_cluster`` (per module): a running
  ``NatsCluster`` of three nodes, JetStream's meta leader elected and MQTT answering on each.

The topic plan the mosquitto ACL enforces (the username is the machine id)::

    machine <id>  write  vk/v1/<id>/{status,state,event,reply} (and below), homeassistant/#
                  read   vk/v1/<id>/cmd
    console       read   vk/v1/#          write  vk/v1/+/cmd

Quirks found while writing these fixtures (mosquitto 2.0.11 and nats-server 2.9.10, Debian 12;
each one checked by tests/test_brokers.py unless it says otherwise):

mosquitto 2.0.11
- Run as root it drops to the ``mosquitto`` user unless the config says ``user root``; that
  user could not read the 0700 temp dir, so the config here always says ``user root``.
- A publish the ACL refuses is acknowledged like any other (MQTT 3.1.1 has no way to say no)
  and dropped ("Denied PUBLISH" in the log): to prove a message was *not* delivered, publish an
  allowed one after it and wait for that (delivery is in order).
- A subscription the ACL refuses is still granted in the SUBACK (QoS 1 as asked), and nothing
  is delivered on it; ``vk/v1/#`` as a machine yields only its own ``cmd``. Don't expect 0x80.
- A will on a topic the ACL refuses does NOT fail the CONNECT (CONNACK 0); the will is dropped
  silently when it fires.
- ``pattern`` ACL lines apply to every user (the console, too, may write
  ``vk/v1/console/status``: harmless). The test-only ``observer`` user reads ``#``.
- A lapsed keepalive is noticed only by a periodic check: the will came 5-6 s after the client
  went silent, with keepalive 1, 2 or 3 s alike. A closed socket gets its will at once.
- Retained messages survive a restart if the store was written: ``stop()`` sends SIGTERM
  (mosquitto writes ``mosquitto.db`` on the way out); ``kill()`` (SIGKILL, a crash) keeps what
  the last autosave wrote (``autosave_interval 1`` here; not covered by a test).
- The readiness probe (a bare TCP connect) logs "Client connection from 127.0.0.1 failed:
  ... unexpected eof" on the TLS port: harmless.
- A retained message reaches an already-subscribed client with retain 0 and a new subscriber
  with retain 1 (MQTT 3.1.1 as written); the same on NATS.

nats-server 2.9.10 (MQTT)
- MQTT needs JetStream and ``server_name``; its state lives in streams ``$MQTT_sess``,
  ``$MQTT_msgs`` and ``$MQTT_rmsgs``, created by the first MQTT CONNECT of the account ("Creating
  MQTT streams/consumers with replicas N" in the log; that CONNECT took about 2 s). A CONNECT
  before JetStream has a meta leader fails, so ``start()`` waits for routes and one agreed meta
  leader with every follower current (``/routez``, ``/jsz``), then connects once to each node.
- The streams' replica count is decided at that first CONNECT from the peers known then: in a
  cluster still forming it came out as 2 (R2: losing either replica loses the stream, and a
  reconnect after killing node 0 failed with CONNACK "Unspecified error"). The config pins
  ``mqtt { stream_replicas: 3 }``.
- QoS 0 and 1 only: a QoS 2 subscription is granted QoS 1 in the SUBACK; a QoS 2 PUBLISH makes
  the server close the connection ("publish QoS=2 not supported" in its log).
- Retained messages are cluster-wide: one published via node 0 reaches new subscribers on nodes
  1 and 2 with the retain flag set.
- The will (with retain) is published when the connection drops without DISCONNECT.
- After a node is killed its clients must connect to another node's URL themselves (paho keeps
  one host); the same client id is taken over at once on another node, and publishing and
  delivery go on between the two left. Restarting a node took about 5 s before MQTT answered on
  it; a CONNECT it gets while catching up can fail ("unable to connect: timeout for request type
  CD" in its log), so ``start_node()`` returns only once an MQTT client could connect there.
- Killing the node that leads ``$MQTT_msgs`` stalls QoS 1 publishes through the others: the
  server waits 4 s for the store ("timeout for request type MS" in its log), then closes the
  client's connection; a new stream leader took up to ~6 s on a loaded machine (seen once in
  five ``-n 4`` runs). ``stop_node()`` therefore waits (``wait=True``) until every MQTT stream
  has a leader among the nodes left; pass ``wait=False`` to test a kiosk riding that out.
- No TLS and no auth on the NATS MQTT listeners here (the brief allowed plain MQTT).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID



def _binary(name: str) -> str | None:
    """Where ``name`` is: on PATH, or in /usr/sbin (Debian's brokers; off a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


MOSQUITTO = _binary("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = _binary("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
NATS_SERVER = _binary("nats-server") or "/usr/sbin/nats-server"


def require(*names: str, package: str) -> None:
    """Skip the test when a broker's binaries are missing, fail it in CI (``CI`` set), which
    installs them (.ci/run: apt-get install ``package``), as ``fakes.installed`` does."""
    missing = [name for name in names if _binary(name) is None]
    if missing:
        message = (f"{', '.join(missing)} not installed (.ci/run installs it: apt-get install "
                   f"{package})")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

START_TIMEOUT_S = 10.0
CONSOLE = "console"
OBSERVER = "observer"
MACHINE_TOPICS = ("status", "state", "event", "reply")
MQTT_STREAMS = ("$MQTT_sess", "$MQTT_msgs", "$MQTT_rmsgs")  # nats-server's MQTT state


# -- processes and ports ---------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback TCP ports (all held open until all are chosen)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` accepts a TCP connection now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


SETPRIV = shutil.which("setpriv")  # util-linux


def _spawn(argv: Sequence[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """``argv`` started with its output appended to ``log``; under ``setpriv --pdeathsig KILL``
    when there is one, so the broker dies with the pytest process (no Python runs in the child
    between fork and exec: other threads may hold locks)."""
    command = list(argv)
    if SETPRIV is not None:
        command = [SETPRIV, "--pdeathsig", "KILL", "--", *command]
    with log.open("ab") as out:
        out.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd)


def _end(process: subprocess.Popen[bytes] | None, graceful: bool, wait_s: float = 5.0) -> None:
    """SIGTERM (``graceful``) or SIGKILL ``process`` and reap it; SIGKILL if SIGTERM is slow."""
    if process is None or process.poll() is not None:
        return
    (process.terminate if graceful else process.kill)()
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(wait_s)


def _tail(log: Path, lines: int = 60) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def _address_in_use(log: Path) -> bool:
    return "address already in use" in _tail(log, 200).lower()


def _wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# -- TLS -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA and a server certificate it signed for 127.0.0.1 and localhost."""

    ca_file: Path
    ca_key: Path
    cert_file: Path
    key_file: Path


def make_tls(directory: Path, hosts: Sequence[str] = ("127.0.0.1", "::1", "localhost")) -> TlsFiles:
    """A fresh test CA and server certificate (SANs: ``hosts``, IPs as IP SANs) in
    ``directory`` as ca.crt/ca.key/server.crt/server.key."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vending-kiosk test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=True, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))

    def key_pem(private: ec.EllipticCurvePrivateKey) -> bytes:
        return private.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())

    files = TlsFiles(directory / "ca.crt", directory / "ca.key",
                     directory / "server.crt", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.ca_key.write_bytes(key_pem(ca_key))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(key_pem(key))
    for private in (files.ca_key, files.key_file):
        private.chmod(0o600)
    return files


# -- mosquitto -------------------------------------------------------------------------------

class Mosquitto:
    """Debian's mosquitto on loopback: a TLS listener (``url``, server certificate signed by the
    test CA at ``ca_file``), optionally a plain one (``plain_url``), password users (each
    machine, named by its id, and ``console``), the fleet ACL, and a persistent store that
    outlives ``stop()``/``start()`` on the same ports.

    ``Mosquitto(root, machines=["m-001"])``, ``add_machine(id)`` before ``start()``; use as a
    context manager or call ``close()``."""

    def __init__(self, root: Path | None = None, machines: Sequence[str] = (), *,
                 plain: bool = True, console_password: str | None = None) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="vk-mosquitto-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.plain = plain
        self.credentials: dict[str, str] = {}
        self.credentials[CONSOLE] = console_password or "console-" + os.urandom(6).hex()
        self.credentials[OBSERVER] = "observer-" + os.urandom(6).hex()
        for machine in machines:
            self.add_machine(machine)
        self.tls = make_tls(self.root / "tls")
        self.log = self.root / "mosquitto.log"
        self.store = self.root / "store"
        self.store.mkdir(exist_ok=True)
        self.port = 0
        self.plain_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    # users
    def add_machine(self, machine_id: str, password: str | None = None) -> tuple[str, str]:
        """A machine user (username = ``machine_id``); returns (username, password). Takes
        effect at the next ``start()``."""
        if not machine_id or machine_id in (CONSOLE, OBSERVER) or any(
                char in machine_id for char in "+#/: \n"):
            raise ValueError(f"not a usable machine id: {machine_id!r}")
        self.credentials[machine_id] = password or f"{machine_id}-" + os.urandom(6).hex()
        return machine_id, self.credentials[machine_id]

    def machine(self, machine_id: str) -> tuple[str, str]:
        """(username, password) of a machine added before."""
        return machine_id, self.credentials[machine_id]

    @property
    def console(self) -> tuple[str, str]:
        """(username, password) of the console user."""
        return CONSOLE, self.credentials[CONSOLE]

    @property
    def observer(self) -> tuple[str, str]:
        """(username, password) of a test-only user that may read every topic (``#``): to see
        whether anything, allowed or not, was routed."""
        return OBSERVER, self.credentials[OBSERVER]

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    @property
    def plain_url(self) -> str:
        if not self.plain:
            raise AttributeError("this broker has no plain listener")
        return f"mqtt://127.0.0.1:{self.plain_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # files
    def _write_files(self) -> Path:
        passwd = self.root / "passwd"
        passwd.write_text("")
        for user, password in self.credentials.items():
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True,
                           capture_output=True)
        passwd.chmod(0o600)
        acl = self.root / "acl"
        rules = [f"user {CONSOLE}", "topic read vk/v1/#", "topic write vk/v1/+/cmd", "",
                 f"user {OBSERVER}", "topic read #", "",
                 "# every other user is a machine whose username is its id"]
        rules += [f"pattern write vk/v1/%u/{topic}/#" for topic in MACHINE_TOPICS]
        rules += ["pattern write homeassistant/#", "pattern read vk/v1/%u/cmd"]
        acl.write_text("\n".join(rules) + "\n")
        config = self.root / "mosquitto.conf"
        lines = [
            "user root",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"acl_file {acl}",
            "persistence true",
            f"persistence_location {self.store}/",
            "autosave_interval 1",
            "log_dest stderr",
            "log_type all",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            "",
            f"listener {self.port} 127.0.0.1",
            f"cafile {self.tls.ca_file}",
            f"certfile {self.tls.cert_file}",
            f"keyfile {self.tls.key_file}",
            "tls_version tlsv1.2",
        ]
        if self.plain:
            lines += ["", f"listener {self.plain_port} 127.0.0.1"]
        config.write_text("\n".join(lines) + "\n")
        return config

    # life
    def start(self) -> Mosquitto:
        """Start (again, on the same ports and store after the first time); returns when every
        listener accepts connections, else raises with the broker's log."""
        if self.running:
            return self
        first = self.port == 0
        for attempt in range(3):
            if first:
                self.port, self.plain_port = free_ports(2)
            config = self._write_files()
            self.process = _spawn([MOSQUITTO, "-c", str(config)], self.log, self.root)
            ports = [self.port] + ([self.plain_port] if self.plain else [])
            up = _wait_until(lambda ports=ports: self.process is None  # type: ignore[misc]
                             or self.process.poll() is not None
                             or all(port_open(port) for port in ports), START_TIMEOUT_S)
            if up and self.running:
                return self
            _end(self.process, graceful=False)
            if not (first and _address_in_use(self.log) and attempt < 2):
                break
        raise RuntimeError(f"mosquitto did not start on {self.port}/{self.plain_port} within "
                           f"{START_TIMEOUT_S} s; its log ({self.log}):\n{_tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM: mosquitto writes its store (retained messages, sessions) and exits."""
        _end(self.process, graceful=True)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, a crash: only what the last autosave (1 s) wrote survives."""
        _end(self.process, graceful=False)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.kill()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Mosquitto({self.url}, root={self.root})"


# -- nats-server cluster ---------------------------------------------------------------------

@dataclass
class NatsNode:
    """One nats-server of a ``NatsCluster``: its ports, directory and process."""

    index: int
    name: str
    client_port: int
    http_port: int
    route_port: int
    mqtt_port: int
    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "nats-server.log"

    @property
    def config(self) -> Path:
        return self.root / "nats-server.conf"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def monitor(self, endpoint: str) -> dict[str, Any] | None:
        """``http://127.0.0.1:<http_port>/<endpoint>`` as JSON, None if it doesn't answer."""
        url = f"http://127.0.0.1:{self.http_port}/{endpoint}"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as reply:  # noqa: S310
                data: dict[str, Any] = json.load(reply)
                return data
        except (OSError, ValueError, urllib.error.URLError):
            return None


class NatsCluster:
    """Three nats-server processes clustered on loopback routes, each with JetStream (its store
    in its own directory) and an MQTT listener (plain, no auth): ``mqtt_urls``; ``stop_node(i)``
    and ``start_node(i)`` on the same ports and store. Use as a context manager or call
    ``close()``."""

    def __init__(self, root: Path | None = None, size: int = 3, *,
                 cluster_name: str = "vk") -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="vk-nats-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.cluster_name = cluster_name
        self.size = size
        self.nodes: list[NatsNode] = []

    @property
    def mqtt_urls(self) -> list[str]:
        return [node.mqtt_url for node in self.nodes]

    def _assign_ports(self) -> None:
        ports = free_ports(4 * self.size)
        self.nodes = []
        for index in range(self.size):
            client, http, route, mqtt_port = ports[4 * index:4 * index + 4]
            node_root = self.root / f"n{index}"
            node_root.mkdir(exist_ok=True)
            self.nodes.append(NatsNode(index, f"n{index}", client, http, route, mqtt_port,
                                       node_root))

    def _write_config(self, node: NatsNode) -> None:
        routes = ", ".join(f'"nats-route://127.0.0.1:{other.route_port}"'
                           for other in self.nodes if other is not node)
        store = node.root / "jetstream"
        node.config.write_text(f"""\
server_name: "{node.name}"
listen: "127.0.0.1:{node.client_port}"
http: "127.0.0.1:{node.http_port}"
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 256MB
}}
cluster {{
  name: "{self.cluster_name}"
  listen: "127.0.0.1:{node.route_port}"
  routes: [{routes}]
}}
mqtt {{
  listen: "127.0.0.1:{node.mqtt_port}"
  stream_replicas: {self.size}
}}
""")

    def _launch(self, node: NatsNode) -> None:
        self._write_config(node)
        node.process = _spawn([NATS_SERVER, "-c", str(node.config)], node.log, node.root)

    def _fail(self, why: str) -> RuntimeError:
        logs = "\n".join(f"--- {node.name} ({node.log}):\n{_tail(node.log, 25)}"
                         for node in self.nodes)
        return RuntimeError(f"nats cluster: {why}\n{logs}")

    def start(self, timeout: float = 20.0) -> NatsCluster:
        """Start every node; returns when the routes are up, JetStream has a meta leader and an
        MQTT client can connect on every node, else raises with the nodes' logs."""
        for attempt in range(3):
            self._assign_ports()
            for node in self.nodes:
                self._launch(node)
            if _wait_until(lambda: all(node.running and port_open(node.mqtt_port)
                                       for node in self.nodes), START_TIMEOUT_S):
                break
            in_use = any(_address_in_use(node.log) for node in self.nodes)
            for node in self.nodes:
                _end(node.process, graceful=False)
            if not (in_use and attempt < 2):
                raise self._fail(f"a node did not listen within {START_TIMEOUT_S} s")
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until every running node has all its routes, agrees on a JetStream meta leader,
        and accepts an MQTT connection (the first one creates the account's MQTT streams)."""
        deadline = time.monotonic() + timeout
        running = [node for node in self.nodes if node.running]

        def formed() -> bool:
            leaders: dict[str, dict[str, Any]] = {}
            for node in running:
                routez = node.monitor("routez")
                jsz = node.monitor("jsz")
                if routez is None or jsz is None:
                    return False
                if routez.get("num_routes", 0) < len(running) - 1:
                    return False
                meta = jsz.get("meta_cluster") or {}
                if not meta.get("leader"):
                    return False
                leaders[meta["leader"]] = meta
            if len(leaders) != 1:
                return False
            # the leader's own view lists its followers: all of the running ones current
            leader = next(iter(leaders))
            meta = next((node.monitor("jsz") or {} for node in running if node.name == leader),
                        {}).get("meta_cluster") or {}
            current = [peer for peer in meta.get("replicas") or [] if peer.get("current")]
            return len(current) >= len(running) - 1

        if not _wait_until(formed, max(deadline - time.monotonic(), 0.1), interval=0.1):
            raise self._fail(f"no cluster with a JetStream meta leader within {timeout} s")
        for node in running:
            error = "not tried"
            while time.monotonic() < deadline:
                try:
                    client = connect(node.mqtt_url, client_id=f"ready-{node.name}-"
                                     + os.urandom(3).hex(), timeout=5.0)
                except (OSError, ConnectionError) as failure:
                    error = str(failure)
                    time.sleep(0.2)
                    continue
                disconnect(client)
                break
            else:
                raise self._fail(f"MQTT on {node.name} refused connections: {error}")

    def stop_node(self, index: int, graceful: bool = False, wait: bool = True,
                  timeout: float = 20.0) -> None:
        """Kill node ``index`` (SIGKILL; ``graceful``: SIGTERM, a clean shutdown). ``wait``:
        return only once the MQTT streams have leaders on the nodes left (until then a QoS 1
        PUBLISH through another node can stall 4 s and have its connection closed)."""
        node = self.nodes[index]
        _end(node.process, graceful=graceful)
        node.process = None
        if wait and any(other.running for other in self.nodes):
            self.wait_mqtt_streams(timeout)

    def wait_mqtt_streams(self, timeout: float = 20.0) -> None:
        """Wait until every running node sees a running leader for each MQTT stream."""
        running = [node for node in self.nodes if node.running]
        names = {node.name for node in running}

        def led() -> bool:
            for node in running:
                jsz = node.monitor("jsz?streams=true")
                if jsz is None:
                    return False
                leaders = {stream["name"]: (stream.get("cluster") or {}).get("leader")
                           for account in jsz.get("account_details") or []
                           for stream in account.get("stream_detail") or []}
                if any(leaders.get(stream) not in names for stream in MQTT_STREAMS):
                    return False
            return True

        if not _wait_until(led, timeout, interval=0.1):
            raise self._fail(f"MQTT streams without a leader on {sorted(names)} "
                             f"within {timeout} s")

    def start_node(self, index: int, timeout: float = 20.0) -> None:
        """Start node ``index`` again on its ports and store; returns when it has rejoined."""
        node = self.nodes[index]
        if node.running:
            return
        self._launch(node)
        if not _wait_until(lambda: not node.running or port_open(node.mqtt_port),
                           START_TIMEOUT_S) or not node.running:
            raise self._fail(f"{node.name} did not start again within {START_TIMEOUT_S} s")
        self.wait_ready(timeout)

    def close(self) -> None:
        for node in self.nodes:
            _end(node.process, graceful=False)
            node.process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NatsCluster({self.mqtt_urls}, root={self.root})"


# -- clients ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """One message a ``Collector`` received."""

    topic: str
    payload: bytes
    retain: bool
    qos: int

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.payload)


def client_for(url: str, *, client_id: str = "", username: str | None = None,
               password: str | None = None, ca_file: Path | str | None = None,
               clean_session: bool = True) -> tuple[mqtt.Client, str, int]:
    """An unconnected paho 2.x client (MQTT 3.1.1, callbacks VERSION2) set up for ``url``
    (``mqtt://`` or ``mqtts://host:port``; mqtts verifies against ``ca_file``, or the system
    CAs when None), with the host and port to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or parts.hostname is None or parts.port is None:
        raise ValueError(f"not an mqtt:// or mqtts:// URL with a port: {url}")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, protocol=mqtt.MQTTv311)
    if username is not None:
        client.username_pw_set(username, password)
    if parts.scheme == "mqtts":
        client.tls_set(ca_certs=str(ca_file) if ca_file is not None else None)
    return client, parts.hostname, parts.port


def connect(url: str, *, client_id: str = "", username: str | None = None,
            password: str | None = None, ca_file: Path | str | None = None,
            keepalive: int = 30, clean_session: bool = True,
            will: tuple[str, bytes, int, bool] | None = None, timeout: float = 5.0,
            loop: bool = True) -> mqtt.Client:
    """A paho client connected to ``url`` (CONNACK 0 received), its network loop running in a
    thread (``loop=False``: connected by hand and left without a loop: nothing more is read or
    sent, not even PINGREQ). ``will``: (topic, payload, qos, retain). Raises ConnectionError
    with the CONNACK's reason if the broker refuses, OSError/ssl.SSLError if the socket or TLS
    fails."""
    client, host, port = client_for(url, client_id=client_id, username=username,
                                    password=password, ca_file=ca_file,
                                    clean_session=clean_session)
    if will is not None:
        client.will_set(will[0], will[1], qos=will[2], retain=will[3])
    done = threading.Event()
    reason: list[Any] = []

    def on_connect(_client: mqtt.Client, _userdata: object, _flags: object,
                   code: Any, _properties: object) -> None:
        reason.append(code)
        done.set()

    def on_disconnect(_client: mqtt.Client, _userdata: object, _flags: object,
                      code: Any, _properties: object) -> None:
        if not done.is_set():
            reason.append(code)
            done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect(host, port, keepalive=keepalive)
    if loop:
        client.loop_start()
        done.wait(timeout)
    else:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
    code = reason[0] if reason else None
    if code is None or getattr(code, "is_failure", True):
        client.on_connect = client.on_disconnect = None
        with contextlib.suppress(Exception):
            client.disconnect()
        if loop:
            client.loop_stop()
        raise ConnectionError(f"MQTT connect to {url} as {username!r}: "
                              f"{code if code is not None else 'no CONNACK'}")
    client.on_connect = client.on_disconnect = None
    return client


def disconnect(client: mqtt.Client) -> None:
    """A clean DISCONNECT (no will), then the loop stopped."""
    with contextlib.suppress(Exception):
        client.disconnect()
    with contextlib.suppress(Exception):
        client.loop_stop()


def drop(client: mqtt.Client) -> None:
    """End ``client``'s connection the way a crash or a cut cable does: the socket closed with
    no DISCONNECT, so the broker publishes its will."""
    with contextlib.suppress(Exception):
        client.loop_stop()  # a loop would reconnect: stop it first
    sock = client.socket()
    if isinstance(sock, socket.socket):  # ssl.SSLSocket too
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # no TLS close_notify either: just gone
        with contextlib.suppress(OSError):
            sock.close()


def publish(client: mqtt.Client, topic: str, payload: bytes | str, qos: int = 1,
            retain: bool = False, timeout: float = 5.0) -> None:
    """Publish and wait until the broker acknowledged it (QoS 1) or it was written (QoS 0)."""
    info = client.publish(topic, payload, qos=qos, retain=retain)
    info.wait_for_publish(timeout)
    if not info.is_published():
        raise TimeoutError(f"publish to {topic} not acknowledged within {timeout} s")


class Collector:
    """A console client subscribed (QoS 1) to ``topic``; collects every message it receives
    (topic, payload bytes, retain flag, QoS) from paho's thread. Subscribes again after each
    reconnect (paho reconnects on its own when the broker comes back).

    ``Collector(url, "vk/v1/#", username=..., password=..., ca_file=...)``; returns once the
    subscription is acknowledged. ``wait_for(predicate, timeout)`` -> the first message that
    matches (those received before the call count)."""

    def __init__(self, url: str, topic: str = "vk/v1/#", *, username: str | None = None,
                 password: str | None = None, ca_file: Path | str | None = None,
                 qos: int = 1, client_id: str | None = None, timeout: float = 10.0,
                 clean_session: bool = True) -> None:
        self.url = url
        self.topic = topic
        self.qos = qos
        self._messages: list[Message] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.granted: list[int] = []
        client, host, port = client_for(
            url, client_id=client_id or "collector-" + os.urandom(4).hex(),
            username=username, password=password, ca_file=ca_file, clean_session=clean_session)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.client = client
        client.connect(host, port, keepalive=30)
        client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise TimeoutError(f"Collector: no SUBACK for {topic} from {url} within {timeout} s")

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    code: Any, _properties: object) -> None:
        if not code.is_failure:
            client.subscribe(self.topic, qos=self.qos)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: object, _mid: int,
                      codes: list[Any], _properties: object) -> None:
        self.granted = [code.value for code in codes]
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self._messages.append(Message(message.topic, bytes(message.payload),
                                          bool(message.retain), message.qos))
            self._changed.notify_all()

    @property
    def messages(self) -> list[Message]:
        """A copy of every message received so far, oldest first."""
        with self._changed:
            return list(self._messages)

    def on(self, topic: str) -> list[Message]:
        """The messages received on exactly ``topic``."""
        return [message for message in self.messages if message.topic == topic]

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """The first message (received so far or within ``timeout``) ``predicate`` accepts;
        AssertionError listing what did arrive if none does."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self._messages:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no matching message on {self.topic} within {timeout} s; received: "
                        f"{[(m.topic, m.payload[:80], m.retain) for m in self._messages]}")
                self._changed.wait(left)

    def wait_topic(self, topic: str, timeout: float = 5.0) -> Message:
        return self.wait_for(lambda message: message.topic == topic, timeout)

    def close(self) -> None:
        disconnect(self.client)

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def console_collector(broker: Mosquitto, topic: str = "vk/v1/#", *, user: str = CONSOLE,
                      **options: Any) -> Collector:
    """A ``Collector`` logged in to ``broker`` over TLS as the console (or ``user``: a machine
    id, or ``OBSERVER``)."""
    username, password = user, broker.credentials[user]
    return Collector(broker.url, topic, username=username, password=password,
                     ca_file=broker.ca_file, **options)


# -- fixtures --------------------------------------------------------------------------------

DEFAULT_MACHINES = ("m-001", "m-002")


@contextlib.contextmanager
def running_mosquitto(root: Path, machines: Sequence[str] = DEFAULT_MACHINES,
                      plain: bool = True) -> Iterator[Mosquitto]:
    """A started ``Mosquitto`` in ``root``, killed on the way out (skipped if not installed)."""
    require("mosquitto", "mosquitto_passwd", package="mosquitto")
    broker = Mosquitto(root, machines, plain=plain)
    try:
        yield broker.start()
    finally:
        broker.close()


@contextlib.contextmanager
def running_nats(root: Path) -> Iterator[NatsCluster]:
    """A started ``NatsCluster`` in ``root``, killed on the way out (skipped if not installed)."""
    require("nats-server", package="nats-server")
    cluster = NatsCluster(root)
    try:
        yield cluster.start()
    finally:
        cluster.close()


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A running ``Mosquitto`` for one test: TLS and plain listeners, machines m-001 and m-002,
    the console; killed at the end."""
    with running_mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(name="module_mosquitto", scope="module")
def module_mosquitto_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """``mosquitto`` shared by a whole module (don't stop it in a test)."""
    with running_mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(name="nats_cluster")
def nats_cluster_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A running three-node ``NatsCluster`` for one test; killed at the end."""
    with running_nats(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster


@pytest.fixture(name="module_nats_cluster", scope="module")
def module_nats_cluster_fixture(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """``nats_cluster`` shared by a whole module (restart any node a test stops)."""
    with running_nats(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster

