"""Built-in recipes plugins."""
