"""The quick CLI run each scenario's tests start from (a plain module: `conftest` names collide
across test folders)."""

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from skyline.cli import app


def run_quick(out: Path, kind: str) -> tuple[Path, Result]:
    """`skyline bench run KIND --quick --out OUT`. Its wall time is recorded in the run's
    environment.json, not asserted: a timed unit test fails whenever the machine is busy."""
    result = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["bench", "run", kind, "--quick", "--out", str(out)]
    )
    return out, result


def written_report(out: Path, result: Result) -> str:
    """Check the run succeeded and wrote its data files; the report page's HTML."""
    assert result.exit_code == 0, result.output
    for name in ("results.jsonl", "results.csv", "environment.json", "series.json"):
        assert (out / name).is_file()
    return (out / "report.html").read_text()
