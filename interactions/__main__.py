"""Run the command-line interface: python -m interactions."""

from .cli import main

main()
