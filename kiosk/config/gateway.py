"""What a gateway's config section reads its ``[payment.<gateway>]`` table through.

Each gateway declares its section beside its client, in ``kiosk/payments/<gateway>_config.py``:
a frozen dataclass (secret keys as ``field(repr=False)``) and
``read_<gateway>_config(reader: GatewayReader) -> <Gateway>Config``. The sections import this
module for its types only, so importing one never imports the whole config package.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from kiosk.config import secrets
from kiosk.config.reader import Reader

_URL = re.compile(r"https?://[^/\s]+\S*")
# The examples' stand-ins for an identity: "your-...", "<...>", "...", the sandbox's demo
# values, and all-zero UUIDs (the version and variant digits aside).
_PLACEHOLDER = re.compile(r"(?i)your[-_ ].*|<.*>|\.\.\.|sandbox-.*"
                          r"|0{8}-0{4}-[0-9a-f]0{3}-[0-9a-f]0{3}-0{12}")
_EXAMPLE_DOMAINS = ("example", "example.com", "example.net", "example.org")  # RFC 2606


class GatewayReader(Reader):
    """A ``[payment.<gateway>]`` table: the strict reader plus what every gateway needs, its
    URLs, its secrets and a refusal of the examples' stand-ins. ``selected``: it is the
    gateway in use."""

    def __init__(self, table: Reader, *, insecure_http: bool) -> None:
        super().__init__(table.ctx, table.data, table.table, table.present,
                         selected=table.selected)
        self.insecure_http = insecure_http    # [payment] insecure_http

    def url(self, key: str, default: str) -> str:
        """An http(s) URL. Plain http only to this machine (the sandbox) or with ``[payment]
        insecure_http``: API keys and payment data must not cross a network in clear text."""
        value = self.str_(key, default)
        if value and not _URL.fullmatch(value):
            self.wrong(key, "a URL starting with http:// or https://", value)
            return default
        if value.startswith("http://") and not loopback(value):
            if not self.insecure_http:
                self.error(key, f'"{value}" is plain http://: the API keys and payment data '
                                "would cross the network unencrypted; use https:// (only this "
                                "machine, 127.0.0.1 or localhost, may be reached by http), or "
                                "set [payment] insecure_http = true for a test gateway on a "
                                "network you trust (dangerous)")
                return default
            self.ctx.warn(self.table, key, f'"{value}" is plain http://, allowed by [payment] '
                                           "insecure_http = true: the API keys and payment data "
                                           "cross the network unencrypted")
        return value.rstrip("/")

    def secret(self, key: str) -> str:
        """A secret key, from the secrets file when it is set there (``secrets.secret``)."""
        return secrets.secret(self, key)

    def require_secret(self, key: str, value: str, why: str) -> None:
        secrets.require_secret(self, key, value, why)

    def refuse_placeholders(self, api_base: str, *, ids: Sequence[tuple[str, str, str]],
                            urls: Sequence[tuple[str, str, str]]) -> None:
        """The selected gateway's identity must be the operator's own: with an example's
        stand-in the machine looks sellable and would take real money into an account nobody
        holds. Each entry is (key, value, what belongs there). The built-in sandbox on loopback
        is exempt: no money moves there, and its demo values are what it expects."""
        if loopback(api_base):
            return
        for key, value, what in urls:
            if value and self.ok(key) and example_host(_host(value)):
                self.error(key, f'not configured: "{value}" is an example address; put {what} '
                                "here")
        for key, value, what in ids:
            if value and self.ok(key) and placeholder(value):
                hidden = self.is_secret(key)
                shown = "value hidden" if hidden else json.dumps(value, ensure_ascii=False)
                place = f"in {self.ctx.secrets.file}" if hidden else "here"
                self.error(key, f"not configured: still a placeholder ({shown}); put {what} "
                                f"{place}")


def placeholder(value: str) -> bool:
    """One of the examples' stand-ins for a value of the operator's own."""
    return bool(_PLACEHOLDER.fullmatch(value.strip()))


def example_host(host: str) -> bool:
    """A domain reserved for documentation (RFC 2606): no gateway or operator lives there."""
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in _EXAMPLE_DOMAINS)


def loopback(url: str) -> bool:
    host = _host(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # e.g. an unclosed "[" of an IPv6 literal
        return ""
