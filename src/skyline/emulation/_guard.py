"""`Guarded`: a resource set up under a finalizer, so it is torn down on `with` exit, when its
own setup fails half-way, and (as a safety net) when it is collected or Python exits."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any


class Guarded:
    _finalizer: weakref.finalize | None = None

    @property
    def active(self) -> bool:
        return self._finalizer is not None and self._finalizer.alive

    def _guarded_setup(
        self, teardown: Callable[..., Any], args: tuple[Any, ...], setup: Callable[[], None]
    ) -> None:
        """Arm `teardown(*args)` (it must not refer to self), then run `setup`."""
        self._finalizer = weakref.finalize(self, teardown, *args)
        try:
            setup()
        except BaseException:
            self._finalizer()
            raise

    def __exit__(self, *exc: object) -> None:
        assert self._finalizer is not None
        self._finalizer()
