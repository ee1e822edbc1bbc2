"""Simulations of the machines behind the vend drivers, for demos and tests.

* ``driver``: ``SimulatedDriver``, a whole simulated machine selected by config
  (``[vend] driver = "simulated"``), and its ``[vend.simulated]`` section (``driver_config``);
* ``gpio_machine``: a spiral machine on gpiozero ``MockFactory`` pins for the real ``GpioDriver``;
* ``mdb_bridge``: a Qibixx MDB bridge and vending machine on a pty for the real ``MdbDriver``
  (its line protocol and controls), with its parts: ``mdb_vmc`` (the machine controller's
  sessions), ``mdb_faults`` (vend faults), ``pty_port`` (the pty behind a stable path),
  ``scheduler`` (the simulation thread's calls and timers) and ``transcript`` (lines both ways);
* ``protocol_sim``: the pyserial URL handler behind ``sim://``, which opens a simulated MDB
  bridge in-process (``hardware.mdb`` adds this package to
  ``serial.protocol_handler_packages``), so ``[vend.mdb] port = "sim://?items=11:250"`` runs
  the production driver unchanged; ``sim_url`` reads a ``sim://`` URL's options.

Nothing here is imported by the production code paths except by that URL scheme.
"""
