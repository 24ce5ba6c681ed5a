"""The subcommands of the lmpreflight command line, one module per area."""
