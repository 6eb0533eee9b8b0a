"""Abstract base classes of the plugin kinds that build models (backbone, vision encoder).

Each kind's module is import-light: torch and transformers are imported inside methods only, so the
CLI can list plugins without them.
"""
