from pathlib import Path

import pytest

from skyline.errors import ConfigError
from skyline.fl import Dropout


def test_rate_is_reproducible_and_about_right() -> None:
    d = Dropout(rate=0.3, seed=1)
    draws = [d.dropped(r, c) for r in range(50) for c in range(20)]
    assert draws == [Dropout(rate=0.3, seed=1).dropped(r, c) for r in range(50) for c in range(20)]
    assert 0.25 < sum(draws) / len(draws) < 0.35


def test_no_dropout_by_default() -> None:
    d = Dropout()
    assert not any(d.dropped(r, c) or d.delay_s(r, c) for r in range(10) for c in range(10))


def test_trace_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("round,client\n1,3\n1,4\n2,0\n")
    d = Dropout.from_csv(path)
    assert d.dropped(1, 3) and d.dropped(1, 4) and d.dropped(2, 0)
    assert not d.dropped(2, 3)


def test_bad_trace_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("1,3\n1;4\n")
    with pytest.raises(ConfigError, match=r"trace\.csv:2"):
        Dropout.from_csv(path)


@pytest.mark.parametrize("kwargs", [{"rate": 1.0}, {"straggle": -0.1}, {"straggle_s": -1.0}])
def test_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Dropout(**kwargs)  # type: ignore[arg-type]
