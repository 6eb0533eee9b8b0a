"""lmms-eval task folders (YAML + utils), shipped under the import name harness_tasks; used as include_path."""
