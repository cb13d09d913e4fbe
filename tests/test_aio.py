"""The serving process's start-up objects are kept out of full garbage-collector passes."""

from __future__ import annotations

import gc

from echo_ai.aio import startup_objects_frozen


def test_start_up_objects_are_frozen_while_serving_and_handed_back_after() -> None:
    assert gc.get_freeze_count() == 0
    with startup_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
