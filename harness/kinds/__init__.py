"""Abstract base classes of the plugin kinds that build models (backbone, vision encoder), and what a
third-party plugin reuses: ``hf_vision.HFVisionEncoder`` (a tower transformers loads) and ``images``
(LLaVA-1.5's image processor).

Each kind's module is import-light: torch and transformers are imported inside methods only, so the
CLI can list plugins without them.
"""
