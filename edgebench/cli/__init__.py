"""The `edgebench` command line. Modules here import only typer/rich at load time."""
