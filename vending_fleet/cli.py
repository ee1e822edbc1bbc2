"""The ``vending-fleet`` command: the operator's console for a fleet of vending kiosks.

    vending-fleet serve --config PATH                 the console (dashboard, broker, alerts)
    vending-fleet add-user NAME --role ROLE --config PATH [--password-stdin]
    vending-fleet keygen PATH                         the fleet's command key
    vending-fleet simulate --broker URL --machines N [--rate EVENTS_PER_S]
    vending-fleet demo [--machines N]                 console + embedded broker + simulated fleet

Exit status: 0 done; 1 failed (one ``vending-fleet: ...`` line on stderr says why); 2 the command
line or the config is wrong (every config issue, one a line); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from kiosk.errors import ConfigError

DEFAULT_CONFIG = Path("/etc/vending-fleet/console.toml")
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
ROLES = ("viewer", "operator", "admin")

log = logging.getLogger("vending_fleet")


class UsageError(Exception):
    """A wrong input found after parsing (exit 2, one line)."""


class Failed(Exception):
    """An expected failure (exit 1, one line)."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.command(args))
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"vending-fleet: {issue}", file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as exc:
        return _failed(str(exc), EXIT_CONFIG)
    except Failed as exc:
        return _failed(str(exc))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return _failed(f"{exc.filename}: {reason}" if exc.filename else reason)
    except EOFError:
        return _failed("input ended before it was complete")
    except KeyboardInterrupt:
        return _failed("interrupted", EXIT_INTERRUPTED)


def _failed(reason: str, status: int = EXIT_FAILED) -> int:
    print(f"vending-fleet: {reason}", file=sys.stderr)
    return status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}, not {value}")
        return value
    return parse


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be 0 to 1000000 events a second, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vending-fleet", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the console")
    serve.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    serve.set_defaults(command=_serve)

    add_user = commands.add_parser("add-user", help="add a console account")
    add_user.add_argument("name")
    add_user.add_argument("--role", required=True, choices=ROLES)
    add_user.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    add_user.add_argument("--password-stdin", action="store_true",
                          help="read the password as one line from stdin (for scripts)")
    add_user.set_defaults(command=_add_user)

    keygen = commands.add_parser("keygen", help="make the fleet's command key (Ed25519)")
    keygen.add_argument("path", type=Path, help="the private key file to create (mode 0600)")
    keygen.set_defaults(command=_keygen)

    simulate = commands.add_parser("simulate", help="simulated machines selling on a broker")
    simulate.add_argument("--broker", required=True, metavar="URL",
                          help="mqtt://host:port or mqtts://host:port")
    simulate.add_argument("--machines", type=_count(1, 100_000), default=10, metavar="N")
    simulate.add_argument("--rate", type=_rate, default=10.0, metavar="EVENTS_PER_S",
                          help="sale events a second, the whole fleet (a sale is 6 events)")
    simulate.add_argument("--duration", type=_rate, metavar="S",
                          help="stop after S seconds (default: until Ctrl-C)")
    simulate.add_argument("--prefix", default="vk/v1", help="the topic prefix")
    simulate.add_argument("--id-prefix", default="sim-", help="machine ids: PREFIX0001...")
    simulate.add_argument("--ca-file", type=Path, help="for mqtts://: the broker's CA")
    simulate.add_argument("--username", default="",
                          help='the broker user name; "{id}": each machine\'s own id')
    simulate.add_argument("--password-stdin", action="store_true",
                          help="read the broker password as one line from stdin")
    simulate.add_argument("--public-key", default="",
                          help="the fleet's command_public_key: commands are verified")
    simulate.add_argument("--json", action="store_true",
                          help="print the run's figures as one JSON line at the end")
    simulate.set_defaults(command=_simulate)

    demo = commands.add_parser("demo", help="the console with an embedded broker and "
                                            "simulated machines")
    demo.add_argument("--machines", type=_count(0, 10_000), default=5, metavar="N")
    demo.add_argument("--rate", type=_rate, default=1.0, metavar="EVENTS_PER_S")
    demo.add_argument("--port", type=_count(0, 65535), default=0,
                      help="the dashboard's port (0: any free one)")
    demo.add_argument("--data-dir", type=Path)
    demo.set_defaults(command=_demo)
    return parser


