"""Every input of the API is typed to refuse what the database cannot take (issue 9,
findings 2 and 7), proved over all of them, found from the routes themselves.

The inputs are discovered from :func:`echo_ai.app.routers` (every router the service
serves): each route's body, query, path and header parameters, with their dependencies',
walked down to the leaves through nested models, lists, dicts and unions. A new route or a
new field is therefore checked without anyone listing it here:

- every string is a :class:`~echo_ai.text.SingleLine` or :class:`~echo_ai.text.MultiLine`
  (bounded, no control characters), or a closed set (an enum, a literal);
- every list and dict in a body is bounded; every number and boolean in a body is strict
  (JSON ``true`` is not 1, ``"3"`` is not 3);
- property: each string type refuses any text with a control character and accepts any
  ordinary text within its bounds;
- property: in a valid document of each body model, a control character put anywhere in
  any string, a string one character over its bound, or a value of the wrong JSON type is
  refused with an error at that very field.
"""

from __future__ import annotations

import copy
import enum
import tempfile
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from annotated_types import MaxLen
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Strict, TypeAdapter, ValidationError

from echo_ai.app import create_app, routers
from echo_ai.config import Settings
from echo_ai.observability.router import metrics_router
from echo_ai.text import MultiLine, SingleLine
from tests.api.bodies import BODIES

CREDENTIAL_HEADERS = {"authorization", "x-workspace-id"}
"""Headers that are credentials, not text: a bearer token is checked (signature, or key
checksum) and ``X-Workspace-ID`` parsed as a UUID before anything looks them up, and a bad
one is answered 401 or 404 as documented, not 422 (the fuzzing pass sends them junk)."""

CLOSED = (enum.Enum, uuid.UUID)
"""Leaf types whose values are a closed or parsed set: nothing free-form reaches storage."""

CONTROLS = [chr(code) for code in (*range(0x20), *range(0x7F, 0xA0))]


