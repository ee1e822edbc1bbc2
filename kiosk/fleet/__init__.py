"""The fleet link: every kiosk reports to, and takes signed orders from, a standard MQTT broker
(docs/fleet-protocol.md). Off unless ``[fleet]`` is configured (``kiosk.config.fleet`` reads
that table, and pulls in neither paho nor cryptography).

By job: ``topics`` the machine's topics; ``session`` one connection (paho-mqtt, driven by the
link's own thread); ``link`` the supervised thread that publishes the journal's outbox in order;
``state`` what the link reads of the running kiosk; ``start`` builds it all for a session.
"""
