"""python -m edgebench == the edgebench command."""

from edgebench.cli.app import main

main()
