"""`skyline fl run`: every configuration error is reported before Ray starts (exit code 2)."""

import pytest
from typer.testing import CliRunner

from skyline.cli import app

runner = CliRunner(env={"COLUMNS": "250"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "ring"], "--mode 'ring' is unknown"),
        (
            ["--clients", "8", "--edges", "2", "--strategy", "bulyan", "--malicious", "1"],
            "at least 7",
        ),
        (["--dataset", "cifar"], "dataset='cifar'"),
        (["--up-codec", "gzip"], "unknown update codec 'gzip'"),
        (["--mode", "hier", "--secagg"], "flat tier"),
        (["--mode", "flat", "--deploy"], "mode='hier'"),
    ],
)
def test_bad_runs_fail_before_training(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["fl", "run", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
