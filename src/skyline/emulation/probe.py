"""Measure what a `LinuxLink` really does: request/response times over one warm TCP connection.

The exchange is the runtime's: side a sends a payload, side b answers with a 1-byte ack once the
whole payload has arrived, so one request costs about `nbytes * 8 / up_rate + RTT`
(`predicted_request_s`). Sockets use TCP_NODELAY like ZeroMQ's, and the connection is warmed up
first, as the runtime's long-lived connection is, so slow start is not in the numbers.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence

from skyline.emulation.linux import LinuxLink
from skyline.errors import ConfigError

_HEADER = struct.Struct("!Q")
_ACK = b"\x01"


def predicted_request_s(nbytes: int, up_mbps: float, rtt_ms: float) -> float:
    """Serialization at the rate plus one round trip (the payload's last bit out, the ack back)."""
    return nbytes * 8 / (up_mbps * 1e6) + rtt_ms / 1e3


def _recv_exactly(sock: socket.socket, nbytes: int, buf: bytearray) -> None:
    view = memoryview(buf)
    got = 0
    while got < nbytes:
        n = sock.recv_into(view[: min(len(buf), nbytes - got)])
        if n == 0:
            raise ConnectionError("peer closed the connection mid-message")
        got += n


def _serve(listener: socket.socket) -> None:
    """Side b: read length-prefixed payloads and ack each; a zero length ends the session."""
    conn, _ = listener.accept()
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(1 << 20)
        while True:
            _recv_exactly(conn, _HEADER.size, buf)
            (nbytes,) = _HEADER.unpack_from(buf)
            if nbytes == 0:
                return
            _recv_exactly(conn, nbytes, buf)
            conn.sendall(_ACK)


def request_times(
    link: LinuxLink,
    sizes: Sequence[int],
    *,
    repeats: int = 3,
    warmup_bytes: int = 1_000_000,
    warmups: int = 2,
) -> dict[int, list[float]]:
    """Seconds per request a -> b for each payload size, `repeats` times, after `warmups`
    requests of `warmup_bytes` that open the congestion window."""
    if min(sizes, default=1) < 1:
        raise ConfigError(
            f"payload sizes {list(sizes)} include one < 1 byte", fix="pass sizes >= 1"
        )
    largest = max([*sizes, warmup_bytes])
    timeout_s = 10 + 10 * predicted_request_s(largest, link.up_mbps, link.rtt_ms)
    listener = link.socket("b")
    client = link.socket("a")
    with listener, client:
        listener.bind((link.addr_b, 0))
        listener.listen(1)
        server = threading.Thread(target=_serve, args=(listener,), daemon=True)
        server.start()
        client.settimeout(timeout_s)  # a failed server must not hang the caller
        client.connect(listener.getsockname())
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def request(payload: bytes) -> float:
            start = time.perf_counter()
            client.sendall(payload)
            if client.recv(1) != _ACK:
                raise ConnectionError("side b closed the connection instead of acking")
            return time.perf_counter() - start

        def message(nbytes: int) -> bytes:
            return _HEADER.pack(nbytes) + bytes(nbytes)

        warm = message(warmup_bytes)
        for _ in range(warmups):
            request(warm)
        times = {}
        for nbytes in sizes:
            payload = message(nbytes)  # built outside the timed part
            times[nbytes] = [request(payload) for _ in range(repeats)]
        client.sendall(_HEADER.pack(0))
        server.join()
    return times
