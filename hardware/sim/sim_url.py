"""``sim://`` URLs: which simulated MDB machine a serial port URL asks for."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from hardware.sim.mdb_faults import FAULTS, unknown_faults

SCHEME = "sim"
_NUMBERS = {"decimal_places": int, "poll_interval_s": float, "customer_delay_s": float,
            "dispense_s": float, "enable_delay_s": float}


def parse_sim_url(url: str) -> dict[str, object]:
    """The ``SimulatedMdbMachine`` arguments a ``sim://[name][?options]`` URL asks for.

    Options: ``items=11:250,12:300`` (item number : price in minor units; without it the
    machine sells nothing), ``faults=12:fail,13:no_answer``, ``decimal_places``,
    ``poll_interval_s``, ``customer_delay_s``, ``dispense_s``, ``enable_delay_s``. The optional
    ``name`` only tells machines apart: the same URL always opens the same machine.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != SCHEME:
        raise ValueError(f"not a {SCHEME}:// URL: {url!r}")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"{SCHEME}:// takes a name and ?options only: {url!r}")
    args: dict[str, object] = {"items": {}}
    try:
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key in ("items", "faults"):
                table = dict(_pair(entry) for entry in value.split(",") if entry.strip())
                args[key] = ({item: int(price) for item, price in table.items()}
                             if key == "items" else table)
            elif key in _NUMBERS:
                args[key] = _NUMBERS[key](value)
            else:
                raise ValueError(f"unknown {SCHEME}:// option {key!r}")
    except ValueError as exc:
        raise ValueError(f"bad {SCHEME}:// URL {url!r}: {exc}") from None
    faults = args.get("faults", {})
    assert isinstance(faults, dict)
    unknown = unknown_faults(faults)
    if unknown:
        raise ValueError(f"bad {SCHEME}:// URL {url!r}: unknown fault(s) "
                         f"{', '.join(unknown)} (known: {', '.join(FAULTS)})")
    return args


def _pair(entry: str) -> tuple[int, str]:
    item, sep, value = entry.partition(":")
    if not sep:
        raise ValueError(f"expected item:value, found {entry!r}")
    return int(item), value.strip()
