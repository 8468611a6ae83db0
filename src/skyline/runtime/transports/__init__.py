"""Transports by address scheme: `inproc://` (unit tests) and `tcp://`/`ipc://` (ZeroMQ)."""

from skyline.runtime.transports import inproc, zeromq
from skyline.runtime.transports.base import (
    TRANSPORTS,
    Handler,
    InFlightLimit,
    Listener,
    Parts,
    Transport,
    TransportKind,
    bind,
    connect,
)

__all__ = [
    "TRANSPORTS",
    "Handler",
    "InFlightLimit",
    "Listener",
    "Parts",
    "Transport",
    "TransportKind",
    "bind",
    "connect",
    "inproc",
    "zeromq",
]
