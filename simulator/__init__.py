"""Darkroom's upstream simulator: the upstream image APIs, on localhost.

No machine here reaches the real upstreams; tests and the demo talk to this.
In-process::

    with SimulatorServer(port=0, link_ttl=5) as sim:
        sim.url                        # "http://127.0.0.1:54321"
        sim.add_fault("rate_limit", times=2, seconds=3)
        sim.requests("/v1/")           # what the platform sent

As a process: ``python manage.py simulator --port 8001``.

Modules: server.py (routing, auth, faults, control API, the threaded server's
lifecycle), transport.py (HTTP handler and server, body parsing), recording.py
(what was sent), files.py (expiring result links), faults.py (failures on
demand), images.py (deterministic PNGs), core.py (what a format is made of),
one module per wire format (modelverse.py).
"""

from simulator.core import Format, Response, Route, SimRequest, json_response, route
from simulator.faults import KINDS as FAULT_KINDS
from simulator.faults import Fault, FaultSpecError
from simulator.server import FORMATS, Simulator, SimulatorServer

__all__ = [
    "FAULT_KINDS",
    "FORMATS",
    "Fault",
    "FaultSpecError",
    "Format",
    "Response",
    "Route",
    "SimRequest",
    "Simulator",
    "SimulatorServer",
    "json_response",
    "route",
]
