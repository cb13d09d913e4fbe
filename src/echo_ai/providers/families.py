"""Model families: a dated snapshot or a vendor's variant named by its family's prefix.

Tables keyed by model family (prices, capabilities) look a model up here, so that
``gpt-4o-mini-2024-07-18`` finds ``gpt-4o-mini`` and ``o3`` never finds ``o30``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

_SNAPSHOT_SEPARATORS: Final = ("-", "@", ":")


def normalised(model: str) -> str:
    """A model name as tables key it: lower case, without Gemini's ``models/`` prefix."""
    return model.strip().lower().removeprefix("models/")


def longest_prefix(model: str, families: Iterable[str]) -> str | None:
    """The longest family that is ``model`` or its prefix ending at a separator."""
    name = normalised(model)
    best: str | None = None
    for key in families:
        matches = name == key or (name.startswith(key) and name[len(key)] in _SNAPSHOT_SEPARATORS)
        if matches and (best is None or len(key) > len(best)):
            best = key
    return best
