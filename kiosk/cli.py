"""The ``kiosk`` command: run, demo, journal, check-config, sandbox.

Exit status: 0 done; 1 failed (one ``kiosk: ...`` line on stderr says why); 2 the command line
or the config is wrong; 130 interrupted (Ctrl-C); 141 the reader of stdout went away (``kiosk
journal --json | head``): nothing printed, as if killed by SIGPIPE, which is what ``set -o
pipefail`` scripts expect from ``yes | head``.
"""

from __future__ import annotations

import argparse
import json
import ipaddress
import logging
from functools import partial
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from kiosk.config import GATEWAYS, Config, load_config
from kiosk.errors import ConfigError, JournalError, KioskError

DEFAULT_CONFIG = Path("/etc/vending-kiosk/kiosk.toml")
BOOT_FILE = Path("/boot/firmware/vending-kiosk.toml")
EXIT_FAILED = 1
EXIT_CONFIG = 2                      # also argparse's status for a wrong command line
EXIT_INTERRUPTED = 130               # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 141               # 128 + SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every expected failure ends as one line on stderr, never a traceback."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll drowns the rest
    try:
        status = int(args.command(args))
        if sys.stdout:  # None when started with fd 1 closed
            sys.stdout.flush()  # a closed pipe must show up here, not at interpreter exit
        return status
    except ConfigError as exc:
        if args.command in (_check_config, _run):  # the list of issues is their report
            _print_config_errors(exc)
            return EXIT_CONFIG
        more = len(exc.issues) - 1
        return _failed(f"{exc.issues[0]}" + (f" (+{more} more: kiosk check-config)"
                                              if more else ""), EXIT_CONFIG)
    except KioskError as exc:
        return _failed(str(exc))
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush succeeds.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return _failed(f"{exc.filename}: {reason}" if exc.filename else reason)
    except EOFError:
        return _failed("input ended (Ctrl-D or end of stdin) before it was complete")
    except KeyboardInterrupt:
        return _failed("interrupted", EXIT_INTERRUPTED)


def _failed(reason: str, status: int = EXIT_FAILED) -> int:
    print(f"kiosk: {reason}", file=sys.stderr)
    return status


class _Parser(argparse.ArgumentParser):
    """A wrong command line is one line on stderr: the mistake and where help is, no usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an int in ``low..high``; the message names the allowed range."""
    allowed = f"{low} or more" if high is None else f"{low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, not {value}")
        return value

    return parse


