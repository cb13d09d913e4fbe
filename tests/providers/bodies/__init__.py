"""Response bodies shaped exactly as the vendors send them, one JSON file per case.

Tests serve them through the fake LLM server (``FakeLLMConfig.bodies``) so that they pass
through the vendor's real SDK and our adapter, as a recorded response would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent


def body(vendor: str, name: str) -> dict[str, Any]:
    """The body ``bodies/<vendor>/<name>.json``, fresh for each call."""
    loaded = json.loads((_HERE / vendor / f"{name}.json").read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise TypeError(f"{vendor}/{name}.json is not a JSON object")
    return loaded
