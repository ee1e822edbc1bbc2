"""The money truth as a test assertion, for any end-to-end run against the gateway sandbox:
every payment the sandbox received is vended, refunded or an open claim in the journal, no sale
was vended twice, and no vend went without a verified payment (``kiosk.audit``)."""

from __future__ import annotations

from pathlib import Path

from kiosk.audit import Verdict, audit
from kiosk.journal import Journal
from kiosk.sim import Sandbox


def assert_money_truth(journal: Journal | Path, sandbox: Sandbox, mount: str) -> Verdict:
    """Fail with every violation found; return the verdict (how many payments it checked).

    Call it after the kiosk has settled (``Runtime.settle(..., watches=True)``) and stopped:
    a payment it was still watching would be reported unsettled. ``journal`` is an open
    journal, a data directory or a ``journal.db`` file; ``mount`` the simulated gateway.
    """
    __tracebackhide__ = True
    verdict = audit(journal, lambda: sandbox.received(mount))
    assert verdict.ok, f"money check: {verdict.summary()}:\n  " + "\n  ".join(verdict.violations)
    return verdict
