"""`tcp://` and `ipc://`: ZeroMQ DEALER (client) / ROUTER (server), multipart and zero-copy.

DESIGN.md measured raw tensor bytes over ZeroMQ as the cheapest transport here (about 1 ms per
4 MB on loopback). A client that times out closes its socket and opens a new one ("lazy pirate"),
so a late reply can never be mistaken for the next request's. `curve=` (CurveClient /
CurveServer) authenticates and encrypts the link.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import zmq
from zmq.auth.thread import ThreadAuthenticator

from skyline.errors import TransportError
from skyline.runtime.transports.base import (
    TRANSPORTS,
    Handler,
    InFlightLimit,
    Listener,
    Parts,
    Transport,
    TransportKind,
)
from skyline.runtime.transports.curve import CurveClient, CurveServer

MAX_MESSAGE_BYTES = 512 * 2**20  # larger messages make zmq drop the peer instead of allocating


class ZmqTransport(Transport):
    def __init__(self, address: str, curve: CurveClient | None = None) -> None:
        self.address = address
        self._curve = curve.keys() if curve is not None else None
        self._ctx: zmq.Context[Any] = zmq.Context.instance()
        self._sock = self._open()

    def _open(self) -> zmq.Socket[Any]:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = self._curve
        sock.connect(self.address)
        return sock

    def request(self, parts: Parts, timeout_s: float) -> Parts:
        self._sock.send_multipart(parts, copy=False)
        if not self._sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            self._sock.close()
            self._sock = self._open()
            raise TransportError(f"no reply from {self.address} within {timeout_s:.3g} s")
        return [frame.buffer for frame in self._sock.recv_multipart(copy=False)]

    def close(self) -> None:
        self._sock.close()


class ZmqListener(Listener):
    def __init__(self, address: str, curve: CurveServer | None = None) -> None:
        self._auth: ThreadAuthenticator | None = None
        if curve is None:
            self._ctx: zmq.Context[Any] = zmq.Context.instance()
        else:  # one ZAP handler per context: a private context per CURVE listener
            public, secret = curve.keys()
            self._ctx = zmq.Context()
            self._auth = ThreadAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(curve.allowed))
        self._router = self._ctx.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        self._router.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if curve is not None:
            self._router.curve_publickey, self._router.curve_secretkey = public, secret
            self._router.curve_server = True
        host, _, port = address.rpartition(":")
        if address.startswith("tcp://") and port in ("0", "*"):
            self._router.bind_to_random_port(host)
        else:
            self._router.bind(address)
        self.address = self._router.getsockopt_string(zmq.LAST_ENDPOINT)

    def serve(
        self,
        handler: Handler,
        stop: threading.Event,
        threads: int = 1,
        limit: InFlightLimit | None = None,
    ) -> None:
        if threads == 1 and limit is None:
            self._serve_inline(handler, stop)
            return
        # Worker threads hand replies to this (socket-owning) thread through a PUSH/PULL pair.
        wake = f"inproc://skyline-replies-{uuid.uuid4().hex}"
        pull = self._ctx.socket(zmq.PULL)
        pull.bind(wake)
        push = self._ctx.socket(zmq.PUSH)
        push.connect(wake)
        push_lock = threading.Lock()

        def work(identity: Any, parts: Parts, client: Any) -> None:
            try:
                reply = handler(parts)
            finally:
                if limit is not None:
                    limit.release(client)
            with push_lock:
                push.send_multipart([identity, *reply], copy=False)

        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        try:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                while not stop.is_set():
                    events = dict(poller.poll(50))
                    if self._router in events:
                        identity, *frames = self._router.recv_multipart(copy=False)
                        parts = [p.buffer for p in frames]
                        client = self._client(identity)
                        if limit is not None and not limit.admit(client):
                            self._router.send_multipart([identity, *limit.refuse(parts)])
                        else:
                            pool.submit(work, identity, parts, client)
                    if pull in events:
                        self._router.send_multipart(pull.recv_multipart(copy=False), copy=False)
        finally:
            push.close(linger=0)
            pull.close(linger=0)

    def _client(self, identity: zmq.Frame) -> Any:
        """Who sent a message: the CURVE public key when authenticated (all of one edge's
        connections count together), else the connection."""
        if self._auth is not None:
            return identity.get("User-Id")
        return identity.bytes

    def _serve_inline(self, handler: Handler, stop: threading.Event) -> None:
        """One request at a time in this thread: no hand-offs between threads on the hot path."""
        while not stop.is_set():
            if self._router.poll(50, zmq.POLLIN):
                identity, *parts = self._router.recv_multipart(copy=False)
                reply = handler([p.buffer for p in parts])
                self._router.send_multipart([identity, *reply], copy=False)

    def close(self) -> None:
        self._router.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._ctx.term()
            self._auth = None


class Zmq(TransportKind):
    name = "zmq"
    schemes = ("tcp", "ipc")

    def connect(self, address: str, **options: Any) -> Transport:
        return ZmqTransport(address, curve=options.get("curve"))

    def bind(self, address: str, **options: Any) -> Listener:
        return ZmqListener(address, curve=options.get("curve"))


TRANSPORTS.register(Zmq.name, Zmq())
