"""CURVE on the ZeroMQ transport: allow-listed clients are served, unknown or plain clients
are refused, and the bytes on the wire do not contain the payload."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from skyline.errors import ConfigError, TransportError
from skyline.runtime.transports import Transport, bind, connect
from skyline.runtime.transports.curve import CurveClient, CurveServer, generate_keys

SECRET = b"patient-4711-heart-rate-series"


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    allowed = tmp_path / "allowed"
    _, server_secret = generate_keys(tmp_path / "server", "cloud")
    edge_public, edge_secret = generate_keys(tmp_path / "edge", "edge1")
    _, stranger_secret = generate_keys(tmp_path / "stranger", "edge2")
    allowed.mkdir()
    (allowed / edge_public.name).write_bytes(edge_public.read_bytes())
    return {
        "server_secret": server_secret,
        "server_public": tmp_path / "server" / "cloud.key",
        "allowed": allowed,
        "edge_secret": edge_secret,
        "stranger_secret": stranger_secret,
    }


def echo_server(curve: CurveServer | None) -> Iterator[str]:
    listener = bind("tcp://127.0.0.1:0", curve=curve)
    stop = threading.Event()
    thread = threading.Thread(target=listener.serve, args=(lambda parts: list(parts), stop))
    thread.start()
    try:
        yield listener.address
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.fixture
def secure(keys: dict[str, Path]) -> Iterator[str]:
    yield from echo_server(CurveServer(keys["server_secret"], keys["allowed"]))


def client(keys: dict[str, Path], who: str, address: str) -> Transport:
    return connect(address, curve=CurveClient(keys[who], keys["server_public"]))


def test_an_allowed_edge_is_served(keys: dict[str, Path], secure: str) -> None:
    transport = client(keys, "edge_secret", secure)
    try:
        assert [bytes(p) for p in transport.request([SECRET], 5.0)] == [SECRET]
    finally:
        transport.close()


@pytest.mark.parametrize("who", ["stranger", "plain"])
def test_unknown_or_unauthenticated_clients_are_refused(
    keys: dict[str, Path], secure: str, who: str
) -> None:
    transport = client(keys, "stranger_secret", secure) if who == "stranger" else connect(secure)
    try:
        with pytest.raises(TransportError, match="no reply"):
            transport.request([SECRET], 1.0)
    finally:
        transport.close()


class Tap:
    """A TCP relay between client and server that keeps every byte it forwards."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("tcp://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.seen = bytearray()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        conn, _ = self.server.accept()
        up = socket.create_connection(self.upstream)
        for a, b in ((conn, up), (up, conn)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        while data := src.recv(65536):
            self.seen += data
            dst.sendall(data)


@pytest.mark.parametrize("encrypted", [True, False])
def test_traffic_is_not_readable_on_the_wire(keys: dict[str, Path], encrypted: bool) -> None:
    curve = CurveServer(keys["server_secret"], keys["allowed"]) if encrypted else None
    for address in echo_server(curve):
        tap = Tap(address)
        transport = client(keys, "edge_secret", tap.address) if encrypted else connect(tap.address)
        try:
            assert [bytes(p) for p in transport.request([SECRET], 5.0)] == [SECRET]
        finally:
            transport.close()
        assert (SECRET in bytes(tap.seen)) is not encrypted  # the control run shows it plainly


def test_key_problems_are_explained(keys: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        CurveClient(tmp_path / "nope.key_secret", keys["server_public"]).keys()
    with pytest.raises(ConfigError, match="no secret key"):
        CurveClient(keys["server_public"], keys["server_public"]).keys()
    with pytest.raises(ConfigError, match="no client public keys"):
        CurveServer(keys["server_secret"], tmp_path / "empty").keys()
    with pytest.raises(ConfigError, match="inproc"):
        connect("inproc://x", curve=CurveClient(keys["edge_secret"], keys["server_public"]))


def test_keys_command_writes_a_pair(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from skyline.cli import app

    result = CliRunner().invoke(app, ["keys", "edge7", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "edge7.key").is_file()
    assert (tmp_path / "edge7.key_secret").stat().st_mode & 0o077 == 0
    public, secret = CurveClient(tmp_path / "edge7.key_secret", tmp_path / "edge7.key").keys()[:2]
    assert len(public) == len(secret) == 40  # z85 of 32 bytes
