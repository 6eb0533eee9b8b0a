"""Built-in analyses plugins."""
