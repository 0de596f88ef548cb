"""Runs the command line as ``python -m streamrec``."""

from streamrec.cli import main

main()
