"""A gateway sandbox: simulated payment APIs and hosted checkout pages on a real HTTP server.

For demos and tests only. It is selected purely by configuration (``api_base`` and
``checkout_base`` pointing at it); the production clients know nothing about it.

    with Sandbox(clock=fake_clock) as sandbox:
        gateway = MixPayGateway(payee_id=..., settlement_asset_id=...,
                                api_base=sandbox.mixpay_api_base,
                                checkout_base=sandbox.checkout_base)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from kiosk.errors import KioskError
from kiosk.sim.centrapay import CentrapaySimulator
from kiosk.sim.lnbits import LnbitsSimulator
from kiosk.sim.mixpay import MixPaySimulator, PaymentSnapshot
from kiosk.sim.server import Fault, ReceivedPayment, SandboxServer, Simulator
from kiosk.sim.wctpay import WctPaySimulator

__all__ = ["Fault", "PaymentSnapshot", "ReceivedPayment", "Sandbox", "SandboxOptions",
           "serve_forever_cli"]


@dataclass(frozen=True)
class SandboxOptions:
    """What every simulator is built from."""

    confirm_s: float                  # how long a paid transaction stays "confirming"
    requests_per_minute: int          # the simulated gateway's rate limit per client
    clock: Callable[[], float]


# One simulator per gateway, mounted at /<name>. Each owns its API paths and hosted pages.
SIMULATORS: dict[str, Callable[[SandboxOptions], Simulator]] = {
    "mixpay": lambda o: MixPaySimulator(confirm_s=o.confirm_s,
                                        requests_per_minute=o.requests_per_minute,
                                        clock=o.clock),
    "centrapay": lambda o: CentrapaySimulator(confirm_s=o.confirm_s,
                                              requests_per_minute=o.requests_per_minute,
                                              clock=o.clock),
    "wctpay": lambda o: WctPaySimulator(confirm_s=o.confirm_s,
                                        requests_per_minute=o.requests_per_minute, clock=o.clock),
    # Lightning settles at once between two wallets of one LNbits: no confirm_s.
    "lnbits": lambda o: LnbitsSimulator(requests_per_minute=o.requests_per_minute,
                                        clock=o.clock),
}


class Sandbox:
    """The sandbox server with every simulator mounted (MixPay at ``/mixpay``)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_base: str | None = None,
        confirm_s: float = 2.0,
        requests_per_minute: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_base = public_base  # how phones reach it, when not at the listening address
        options = SandboxOptions(confirm_s, requests_per_minute, clock)
        self.simulators = {name: build(options) for name, build in SIMULATORS.items()}
        mixpay = self.simulators["mixpay"]
        assert isinstance(mixpay, MixPaySimulator)
        self._mixpay = mixpay
        self._server = SandboxServer(host, port, self.simulators, clock)

    def start(self) -> Sandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Where the server listens, e.g. ``http://127.0.0.1:41234`` (only once started)."""
        return self._server.url

    @property
    def mixpay_api_base(self) -> str:
        """The MixPay client's ``api_base``."""
        return f"{self.url}/mixpay/v1"

    def base(self, mount: str, public: bool = False) -> str:
        """``http://host:port/<mount>``: where a simulator's API and pages live.

        ``public`` uses ``public_base`` (a LAN address) for links a phone must open.
        """
        if mount not in self.simulators:
            raise KeyError(f"no simulator mounted at /{mount}")
        root = (self.public_base or self.url) if public else self.url
        return f"{root.rstrip('/')}/{mount}"

    @property
    def checkout_base(self) -> str:
        """The MixPay client's ``checkout_base``: links are ``<checkout_base>/code/<code>``.

        ``public_base`` replaces the listening address when phones reach the sandbox another way
        (a LAN address or a tunnel).
        """
        return self.base("mixpay", public=True)

    @property
    def request_log(self) -> tuple[str, ...]:
        """Every request served so far, as ``"METHOD /path"``: lets tests count API calls."""
        return self._server.request_log

    def inject(self, mount: str, fault: Fault, count: int = 1) -> None:
        """Script failures: the next ``count`` requests to ``/<mount>`` matching ``fault.path``."""
        self._server.inject(mount, fault, count)

    def inject_for(self, mount: str, fault: Fault, seconds: float) -> None:
        """Script an outage: every request to ``/<mount>`` matching ``fault`` fails for
        ``seconds`` of the sandbox's clock (``Fault("no_answer")``: the gateway is down)."""
        self._server.inject_for(mount, fault, seconds)

    def received(self, mount: str) -> list[ReceivedPayment]:
        """Every payment the simulator at ``/<mount>`` got money for, keyed by the kiosk's
        transaction id: paid in full, part paid, overpaid, paid after the sale ended, or paid
        under a spoofed success. What the money check holds the journal to."""
        if mount not in self.simulators:
            raise KeyError(f"no simulator mounted at /{mount}")
        return self.simulators[mount].received()

    def codes(self) -> tuple[str, ...]:
        """Codes of every simulated MixPay payment, oldest first."""
        return self._mixpay.codes()

    def payment(self, code: str) -> PaymentSnapshot:
        """A read-only snapshot of one simulated MixPay payment; ``KeyError`` if unknown."""
        return self._mixpay.snapshot(code)


def serve_forever_cli(host: str, port: int) -> None:
    """``kiosk sandbox``: run the sandbox in the foreground until Ctrl-C."""
    sandbox = Sandbox(host, port, requests_per_minute=200)
    try:
        sandbox.start()
    except OSError as exc:  # the port is taken, or the host is not an address of this machine
        raise KioskError(f"the sandbox cannot listen on {host}:{port}: "
                         f"{exc.strerror or exc}") from None
    with sandbox:  # already listening: stops it on the way out
        wct, centrapay = sandbox.base("wctpay"), sandbox.base("centrapay")
        print(f"Gateway sandbox listening on {sandbox.url}  (Ctrl-C stops it)\n"
              "Point a kiosk config at it with one of these tables:\n\n"
              "[payment.mixpay]      # any UUID works as payee_id\n"
              f'api_base = "{sandbox.mixpay_api_base}"\n'
              f'checkout_base = "{sandbox.checkout_base}"\n\n'
              '[payment.wctpay]      # secrets: key = "sandbox-key", '
              'api_secret = "sandbox-secret"\n'
              f'api_base = "{wct}"     # pay its QR codes at {wct}/wallet\n\n'
              '[payment.centrapay]   # secrets: api_key = "sandbox-key"\n'
              f'api_base = "{centrapay}"\n'
              'config_id = "sandbox-config"\n\n'
              '[payment.lnbits]      # secrets: invoice_key = "sandbox-invoice-key"; pay '
              'with X-Api-Key "sandbox-payer-key"\n'
              f'api_base = "{sandbox.base("lnbits")}"\n'
              'wallet_id = "sandbox-wallet"\n'
              'fixed_rate = "1000"\n\n'
              "Nothing here moves real money.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nsandbox stopped", flush=True)
