"""Model cards (YAML data), shipped under the import name harness_model_cards."""
