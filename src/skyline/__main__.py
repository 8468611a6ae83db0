"""`python -m skyline` is the `skyline` command."""

from skyline.cli import main

main()