def _lan_address(text: str) -> str:
    """An argparse type: the IPv4 address a phone on the same network reaches this computer
    at (it goes into the QR code as it is)."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IPv4 address (this computer's, e.g. 192.168.1.20)") from None
    if address.is_unspecified or address.is_multicast:
        raise argparse.ArgumentTypeError(f"{text} is not an address a phone can reach")
    return str(address)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kiosk", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the production kiosk")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run.add_argument("--headless", action="store_true", help="SDL's dummy video driver")
    run.add_argument("--autopilot", type=_whole_number(1), metavar="N",
                     help="play N customers, then exit")
    run.add_argument("--screenshots", type=Path, metavar="DIR")
    run.set_defaults(command=_run)

    demo = commands.add_parser("demo", help="the whole product on this computer")
    demo.add_argument("--headless", action="store_true")
    demo.add_argument("--customers", type=_whole_number(1), metavar="N",
                      help="play N staged customers and check each outcome")
    demo.add_argument("--gateway", default="mixpay", choices=list(GATEWAYS))
    demo.add_argument("--driver", default="simulated",
                      choices=["simulated", "gpio-mock", "mdb-sim"],
                      help="gpio-mock and mdb-sim run the real GPIO and MDB drivers against "
                           "simulated machines")
    demo.add_argument("--data-dir", type=Path)
    demo.add_argument("--screenshots", type=Path, metavar="DIR")
    demo.add_argument("--lan-address", metavar="IP", type=_lan_address,
                      help="serve the sandbox on all interfaces and put this address in the "
                           "QR code, so a phone on the same network can pay")
    demo.add_argument("--no-console", action="store_true",
                      help="without the fleet console (embedded broker, dashboard) beside it")
    demo.add_argument("--fleet-machines", type=_whole_number(0, 10_000), default=0,
                      metavar="N", help="N simulated machines selling on their own, so the "
                                        "console's fleet views have something to show")
    demo.set_defaults(command=_demo)

    selftest = commands.add_parser("selftest", help="technician self-test of this machine")
    selftest.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    selftest.add_argument("--slot", metavar="ID", help="test only this slot's motor")
    selftest.add_argument("--no-motors", action="store_true", help="never turn a motor")
    selftest.add_argument("--no-network", action="store_true", help="skip the gateway check")
    selftest.add_argument("--json", action="store_true")
    selftest.set_defaults(command=_selftest)

    boot = commands.add_parser("import-boot-config",
                               help="install the operator's file from the SD card (at boot)")
    boot.add_argument("--boot-file", type=Path, default=BOOT_FILE)
    boot.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    boot.set_defaults(command=_import_boot_config)

    journal = commands.add_parser("journal", help="transactions from the journal")
    source = journal.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path)
    source.add_argument("--data-dir", type=Path)
    journal.add_argument("--json", action="store_true")
    journal.add_argument("--claims", action="store_true",
                         help="only paid sales still owed a refund or an item (open claims)")
    journal.set_defaults(command=_journal)

    dex = commands.add_parser("dex", help="the EVA-DTS audit file (DEX) from the journal")
    dex.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    dex.add_argument("--output", type=Path, metavar="FILE", help="write here, not to stdout")
    dex.add_argument("--reset", action="store_true",
                     help="read and reset: the next file's interim counts start from this read")
    dex.set_defaults(command=_dex)

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("path", type=Path)
    check.set_defaults(command=_check_config)

    set_pin = commands.add_parser("set-pin", help="set the operator menu's PIN (secrets.toml)")
    set_pin.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    set_pin.add_argument("--pin-from-stdin", action="store_true",
                         help="read the PIN as one line from stdin (for scripts), no prompt")
    set_pin.set_defaults(command=_set_pin)

    sandbox = commands.add_parser("sandbox", help="run the gateway sandbox alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=_whole_number(0, 65535), default=8765,
                         help="0: any free port (the banner says which)")
    sandbox.set_defaults(command=_sandbox)
    return parser


def _run(args: argparse.Namespace) -> int:
    from kiosk import stop_signal
    from kiosk.session import run_kiosk

    stop_signal.listen()   # from here on a SIGTERM stops whichever screen is up, or is next
    try:
        config = load_config(args.config)
    except ConfigError as error:
        if args.autopilot is not None:
            raise  # a scripted run has nobody to show the screen to: every error, exit 2
        # Out of service with the reason, not a restart loop with a console on the screen.
        from kiosk.out_of_service import config_changed, rejection_reason, run_out_of_service

        _print_config_errors(error)
        run_out_of_service(rejection_reason(error), config_changed(args.config),
                           headless=args.headless, screenshots=args.screenshots)
        return 0  # the file changed (or systemd stopped us): start again on it
    for warning in config.warnings:  # for journalctl: it sells, but someone should look
        logging.getLogger("kiosk").warning("config: %s", warning)
    while True:
        try:
            ok = run_kiosk(config, headless=args.headless, customers=args.autopilot,
                           screenshots=args.screenshots)
        except JournalError as error:
            if args.autopilot is not None:
                raise
            # Never sell without a journal: out of service until it opens again.
            from kiosk.out_of_service import run_out_of_service

            data_dir = config.machine.data_dir
            healed = partial(_journal_opens, data_dir)
            if run_out_of_service(f"journal unavailable: {error}", healed,
                                  headless=args.headless, screenshots=args.screenshots) \
                    and not stop_signal.received() and healed():
                continue  # the cause went away: sell again
            return 0
        return 0 if ok else 1


def _journal_opens(data_dir: Path) -> bool:
    from kiosk.journal import Journal

    try:
        Journal.open_in(data_dir, verify=True).close()
    except JournalError:
        return False
    return True


def _demo(args: argparse.Namespace) -> int:
    from kiosk.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(headless=args.headless, customers=args.customers,
                                data_dir=args.data_dir, screenshots=args.screenshots,
                                lan_address=args.lan_address, gateway=args.gateway,
                                driver=args.driver, console=not args.no_console,
                                fleet_machines=args.fleet_machines))


def _selftest(args: argparse.Namespace) -> int:
    from kiosk.selftest import SelftestOptions, report_json, report_table, run_selftest

    checks = run_selftest(args.config, SelftestOptions(slot=args.slot,
                                                       move_motors=not args.no_motors,
                                                       network=not args.no_network))
    print(json.dumps(report_json(checks), indent=2) if args.json else report_table(checks))
    return 0 if all(check.passed for check in checks) else 1


def _import_boot_config(args: argparse.Namespace) -> int:
    from kiosk.firstboot import import_boot_config

    errors_dir = _last_good_data_dir(args.config)
    result = import_boot_config(args.boot_file, args.config, errors_dir)
    print(result.message)
    for issue in result.issues:
        print(issue)
    return EXIT_CONFIG if result.issues else 0


def _last_good_data_dir(config_path: Path) -> Path | None:
    """Where the kiosk that will start reads rejected-import errors from, if known."""
    try:
        return load_config(config_path).machine.data_dir
    except ConfigError:
        return None


def _journal(args: argparse.Namespace) -> int:
    from kiosk.journal import OPEN_CLAIM_STATUSES, Journal

    data_dir = args.data_dir or load_config(args.config or DEFAULT_CONFIG).machine.data_dir
    if not (data_dir / "journal.db").exists():
        print(f"kiosk: no journal in {data_dir}", file=sys.stderr)
        return 1
    with Journal.open_in(data_dir) as journal:
        transactions = journal.transactions()
    if args.claims:
        transactions = [tx for tx in transactions if tx["status"] in OPEN_CLAIM_STATUSES]
    if args.json:
        print(json.dumps(transactions, indent=2))
    else:
        for tx in transactions:
            print(_journal_line(tx))
    return 0


def _dex(args: argparse.Namespace) -> int:
    """The audit file to stdout or ``--output`` (whole or not at all: written beside it, synced,
    then renamed). A reset is journalled only once the file is delivered, so a file that never
    arrived never takes its period's figures with it."""
    from datetime import datetime

    from kiosk.dex import audit_file
    from kiosk.journal import Journal

    config = load_config(args.config)
    data_dir = config.machine.data_dir
    if not (data_dir / "journal.db").exists():
        raise JournalError(f"no journal in {data_dir}")
    now = datetime.now().astimezone()
    output: Path | None = args.output
    with Journal.open_in(data_dir) as journal:
        audit_file(journal, config, reset=args.reset, now=now,
                   deliver=lambda text: _deliver(text.encode("ascii"), output))
    return 0


