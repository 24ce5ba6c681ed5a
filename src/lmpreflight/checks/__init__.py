"""Built-in checks, one module per family; the module name is the id prefix."""
