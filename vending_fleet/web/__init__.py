"""The operator's web console: server-rendered pages (Jinja2), a JSON variant of each under
``/api/``, live updates by server-sent events (``/events``), accounts with roles, sessions and
CSRF-checked forms.

    app = create_app(store, hub, command_sender, secure_cookies=True)

By job: ``auth`` (login, sessions), ``passwords``, ``csrf``, ``roles`` and ``guard`` (the checks
in front of every route); the pages ``machines``, ``command_forms``, ``income``, ``stock``
(``picklist``), ``claims``, ``alerts``, ``audit``, ``users``; ``live`` (SSE); ``render``
(templates), ``errors``, ``headers``.
"""

from .app import create_app
from .sender import CommandSenderLike

__all__ = ["CommandSenderLike", "create_app"]
