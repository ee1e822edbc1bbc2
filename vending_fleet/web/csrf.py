"""Cross-site request forgery checks: every POST form carries a token in its ``csrf`` field.

Logged in, the token is the session's own (``Session.csrf``, kept in the store). On the login
form, before there is a session, it is a double-submit token: a random value in a short-lived
cookie that the form must repeat (a foreign site can neither read nor set that cookie).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData

from ..model import Session

FIELD = "csrf"
LOGIN_COOKIE = "vf_login_csrf"

REFUSED = ("Refused: this form's security token (csrf) is missing or does not match your "
           "session. Reload the page and submit the form again.")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def form_token(form: FormData) -> str:
    value = form.get(FIELD)
    return value if isinstance(value, str) else ""


def session_token_ok(session: Session, form: FormData) -> bool:
    return tokens_match(session.csrf, form_token(form))


def tokens_match(expected: str, given: str) -> bool:
    """Constant-time, and never true for an empty token."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
