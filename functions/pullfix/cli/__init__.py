"""The `pullfix` command line and the operator commands."""
