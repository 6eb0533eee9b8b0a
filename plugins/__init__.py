"""Built-in harness plugins, registered through the `harness` entry-point group like third-party ones."""
