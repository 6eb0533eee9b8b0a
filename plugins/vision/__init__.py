"""Built-in vision plugins."""
