"""`FrameServer`: the lifecycle every Skyline server shares (bind, serve in this or a background
thread, stop, close), so workers only write `handle`."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Self

from skyline.runtime.transports import Listener, Parts, bind


class FrameServer(ABC):
    """Answers each request (frame parts in, frame parts out) on `threads` worker threads."""

    def __init__(self, bind_address: str, *, threads: int = 1, name: str = "skyline") -> None:
        self.threads = threads
        self.listener: Listener = bind(bind_address)
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return self.listener.address

    @abstractmethod
    def handle(self, parts: Sequence[Any]) -> Parts:
        """The reply to one request; must answer garbage with an error frame, never raise."""

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` (or KeyboardInterrupt)."""
        try:
            self.listener.serve(self.handle, self._stop, self.threads)
        finally:
            self.close()

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Release what the server holds (subclasses add theirs)."""
        self.listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
