"""Which clients fail in which round: from a rate (seeded, reproducible in every process) or a
trace. A dropped client fails its round (Flower gets an error reply, as from a lost node); a
straggler answers after `straggle_s`, usually past the aggregator's round deadline."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from skyline.errors import ConfigError


def _unit(seed: int, kind: str, round_: int, cid: int) -> float:
    """A uniform number in [0, 1) fixed by its arguments: the same in every process."""
    digest = hashlib.blake2b(f"{seed}/{kind}/{round_}/{cid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Dropout:
    """`rate`: chance a client drops in a round; `straggle`: chance it answers `straggle_s`
    late; `trace`: round -> client ids that drop (added to the rate's)."""

    rate: float = 0.0
    straggle: float = 0.0
    straggle_s: float = 5.0
    seed: int = 0
    trace: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in (("dropout rate", self.rate), ("straggler rate", self.straggle)):
            if not 0 <= value < 1:
                raise ConfigError(f"{name}={value} is outside [0, 1)", fix="use e.g. 0.3")
        if self.straggle_s < 0:
            raise ConfigError(f"straggle_s={self.straggle_s} must be >= 0", fix="use seconds")

    def dropped(self, round_: int, cid: int) -> bool:
        return (
            cid in self.trace.get(round_, ()) or _unit(self.seed, "drop", round_, cid) < self.rate
        )

    def delay_s(self, round_: int, cid: int) -> float:
        return self.straggle_s if _unit(self.seed, "late", round_, cid) < self.straggle else 0.0

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs: float) -> Dropout:
        """A trace file of `round,client` rows (header optional): those clients drop."""
        trace: dict[int, set[int]] = {}
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            cells = [c.strip() for c in line.split(",")]
            if not line.strip() or (n == 1 and not cells[0].isdigit()):
                continue
            if len(cells) != 2 or not all(c.isdigit() for c in cells):
                raise ConfigError(
                    f"{path}:{n}: {line!r} is not 'round,client'",
                    fix="write one 'round,client' pair of integers per line",
                )
            trace.setdefault(int(cells[0]), set()).add(int(cells[1]))
        return cls(trace={r: frozenset(c) for r, c in trace.items()}, **kwargs)  # type: ignore[arg-type]


def expected_survivors(clients: Sequence[int], dropout: Dropout, round_: int) -> list[int]:
    """The clients that neither drop nor straggle in `round_` (for tests and reports)."""
    return [
        c for c in clients if not dropout.dropped(round_, c) and dropout.delay_s(round_, c) == 0
    ]