# --- discovery --------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    where: str
    """``METHOD /path location name`` and the path inside a body, for messages."""
    path: tuple[str, ...]
    """Inside the body: field names, ``[]`` for list items, ``{key}`` for dict keys."""
    location: str
    kind: type
    metadata: tuple[Any, ...]

    @property
    def annotated(self) -> Any:
        return Annotated[(self.kind, *self.metadata)] if self.metadata else self.kind

    def has(self, marker: type) -> bool:
        return any(isinstance(item, marker) for item in self.metadata)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _routes() -> list[APIRoute]:
    found = [
        route
        for router in [*routers(), metrics_router("token")]
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(found) > 30
    return found


def _leaves(
    tp: Any, metadata: tuple[Any, ...], path: tuple[str, ...], seen: frozenset[type]
) -> Iterator[tuple[tuple[str, ...], Any, tuple[Any, ...]]]:
    """(path, leaf type, its metadata) of every leaf under ``tp``; containers (lists,
    dicts) are leaves too, so that their bounds can be checked."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        inner, *extra = typing.get_args(tp)
        yield from _leaves(inner, (*metadata, *extra), path, seen)
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None):
                yield from _leaves(arg, metadata, path, seen)
    elif origin is list:
        yield path, list, metadata
        yield from _leaves(typing.get_args(tp)[0], (), (*path, "[]"), seen)
    elif origin is dict:
        key, value = typing.get_args(tp)
        yield path, dict, metadata
        yield from _leaves(key, (), (*path, "{key}"), seen)
        yield from _leaves(value, (), (*path, "{}"), seen)
    elif origin is Literal:
        yield path, Literal, metadata
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return
        for name, field in tp.model_fields.items():
            yield from _leaves(field.annotation, tuple(field.metadata), (*path, name), seen | {tp})
    else:
        yield path, tp, metadata


def _inputs() -> Iterator[Leaf]:
    for route in _routes():
        for dependant in _dependants(route.dependant):
            for location, params in [
                ("body", dependant.body_params),
                ("query", dependant.query_params),
                ("path", dependant.path_params),
                ("header", dependant.header_params),
                ("cookie", dependant.cookie_params),
            ]:
                for param in params:
                    info = param.field_info
                    for method in sorted(route.methods or ()):
                        where = f"{method} {route.path} {location} {param.alias}"
                        for path, kind, metadata in _leaves(
                            info.annotation, tuple(info.metadata), (), frozenset()
                        ):
                            shown = f"{where} {'.'.join(path)}".rstrip()
                            yield Leaf(shown, path, location, kind, metadata)


INPUTS = list(_inputs())
BODY_MODELS = sorted(
    {
        arg
        for route in _routes()
        for dependant in _dependants(route.dependant)
        for param in dependant.body_params
        for arg in typing.get_args(param.field_info.annotation) or [param.field_info.annotation]
        if isinstance(arg, type) and issubclass(arg, BaseModel)
    },
    key=lambda model: model.__name__,
)


def _text_types() -> dict[str, SingleLine | MultiLine]:
    found: dict[SingleLine | MultiLine, str] = {}
    for leaf in INPUTS:
        for item in leaf.metadata:
            if leaf.kind is str and isinstance(item, SingleLine | MultiLine):
                found.setdefault(item, leaf.where)
    return {where: marker for marker, where in found.items()}


TEXT_TYPES = _text_types()
"""Each distinct text type of the API (kind and bounds), by one place it is used."""


# --- every input is typed -----------------------------------------------------------------


def test_inputs_are_discovered() -> None:
    assert {model.__name__ for model in BODY_MODELS} >= {
        "ExperimentCreate",
        "BrandProfileIn",
        "SignIn",
        "ApiKeyCreate",
    }
    assert any(leaf.location == "query" and leaf.kind is str for leaf in INPUTS)
    assert len(TEXT_TYPES) > 10


def test_every_string_is_one_of_the_text_types_or_a_closed_set() -> None:
    untyped = [
        leaf.where
        for leaf in INPUTS
        if leaf.kind is str
        and not (leaf.has(SingleLine) or leaf.has(MultiLine))
        and not (leaf.location == "header" and leaf.where.split()[-1] in CREDENTIAL_HEADERS)
    ]
    assert untyped == []


def test_every_leaf_type_is_known() -> None:
    known = (str, int, float, bool, list, dict, Literal)
    unknown = [
        f"{leaf.where}: {leaf.kind!r}"
        for leaf in INPUTS
        if not (
            leaf.kind in known or (isinstance(leaf.kind, type) and issubclass(leaf.kind, CLOSED))
        )
    ]
    assert unknown == []


def test_every_list_and_dict_of_a_body_is_bounded() -> None:
    unbounded = [
        leaf.where
        for leaf in INPUTS
        if leaf.location == "body" and leaf.kind in (list, dict) and not leaf.has(MaxLen)
    ]
    assert unbounded == []


def test_every_number_and_boolean_of_a_body_is_strict() -> None:
    lax = [
        leaf.where
        for leaf in INPUTS
        if leaf.location == "body"
        and leaf.kind in (int, float, bool)
        and not any(isinstance(item, Strict) and item.strict for item in leaf.metadata)
    ]
    assert lax == []


def test_the_openapi_schema_bounds_every_request_string_and_array() -> None:
    """The documented contract says the same: clients can read the bounds."""
    unused = Path(tempfile.gettempdir()) / "echo-ai-input-types-unused"
    document = create_app(Settings(data_dir=unused)).openapi()
    components = document["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    unbounded: list[str] = []

    def walk(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return
            walk(resolve(schema), where, seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, where, seen)
        kind = schema.get("type")
        closed = "enum" in schema or "const" in schema or schema.get("format") == "uuid"
        if kind == "string" and not closed and "maxLength" not in schema:
            unbounded.append(where)
        if kind == "array":
            if "maxItems" not in schema:
                unbounded.append(where)
            walk(schema.get("items", {}), f"{where}[]", seen)
        if kind == "object":
            values = [
                *(
                    [schema["additionalProperties"]]
                    if isinstance(schema.get("additionalProperties"), dict)
                    else []
                ),
                *schema.get("patternProperties", {}).values(),
            ]
            if values and "maxProperties" not in schema:
                unbounded.append(where)
            for value in values:
                walk(value, f"{where}{{}}", seen)
            if values:
                walk({"type": "string", **schema.get("propertyNames", {})}, f"{where}{{key}}", seen)
            for name, field in schema.get("properties", {}).items():
                walk(field, f"{where}.{name}", seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                walk(body["schema"], f"{method.upper()} {path} body", frozenset())
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header" and parameter["name"].lower() in CREDENTIAL_HEADERS:
                    continue
                walk(
                    parameter["schema"], f"{method.upper()} {path} {parameter['name']}", frozenset()
                )
    assert unbounded == []


# --- the string types, each on its own ----------------------------------------------------


def _bounds(marker: SingleLine | MultiLine) -> tuple[int, int, bool]:
    """(min_length, max_length, multi-line) of a text type."""
    return marker.min_length, marker.max_length, isinstance(marker, MultiLine)


def _ordinary(multi_line: bool) -> st.SearchStrategy[str]:
    """Any character but controls and lone surrogates; tab, newline and CR for multi-line."""
    characters = st.characters(exclude_categories=("Cc", "Cs"))
    if multi_line:
        characters = characters | st.sampled_from("\t\n\r")
    return characters


ADAPTERS = {where: TypeAdapter(Annotated[str, marker]) for where, marker in TEXT_TYPES.items()}


@pytest.mark.parametrize("where", list(TEXT_TYPES))
@given(data=st.data())
def test_a_text_type_accepts_ordinary_text(where: str, data: st.DataObject) -> None:
    low, high, multi_line = _bounds(TEXT_TYPES[where])
    text = data.draw(st.text(_ordinary(multi_line), min_size=low, max_size=min(high, 300)))
    accepted = ADAPTERS[where].validate_python(text)
    expected = text.replace("\r\n", "\n").replace("\r", "\n") if multi_line else text
    assert accepted == expected


@pytest.mark.parametrize("where", list(TEXT_TYPES))
@given(data=st.data())
def test_a_text_type_refuses_control_characters(where: str, data: st.DataObject) -> None:
    _, high, multi_line = _bounds(TEXT_TYPES[where])
    allowed = "\t\n\r" if multi_line else ""
    control = data.draw(st.sampled_from([c for c in CONTROLS if c not in allowed]))
    text = data.draw(st.text(_ordinary(multi_line), max_size=min(high, 300) - 1))
    position = data.draw(st.integers(0, len(text)))
    with pytest.raises(ValidationError) as refused:
        ADAPTERS[where].validate_python(text[:position] + control + text[position:])
    assert [error["type"] for error in refused.value.errors()] == ["control_character"]


@pytest.mark.parametrize("where", list(TEXT_TYPES))
def test_a_text_type_refuses_one_character_too_many(where: str) -> None:
    _, high, _ = _bounds(TEXT_TYPES[where])
    with pytest.raises(ValidationError) as refused:
        ADAPTERS[where].validate_python("a" * (high + 1))
    assert [error["type"] for error in refused.value.errors()] == ["string_too_long"]


# --- whole documents ----------------------------------------------------------------------


@dataclass(frozen=True)
class Spot:
    """A value in a document, or a key of one of its dicts (not a field name)."""

    path: tuple[str | int, ...]
    shape: tuple[str, ...]
    """The path as :func:`_leaves` names it: ``[]`` for list items, ``{key}``/``{}`` for
    a dict's keys and values."""
    key: bool = False


def _spots(model: type[BaseModel]) -> list[tuple[Spot, Any]]:
    """Every value of the example of ``model``, and every key of its dicts."""
    dicts = {path[:-1] for path, _, _ in _model_leaves(model) if path[-1:] == ("{key}",)}
    found: list[tuple[Spot, Any]] = []

    def walk(value: Any, path: tuple[str | int, ...], shape: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            data = shape in dicts
            for name, item in value.items():
                if data:
                    found.append((Spot((*path, name), (*shape, "{key}"), key=True), name))
                walk(item, (*path, name), (*shape, "{}" if data else name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index), (*shape, "[]"))
        else:
            found.append((Spot(path, shape), value))

    walk(BODIES[model], (), ())
    return found


def _changed(
    document: dict[str, Any], spot: Spot, change: Callable[[Any], Any]
) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The document with the value (or key) at ``spot`` changed; where the error must be."""
    copied = copy.deepcopy(document)
    parent: Any = copied
    for step in spot.path[:-1]:
        parent = parent[step]
    last = spot.path[-1]
    if spot.key:
        assert isinstance(last, str)
        renamed = change(last)
        parent[renamed] = parent.pop(last)
        return copied, (*spot.path[:-1], renamed)
    parent[last] = change(parent[last])
    return copied, spot.path


def _text_spots(model: type[BaseModel]) -> list[Spot]:
    """Every string of the example that is text (not a literal, an enum or a UUID)."""
    free = {path for path, kind, _ in _model_leaves(model) if kind is str}
    return [spot for spot, value in _spots(model) if isinstance(value, str) and spot.shape in free]


def _model_leaves(model: type[BaseModel]) -> list[tuple[tuple[str, ...], Any, tuple[Any, ...]]]:
    return list(_leaves(model, (), (), frozenset()))


def _is_free_text(kind: Any, metadata: tuple[Any, ...]) -> bool:
    return kind is str and any(isinstance(item, SingleLine | MultiLine) for item in metadata)


def _error_at(
    model: type[BaseModel], document: dict[str, Any], where: tuple[Any, ...]
) -> list[str]:
    """The error types of validating ``document``; every error must be at ``where``."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(document)
    errors = refused.value.errors()
    assert all(tuple(error["loc"][: len(where)]) == where for error in errors), (where, errors)
    return [error["type"] for error in errors]


def test_every_body_model_has_a_complete_example() -> None:
    missing = [model.__name__ for model in BODY_MODELS if model not in BODIES]
    assert missing == []
    for model in BODY_MODELS:
        model.model_validate(BODIES[model])  # valid as it is
        given_text = {spot.shape for spot in _text_spots(model)}
        given_all = {spot.shape for spot, _ in _spots(model)}
        for path, kind, metadata in _model_leaves(model):
            if _is_free_text(kind, metadata):
                assert path in given_text, f"{model.__name__}: the example has no {path}"
            elif kind in (int, float, bool):
                assert path in given_all, f"{model.__name__}: the example has no {path}"


TEXT_MODELS = [model for model in BODY_MODELS if model in BODIES and _text_spots(model)]


@pytest.mark.parametrize("model", TEXT_MODELS, ids=lambda model: model.__name__)
@given(data=st.data())
def test_a_control_character_anywhere_is_refused_at_its_field(
    model: type[BaseModel], data: st.DataObject
) -> None:
    spot = data.draw(st.sampled_from(_text_spots(model)))
    multi_line = any(
        path == spot.shape and any(isinstance(item, MultiLine) for item in metadata)
        for path, _, metadata in _model_leaves(model)
    )
    control = data.draw(
        st.sampled_from([c for c in CONTROLS if not (multi_line and c in "\t\n\r")])
    )

    def put(text: str) -> str:  # in place of a character: the length stays within bounds
        position = data.draw(st.integers(0, max(len(text) - 1, 0)))
        return text[:position] + control + text[position + 1 :]

    document, where = _changed(BODIES[model], spot, put)
    assert "control_character" in _error_at(model, document, where)


@pytest.mark.parametrize("model", TEXT_MODELS, ids=lambda model: model.__name__)
def test_a_string_over_its_bound_is_refused_at_its_field(model: type[BaseModel]) -> None:
    bounds = {
        path: marker.max_length
        for path, kind, metadata in _model_leaves(model)
        for marker in metadata
        if isinstance(marker, SingleLine | MultiLine)
    }
    for spot in _text_spots(model):
        if spot.shape in bounds:
            document, where = _changed(BODIES[model], spot, _always("a" * (bounds[spot.shape] + 1)))
            assert "string_too_long" in _error_at(model, document, where)


def _always(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


WRONG_TYPES: dict[type, list[Any]] = {
    int: [True, 1.5, "1", [1], {"n": 1}],
    float: [True, "0.5", [0.5], {"x": 0.5}],
    bool: [1, 0, "true", "false", [True]],
    str: [1, 1.5, True, ["text"]],
}
"""What a careless client sends instead (a whole number is a float: JSON does not tell)."""


@pytest.mark.parametrize("model", BODY_MODELS, ids=lambda model: model.__name__)
def test_a_value_of_the_wrong_json_type_is_refused_at_its_field(model: type[BaseModel]) -> None:
    example = BODIES[model]
    for spot, value in _spots(model):
        if spot.key:
            continue  # keys are strings in JSON
        for wrong in WRONG_TYPES[bool if isinstance(value, bool) else type(value)]:
            document, where = _changed(example, spot, _always(wrong))
            assert _error_at(model, document, where), (spot, wrong)
