"""`skyline keys NAME`: a CURVE key pair for an edge or cloud node (authenticated links)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skyline.cli._common import console
from skyline.runtime.transports.curve import generate_keys


def keys_command(
    name: Annotated[str, typer.Argument(help="node name, e.g. edge1 or cloud")],
    directory: Annotated[Path, typer.Option("--dir", help="folder for the key files")] = Path(
        "keys"
    ),
) -> None:
    """Write NAME.key (public: give it to the peer) and NAME.key_secret (keep it, mode 600).
    A cloud admits the edges whose NAME.key files sit in its allow-list folder."""
    public, secret = generate_keys(directory, name)
    console.print(f"public key  {public}\nsecret key  {secret}", highlight=False)
