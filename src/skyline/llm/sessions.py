"""KV caches kept per session on the cloud side (speculative verifier, layer-split tail).

A request names its session and how many tokens it believes the cloud holds (`position`);
the cache is truncated to `position` first, so a request retried after a lost reply gets the
same answer instead of corrupting the session.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from skyline.errors import ConfigError
from skyline.llm.model import KVCache


class SessionCaches:
    """At most `max_sessions` caches, the least recently used evicted. A request continuing an
    unknown (ended or evicted) session is refused with an error that says to restart it from
    position 0. Not locked: the owner serializes calls."""

    def __init__(
        self, new_cache: Callable[[], KVCache], max_sessions: int = 64, *, owner: str = "cloud"
    ) -> None:
        if max_sessions < 1:
            raise ConfigError("max_sessions must be >= 1", fix="pass a positive count")
        self.new_cache = new_cache
        self.max_sessions = max_sessions
        self.owner = owner  # who holds the caches, for error messages
        self._caches: OrderedDict[str, KVCache] = OrderedDict()

    def at(self, session: str, position: int) -> KVCache:
        """The session's cache truncated to `position` (a new one at position 0)."""
        if position < 0:
            raise ConfigError(f"position {position} is negative", fix="pass >= 0")
        cache = self._caches.get(session)
        if cache is None:
            if position:
                raise ConfigError(
                    f"session {session!r} is unknown here (ended or evicted) but the "
                    f"request continues it at position {position}",
                    fix="restart the session from position 0 with the whole sequence",
                )
            while len(self._caches) >= self.max_sessions:
                self._caches.popitem(last=False)
            cache = self.new_cache()
            self._caches[session] = cache
        elif position > cache.length:
            raise ConfigError(
                f"session {session!r}: the request assumes {position} cached "
                f"tokens, the {self.owner} holds {cache.length}",
                fix=f"resend from a position the {self.owner} holds (or from 0)",
            )
        self._caches.move_to_end(session)
        cache.truncate(position)
        return cache

    def end(self, session: str) -> None:
        """Free a session's cache (unknown sessions are ignored)."""
        self._caches.pop(session, None)

    def names(self) -> list[str]:
        return list(self._caches)
