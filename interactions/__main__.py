"""Run the command-line interface: python -m interactions."""

from .entry import main

main()
