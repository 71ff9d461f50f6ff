"""The README's Python blocks run as written, in order, in one namespace (so they cannot drift from the code)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 3


def test_every_python_block_of_the_readme_runs_in_order() -> None:
    namespace: dict[str, object] = {"__name__": "readme"}
    for i, block in enumerate(BLOCKS):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102 - our README
            except Exception as err:  # noqa: BLE001 - say which block failed
                pytest.fail(f"README python block {i + 1} failed: {type(err).__name__}: {err}\n{block}")
        # a warning a reader will see must be announced in the block itself
        unannounced = {w.category.__name__ for w in caught} - set(re.findall(r"\w+Warning", block))
        assert not unannounced, f"README python block {i + 1} warns {unannounced} without saying so"
