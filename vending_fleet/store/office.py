"""The console's own records: commands and their replies, alerts, accounts, sessions and the
audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vending_fleet.model import Alert, AuditEntry, CommandRecord, Role, Session, User
from vending_fleet.store import payloads as p
from vending_fleet.store.database import Database, Row
from vending_fleet.store.dialect import as_utc, time_out

_COMMAND_COLUMNS = "id, machine, command, args, sent_by, sent_at, status, reply"
_ALERT_COLUMNS = "key, machine, rule, message, since, cleared_at"
_USER_COLUMNS = "users.id, users.name, users.role, users.password_hash"


class OfficeQueries:
    _db: Database

    # -- commands

    def command_sent(self, record: CommandRecord) -> None:
        # A resend (same id) keeps the first record and whatever reply it has.
        with self._db.transaction() as tx:
            tx.execute(f"INSERT INTO commands ({_COMMAND_COLUMNS})"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                       (record.id, record.machine, record.command, p.dumps(record.args),
                        record.sent_by, tx.dialect.time_in(record.sent_at), record.status,
                        None if record.reply is None else p.dumps(record.reply)))

    def record_reply(self, machine: str, reply: Mapping[str, Any], at: datetime) -> bool:
        """Keep the reply (once, by its id), and mark the command it answers. A reply to a
        command this console never sent (another console's, or a forged message's echoed id)
        is kept in ``replies`` all the same. ``applied`` is final: a later ``replayed`` (a
        resend) or ``rejected`` (a forgery reusing the id) does not undo it."""
        reply_id = p.text(reply, "id")
        if not reply_id:
            raise ValueError("a reply without an id")
        command = reply.get("command")
        status = p.text(reply, "status")
        with self._db.transaction() as tx:
            added = tx.execute(
                "INSERT INTO replies (id, machine, command, status, at, payload)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (reply_id, machine, command if isinstance(command, str) else None, status,
                 tx.dialect.time_in(p.event_time(reply, at)), p.dumps(reply)))
            if not added:
                return False
            tx.execute("INSERT INTO machine_seen (machine, at) VALUES (?, ?)"
                       " ON CONFLICT (machine) DO UPDATE SET at = CASE WHEN"
                       " excluded.at > machine_seen.at THEN excluded.at ELSE machine_seen.at"
                       " END", (machine, tx.dialect.time_in(at)))
            if isinstance(command, str) and status:
                tx.execute("UPDATE commands SET status = ?, reply = ?"
                           " WHERE id = ? AND machine = ? AND status <> 'applied'",
                           (status, p.dumps(reply), command, machine))
            return True

    def commands(self, machine: str | None = None, limit: int = 100) -> list[CommandRecord]:
        query = f"SELECT {_COMMAND_COLUMNS} FROM commands"
        params: list[object] = []
        if machine is not None:
            query += " WHERE machine = ?"
            params.append(machine)
        with self._db.transaction(write=False) as tx:
            rows = tx.rows(query + " ORDER BY sent_at DESC, id DESC LIMIT ?", [*params, limit])
        return [_command(row) for row in rows]

    # -- alerts

    def alerts(self, active_only: bool = True) -> list[Alert]:
        query = f"SELECT {_ALERT_COLUMNS} FROM alerts"
        if active_only:
            query += " WHERE cleared_at IS NULL"
        with self._db.transaction(write=False) as tx:
            rows = tx.rows(query + " ORDER BY since DESC, id DESC")
        return [_alert(row) for row in rows]

    def raise_alert(self, alert: Alert) -> bool:
        # The partial unique index (one open alert per key) makes this atomic across consoles.
        with self._db.transaction() as tx:
            return tx.execute(f"INSERT INTO alerts ({_ALERT_COLUMNS})"
                              " VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING",
                              (alert.key, alert.machine, alert.rule, alert.message,
                               tx.dialect.time_in(alert.since))) > 0

    def clear_alert(self, key: str, at: datetime) -> bool:
        with self._db.transaction() as tx:
            return tx.execute("UPDATE alerts SET cleared_at = ?"
                              " WHERE key = ? AND cleared_at IS NULL",
                              (tx.dialect.time_in(at), key)) > 0

    # -- people

    def add_user(self, name: str, role: Role, password_hash: str) -> User:
        """A new account; ``ValueError`` if the name is taken."""
        with self._db.transaction() as tx:
            row = tx.one("INSERT INTO users (name, role, password_hash) VALUES (?, ?, ?)"
                         " ON CONFLICT (name) DO NOTHING RETURNING id",
                         (name, role.value, password_hash))
        if row is None:
            raise ValueError(f"there is already a user {name!r}")
        return User(int(row[0]), name, role, password_hash)

    def user(self, name: str) -> User | None:
        with self._db.transaction(write=False) as tx:
            row = tx.one(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,))
        return None if row is None else _user(row)

    def users(self) -> list[User]:
        with self._db.transaction(write=False) as tx:
            return [_user(row) for row in
                    tx.rows(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")]

    def start_session(self, user: User, session_id: str, csrf: str, expires_at: datetime,
                      now: datetime) -> Session:
        with self._db.transaction() as tx:
            # Expired sessions go as new ones start: the table never grows without bound.
            tx.execute("DELETE FROM sessions WHERE expires_at <= ?", (tx.dialect.time_in(now),))
            tx.execute("INSERT INTO sessions (id, user_id, csrf, expires_at)"
                       " VALUES (?, ?, ?, ?)",
                       (session_id, user.id, csrf, tx.dialect.time_in(expires_at)))
        return Session(session_id, user, csrf, as_utc(expires_at))

    def session(self, session_id: str, now: datetime) -> Session | None:
        with self._db.transaction(write=False) as tx:
            row = tx.one(f"SELECT {_USER_COLUMNS}, sessions.csrf, sessions.expires_at"
                         " FROM sessions JOIN users ON users.id = sessions.user_id"
                         " WHERE sessions.id = ? AND sessions.expires_at > ?",
                         (session_id, tx.dialect.time_in(now)))
        if row is None:
            return None
        return Session(session_id, _user(row[:4]), str(row[4]), time_out(row[5]))

    def end_session(self, session_id: str) -> None:
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def audit(self, entry: AuditEntry) -> None:
        with self._db.transaction() as tx:
            tx.execute("INSERT INTO audit (at, username, action, detail) VALUES (?, ?, ?, ?)",
                       (tx.dialect.time_in(entry.at), entry.user, entry.action,
                        p.dumps(entry.detail)))

    def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT at, username, action, detail FROM audit"
                           " ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        return [AuditEntry(time_out(at), str(user), str(action), p.loads(detail))
                for at, user, action, detail in rows]


def _command(row: Row) -> CommandRecord:
    command_id, machine, command, args, sent_by, sent_at, status, reply = row
    return CommandRecord(id=str(command_id), machine=str(machine), command=str(command),
                         args=p.loads(args), sent_by=str(sent_by), sent_at=time_out(sent_at),
                         status=str(status), reply=None if reply is None else p.loads(reply))


def _alert(row: Row) -> Alert:
    key, machine, rule, message, since, cleared = row
    return Alert(key=str(key), machine=str(machine), rule=str(rule), message=str(message),
                 since=time_out(since), cleared_at=None if cleared is None else time_out(cleared))


def _user(row: Row) -> User:
    return User(int(row[0]), str(row[1]), Role(row[2]), str(row[3]))


