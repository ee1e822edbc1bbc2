"""Who may do what: each role may do everything the roles below it may."""

from __future__ import annotations

from ..model import Role

_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def allows(role: Role, needed: Role) -> bool:
    """True when a user with ``role`` may do what needs ``needed``."""
    return _RANK[role] >= _RANK[needed]
