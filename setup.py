"""Package list for the wheel: the core plus the data/plugin folders under their import names.

pyproject.toml holds the metadata; setuptools cannot prefix discovered package names there,
so the folder -> import-name mapping (plugins/ -> harness_plugins, ...) is computed here.
"""
from setuptools import find_namespace_packages, setup

EXCLUDE = ["*__pycache__*", "examples", "examples.*"]


def under(folder: str, import_name: str) -> list[str]:
    found = find_namespace_packages(where=folder, exclude=EXCLUDE)
    return [import_name] + [f"{import_name}.{name}" for name in found]


DATA = ["*.yaml", "*.yml", "*.json", "*.txt", "*.safetensors", "*.model", "*.md", "*.jinja"]

setup(
    packages=(
        ["harness"] + [f"harness.{p}" for p in find_namespace_packages(where="harness", exclude=EXCLUDE)]
        + under("plugins", "harness_plugins")
        + under("tasks", "harness_tasks")
        + under("model_cards", "harness_model_cards")
    ),
    package_data={"": DATA},
)