# -- commands ---------------------------------------------------------------------------------

def _load(path: Path) -> Any:
    from vending_fleet.config import load_console_config

    config = load_console_config(path)
    for warning in config.warnings:
        log.warning("config: %s", warning)
    return config


def _serve(args: argparse.Namespace) -> int:
    from vending_fleet.keys import KeyFileError
    from vending_fleet.service import ConsoleService

    config = _load(args.config)
    try:
        service = ConsoleService(config)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    # uvicorn handles SIGINT and SIGTERM in this thread: both end serve_forever cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        service.serve_forever()
    except OSError as exc:
        raise Failed(f"cannot serve on {config.host}:{config.port}: "
                     f"{exc.strerror or exc}") from None
    except KeyboardInterrupt:
        service.stop()
    return 0


def _add_user(args: argparse.Namespace) -> int:
    from vending_fleet.model import AuditEntry, Role
    from vending_fleet.service import utc_now
    from vending_fleet.store import open_store
    from vending_fleet.web.passwords import hash_password

    config = _load(args.config)
    name = args.name.strip()
    if not name or len(name) > 64 or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise UsageError(f"{args.name!r} is not a user name (1 to 64 characters, no spaces)")
    password = _read_password(args.password_stdin)
    store = open_store(config.database)
    try:
        try:
            store.add_user(name, Role(args.role), hash_password(password))
        except ValueError as exc:
            raise Failed(str(exc)) from None
        store.audit(AuditEntry(utc_now(), "vending-fleet add-user", "user_added",
                               {"name": name, "role": args.role}))
    finally:
        store.close()
    print(f"vending-fleet: added {args.role} {name}", file=sys.stderr)
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        password = line.rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    if len(password) < 8:
        raise UsageError("a password needs at least 8 characters")
    return password


def _keygen(args: argparse.Namespace) -> int:
    from vending_fleet.keys import KeyFileError, generate_key

    try:
        public = generate_key(args.path)
    except KeyFileError as exc:
        raise Failed(str(exc)) from None
    print(f'command_public_key = "{public}"')
    print(f"vending-fleet: private key in {args.path} (mode 0600; keep it on the console "
          "only); put the line above into every machine's [fleet] table", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import json

    from kiosk.config.fleet import decode_public_key
    from vending_fleet.simulator import SimOptions, Simulator

    public_key = None
    if args.public_key:
        public_key = decode_public_key(args.public_key)
        if public_key is None:
            raise UsageError("--public-key: not the base64 of a 32-byte Ed25519 public key")
    password = ""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        simulator = Simulator(SimOptions(
            broker=args.broker, machines=args.machines, rate=args.rate, prefix=args.prefix,
            id_prefix=args.id_prefix, ca_file=args.ca_file, username=args.username,
            password=password, public_key=public_key))
    except ValueError as exc:
        raise UsageError(f"--broker: {exc}") from None
    print(f"vending-fleet: {args.machines} simulated machines on {args.broker}, "
          f"{args.rate:g} events/s", file=sys.stderr)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        simulator.run_for(args.duration)
    except KeyboardInterrupt:
        simulator.stop()
    stats = simulator.stats
    if args.json:
        print(json.dumps(vars(stats)))
    print(f"vending-fleet: {stats.sales} sales, {stats.events_published} events published "
          f"({stats.events_acked} acknowledged), at most {stats.max_connected} machines "
          "connected", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from vending_fleet.demo import DemoConsole

    console = DemoConsole(args.data_dir, port=args.port, machines=args.machines,
                          rate=args.rate)
    try:
        console.start()
    except Exception as exc:   # noqa: BLE001 - the reason, in one line
        raise Failed(f"the demo console did not start: {exc}") from None
    print(console.banner(), file=sys.stderr)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        console.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
