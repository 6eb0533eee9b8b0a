"""The Python example of the README an export carries, extracted and run as written."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def readme_example(folder: Path) -> str:
    """The Python code block of ``folder/README.md``, as written."""
    blocks = re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), flags=re.S)
    assert len(blocks) == 1, "the README carries one Python example"
    return blocks[0]


def run_readme_example(folder: Path) -> dict[str, Any]:
    """Run the README's example as written; returns its namespace (image, question, answer...)."""
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(readme_example(folder), str(folder / "README.md"), "exec"), namespace)
    return namespace
