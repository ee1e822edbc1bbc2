"""vending-fleet: the operator's console for a fleet of vending-kiosk machines.

A server that listens to the fleet's MQTT broker (docs/fleet-protocol.md) and a web dashboard:
machines, income, stock, the claims desk, remote changes as signed commands, alerts, audit
files, accounts and an audit trail. A separate install (the ``fleet`` extra); nothing of it
runs on a kiosk.

By job:

    model.py      what the console knows, as the pages and the API read it (dataclasses), and
                  ``Store``, the storage interface every part works through
    store/        ``Store`` on SQLite (default: one file) and on PostgreSQL (a database URL)
    ingest.py     the broker's status, state, event and reply messages -> the store, each event
                  once by its id
    commands.py   signed commands to a machine, and their replies
    alerts.py     alert rules fired and cleared on a clock, delivered to a webhook
    web/          the Starlette app: accounts, sessions, CSRF, roles, pages, live updates (SSE)
    cli.py        ``vending-fleet``: serve, add-user, keygen, simulate
"""
