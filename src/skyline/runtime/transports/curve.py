"""ZeroMQ CURVE for edge-cloud links: authentication (the server admits only client public keys
in its allow-list folder) and encryption (CurveZMQ: Curve25519 key exchange, per-connection
session keys). Keys are zmq's certificate files: NAME.key (public) and NAME.key_secret."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skyline.errors import ConfigError

KEYS_FIX = "make a key pair with `skyline keys NAME --dir DIR`"


def generate_keys(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write NAME.key (share it) and NAME.key_secret (keep it) under `directory`."""
    import zmq.auth

    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"key name {name!r} is not a plain file name", fix="use e.g. edge1")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(folder, name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def _load(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    import zmq.auth

    if not path.is_file():
        raise ConfigError(f"CURVE key file {path} does not exist", fix=KEYS_FIX)
    try:
        public, private = zmq.auth.load_certificate(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a zmq key file: {exc}", fix=KEYS_FIX) from exc
    if secret and private is None:
        raise ConfigError(
            f"{path} holds no secret key", fix="pass the NAME.key_secret file, not NAME.key"
        )
    return public, private


@dataclass(frozen=True)
class CurveServer:
    """A listener's identity (`secret`: its NAME.key_secret) and the folder of client public
    keys (NAME.key files) it admits; any other client is refused during the handshake."""

    secret: Path
    allowed: Path

    def keys(self) -> tuple[bytes, bytes]:
        public, private = _load(Path(self.secret), secret=True)
        if not Path(self.allowed).is_dir() or not any(Path(self.allowed).glob("*.key")):
            raise ConfigError(
                f"allow-list folder {self.allowed} holds no client public keys (*.key)",
                fix="copy each edge's NAME.key into it",
            )
        assert private is not None
        return public, private


@dataclass(frozen=True)
class CurveClient:
    """A client's identity (`secret`: its NAME.key_secret) and the server's public key file
    (the server is authenticated too: a man in the middle cannot answer)."""

    secret: Path
    server: Path

    def keys(self) -> tuple[bytes, bytes, bytes]:
        public, private = _load(Path(self.secret), secret=True)
        server_public, _ = _load(Path(self.server), secret=False)
        assert private is not None
        return public, private, server_public