def _deliver(data: bytes, output: Path | None) -> None:
    """``data`` to stdout (bytes: the CRLFs stay as they are), or to ``output`` whole."""
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from kiosk.files import write_atomically

    write_atomically(output.resolve(), data)


def _journal_line(tx: dict[str, Any]) -> str:
    claim = f"  claim {tx['claim_code']}" if tx.get("claim_code") else ""
    asset = tx.get("asset") or "-"
    return (f"{tx['created_at'][:19]}  {tx['id']}  {tx['slot']:<4} {tx['amount']:>8} "
            f"{tx['currency']}  {asset:<5} {tx['status']}{claim}")


def _check_config(args: argparse.Namespace) -> int:
    """Errors: listed, exit 2 (``main``). Warnings do not stop the kiosk: listed, still exit 0."""
    config: Config = load_config(args.path)
    for warning in config.warnings:
        print(f"WARNING {warning}")
    count = len(config.warnings)
    warned = f", {count} warning{'s' if count != 1 else ''}" if count else ""
    print(f"{args.path}: OK ({len(config.slots)} slots, gateway {config.payment.gateway}, "
          f"driver {config.vend.driver}{warned})")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from kiosk.sim import serve_forever_cli

    serve_forever_cli(args.host, args.port)
    return 0


def _print_config_errors(error: ConfigError) -> None:
    for issue in error.issues:
        print(issue)
    count = len(error.issues)
    print(f"{count} error{'s' if count != 1 else ''} in the configuration")


def _set_pin(args: argparse.Namespace) -> int:
    """Hash the PIN and write ``[operator] pin_hash`` into the secrets file beside the config,
    in place (the service may write that file, not create files beside it)."""
    import getpass

    from kiosk.operator_pin import MAX_DIGITS, MIN_DIGITS, hash_pin, valid_pin, write_pin_hash

    # A mistyped --config would otherwise put the PIN in a secrets.toml nothing reads.
    if not args.config.is_file():
        print(f"kiosk: no config file at {args.config} (set-pin writes secrets.toml beside it);"
              " nothing changed", file=sys.stderr)
        return EXIT_CONFIG
    if args.pin_from_stdin:
        line = sys.stdin.readline() if sys.stdin else ""  # None: Python started with fd 0 closed
        if not line:
            raise EOFError
        pin = line.strip()
    elif sys.stdin is None or not sys.stdin.isatty():
        # Without a terminal getpass reads stdin with echo warnings: say what to do instead.
        print("kiosk: set-pin prompts on a terminal, and stdin is not one; "
              "pipe the PIN in with --pin-from-stdin", file=sys.stderr)
        return EXIT_FAILED
    else:
        pin = getpass.getpass("New operator PIN: ")
        if getpass.getpass("Again: ") != pin:
            print("the two PINs differ; nothing changed", file=sys.stderr)
            return 1
    if not valid_pin(pin):
        print(f"a PIN is {MIN_DIGITS} to {MAX_DIGITS} digits; nothing changed", file=sys.stderr)
        return 1
    secrets_path = args.config.parent / "secrets.toml"
    write_pin_hash(secrets_path, hash_pin(pin))
    print(f"operator PIN set in {secrets_path}; restart the kiosk to use it", file=sys.stderr)
    return 0
