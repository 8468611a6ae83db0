"""The `skyline` command: one module per command group, errors shown as one red line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from skyline import __version__
from skyline.cli._common import console, err_console
from skyline.cli.bench import bench_app
from skyline.cli.demo import demo_command
from skyline.cli.fl import fl_app
from skyline.cli.keys import keys_command
from skyline.cli.llm import llm_app
from skyline.cli.models import list_models
from skyline.cli.optimize import optimize_command
from skyline.cli.plan import plan_command
from skyline.cli.profile import profile_command
from skyline.cli.serve import serve_app
from skyline.cli.simulate import simulate_command
from skyline.cli.sweep import sweep_command
from skyline.cli.topology import topology_command
from skyline.errors import SkylineError

__all__ = ["app", "main"]

ERROR_EXIT_CODE = 2


class _SkylineGroup(TyperGroup):
    """Runs a command; a SkylineError becomes `error: <message>` on stderr and exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except SkylineError as exc:
            err_console.print(
                f"error: {exc}", style="red", markup=False, highlight=False, soft_wrap=True
            )
            raise SystemExit(ERROR_EXIT_CODE) from None


app = typer.Typer(
    name="skyline",
    cls=_SkylineGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _show_version(value: bool) -> None:
    if value:
        console.print(f"skyline {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Skyline: plan, run and measure AI workloads across device, edge and cloud."""


app.command("models")(list_models)
app.command("profile")(profile_command)
app.command("plan")(plan_command)
app.command("topology")(topology_command)
app.command("sweep")(sweep_command)
app.add_typer(serve_app, name="serve")
app.command("demo")(demo_command)
app.add_typer(llm_app, name="llm")
app.command("simulate")(simulate_command)
app.add_typer(fl_app, name="fl")
app.command("keys")(keys_command)
app.command("optimize")(optimize_command)
app.add_typer(bench_app, name="bench")


def main() -> None:
    """Console-script entry point (`skyline`); SkylineErrors are reported by the command group."""
    app(prog_name="skyline")
