"""Schemathesis' coverage-phase cases made when a test runs, not when it is collected.

``schema.parametrize()`` (``tests/api/test_schema.py``) builds a Hypothesis test per
operation and pass at collection, and schemathesis attaches to each, as explicit
examples, the deterministic cases of its coverage phase (every boundary and negative
value the schema allows). Making those took about 11 s of CPU, and pytest-xdist has every
test process collect the whole suite: each process paid it for 428 tests it mostly never
ran. :func:`install` has schemathesis record what it needs to make them instead
(:data:`DEFERRED`), and :func:`attach` makes and attaches them, with schemathesis' own
function and arguments, when the test is about to run (``tests/conftest.py`` calls it):
the same cases, in the same order, for each test that runs. If schemathesis' internals
change, nothing is deferred and collection is only slower.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

DEFERRED = "_echo_ai_deferred_coverage"
"""The attribute of a Hypothesis test holding its coverage cases' maker until it runs."""


def install() -> bool:
    """Defer schemathesis' coverage cases in this process; False when it cannot."""
    try:
        from schemathesis.generation.hypothesis import builder
    except ImportError:
        return False
    make = getattr(builder, "add_coverage", None)
    if make is None or getattr(make, "deferred", False):
        return False

    def add_coverage(test: Any, *args: Any, **kwargs: Any) -> Any:
        # The explicit examples' list exists from the start, so that any wrapper made of
        # the test later shares it (functools.wraps copies the attribute, not the list).
        if not hasattr(test, "hypothesis_explicit_examples"):
            test.hypothesis_explicit_examples = []
        setattr(test, DEFERRED, functools.partial(make, test, *args, **kwargs))
        return test

    add_coverage.deferred = True  # type: ignore[attr-defined]
    builder.add_coverage = add_coverage
    return True


def attach(item: pytest.Item) -> None:
    """Attach the coverage cases of ``item``'s test (once) before it runs."""
    test = getattr(item, "obj", None)
    deferred = getattr(test, DEFERRED, None)
    if deferred is None:
        return
    delattr(test, DEFERRED)
    made = deferred()
    assert made is test, "schemathesis wrapped the test while adding its coverage cases"
