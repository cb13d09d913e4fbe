"""The fuzzing pass of issue 9: every operation of the OpenAPI schema, every body field,
query parameter and path parameter, sent NUL bytes, control characters, huge strings
and values of the wrong JSON type, on SQLite and on PostgreSQL.

Every such request must be refused with a 4xx in the documented error shape (never a
5xx, never accepted), and must store nothing: the row count of every table is the same
after it as before. The requests are authenticated, in a team workspace, by its owner's
token or (one operation or field in two) its API key, so that they get past sign-in to
the validation and the handlers; the ids in paths are real. Each body starts from a
document its operation accepts (``tests/api/bodies.py``; the test checks that it does),
so a refusal is the bad value's doing.

Deterministic and bounded (about 700 requests per backend): the places come from the
OpenAPI schema and the values from fixed lists, one change at a time; no random
generation. A field of a schema nested in several bodies (a brand's ``name`` is in four)
is fuzzed in the first of them. The rate limits, tested elsewhere, are reset before each
request, so that each one is judged on its content, not refused as one too many.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from echo_ai.models import Base
from tests.api.bodies import BODIES
from tests.kit import api_key, app_runtime, create_team, invite, wait_finished

HUGE = "x" * 100_000
ODD = ["\x01", "\x08", "\x0b", "\x1b", "\x7f", "\x85", "\x9f", "\ud800"]
"""Control characters, and a lone surrogate (``"\\ud800"`` in JSON: not text)."""
BODY_BY_NAME = {model.__name__: document for model, document in BODIES.items()}


def _bad_strings(index: int) -> list[Any]:
    """A NUL, another odd character (a different one from leaf to leaf), a huge string,
    and values of other JSON types."""
    return ["a\x00b", f"x{ODD[index % len(ODD)]}y", HUGE, 5, True, {"a": "b"}, ["x"]]


WRONG: dict[str, list[Any]] = {
    "integer": [True, "1", 1.5, {"n": 1}, [1], 10**20],
    "number": [True, "0.5", {"x": 0.5}, [0.5], float("inf")],
    "boolean": [1, "true", {"b": True}, [True]],
    "array": [{"a": 1}, "x", 5, ["x"] * 10_000],
    "object": [["x"], "x", 5, True],
    "map": [{"a\x00b": 0.5}, {HUGE: 0.5}, ["x"], "x", 5],
}
"""Values of the wrong type for each JSON Schema type (``map``: an object of any keys)."""
WHOLE_BODIES: list[Any] = [[], "x", 5, None, {"\x00": 1}]
PARAMETER_VALUES = ["a\x00b", "\x1b", "x" * 60_000, "true", "1.5", "-1", "{}", "[]"]
"""For path and query parameters (a URL is at most 64 KiB: httpx's limit, beyond any
server's)."""


# --- where to put bad values: read from the OpenAPI schema ---------------------------


@dataclass(frozen=True)
class Leaf:
    path: tuple[str | int, ...]
    kind: str
    """The JSON Schema type of the value there (``string``, ``object``...)."""
    field: tuple[Any, ...]
    """Which field of which schema this is: (the schema, the path inside it, the kind).
    A field of a schema nested in several bodies (a brand's ``name``) is the same field
    in all of them, validated the same way: it is fuzzed once, in the first body that
    has it. The fields of each operation's own body schema are fuzzed in each."""


@dataclass
class Operation:
    method: str
    path: str
    parameters: list[dict[str, Any]]
    body: str | None
    """The name of the body's schema component (``ExperimentCreate``), if any."""
    body_required: bool = False
    leaves: list[Leaf] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def _operations(document: dict[str, Any]) -> list[Operation]:
    components = document["components"]["schemas"]
    found: list[Operation] = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            body = spec.get("requestBody", {}).get("content", {}).get("application/json")
            name = _body_name(body["schema"]) if body else None
            operation = Operation(
                method.upper(),
                path,
                spec.get("parameters", []),
                name,
                body_required=spec.get("requestBody", {}).get("required", False),
            )
            if name is not None:
                root = (operation.name, 0)
                operation.leaves = _unique(_leaves(components, components[name], (), root))
            found.append(operation)
    return found


def _body_name(schema: dict[str, Any]) -> str:
    options = [schema, *schema.get("anyOf", [])]
    (ref,) = [option["$ref"] for option in options if "$ref" in option]
    return str(ref.rsplit("/", 1)[-1])


def _unique(leaves: Iterator[Leaf]) -> list[Leaf]:
    return list({(*leaf.path, leaf.kind): leaf for leaf in leaves}.values())


def _leaves(
    components: dict[str, Any],
    schema: dict[str, Any],
    path: tuple[str | int, ...],
    owner: tuple[str, int],
) -> Iterator[Leaf]:
    """The leaves under ``schema`` at ``path``; ``owner``: the schema whose field this is
    and where it starts in the body."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        yield from _leaves(components, components[name], path, (name, len(path)))
        return
    for option in schema.get("anyOf", []):
        yield from _leaves(components, option, path, owner)
    kind = schema.get("type")
    if kind is None or kind == "null":
        return
    values = _map_values(schema)
    mapping = kind == "object" and values is not None
    if path:
        kind = "map" if mapping else kind
        yield Leaf(path, kind, (owner[0], path[owner[1] :], kind))
    if kind == "array":
        yield from _leaves(components, schema.get("items", {}), (*path, 0), owner)
    elif kind in ("object", "map"):
        for name, sub in schema.get("properties", {}).items():
            yield from _leaves(components, sub, (*path, name), owner)
        if values is not None:
            yield from _leaves(components, values, (*path, "key"), owner)


def _map_values(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of the values of an object of any keys (a dict), else None."""
    if isinstance(schema.get("additionalProperties"), dict):
        return dict(schema["additionalProperties"])
    patterns = list(schema.get("patternProperties", {}).values())
    return dict(patterns[0]) if patterns else None


def _put(document: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``document`` with ``value`` at ``path`` (missing or differently shaped
    containers on the way are made)."""
    if not path:
        return value
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        items = list(document) if isinstance(document, list) and document else [None]
        items[0] = _put(items[0], rest, value)
        return items
    mapping = dict(document) if isinstance(document, dict) else {}
    mapping[step] = _put(mapping.get(step), rest, value)
    return mapping


def _bad_values(leaf: Leaf, index: int) -> list[Any]:
    if leaf.kind == "string":
        return _bad_strings(index)
    return WRONG[leaf.kind]


# --- the running app and its database ------------------------------------------------


@dataclass
class Target:
    app: FastAPI
    client: httpx.AsyncClient
    user: dict[str, str]
    key: dict[str, str]
    ids: dict[str, str]
    """An id for each path parameter name: real ones, so that a bad query parameter of
    an experiment reaches its handler."""
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    refused: dict[int, int] = field(default_factory=dict)

    async def table_counts(self) -> dict[str, int]:
        """The row count of every table, in one query."""
        tables = Base.metadata.sorted_tables
        query = select(
            *[select(func.count()).select_from(table).scalar_subquery() for table in tables]
        )
        async with app_runtime(self.app).session_factory() as session:
            row = (await session.execute(query)).one()
        return {table.name: count for table, count in zip(tables, row, strict=True)}

    async def send(
        self, method: str, url: str, *, auth: dict[str, str], content: bytes | None = None
    ) -> None:
        """Send one bad request; it must be refused and store nothing."""
        await self.app.state.rate_limiter.reset()
        headers = {**auth, "Content-Type": "application/json"} if content is not None else auth
        response = await self.client.request(method, url, content=content, headers=headers)
        shown = f"{method} {url[:200]} {(content or b'')[:300]!r}"
        assert response.status_code < 500, f"{shown}: {response.status_code} {response.text}"
        assert 400 <= response.status_code < 500, f"{shown}: accepted ({response.status_code})"
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), shown
        after = await self.table_counts()
        assert after == self.counts, f"{shown}: stored something"
        self.requests += 1
        self.refused[response.status_code] = self.refused.get(response.status_code, 0) + 1


def _url(operation: Operation, ids: dict[str, str], bad: tuple[str, str] | None = None) -> str:
    path = operation.path
    query: dict[str, str] = {}
    for parameter in operation.parameters:
        name = parameter["name"]
        value = bad[1] if bad and bad[0] == name else None
        if parameter["in"] == "path":
            path = path.replace(
                "{" + name + "}",
                urllib.parse.quote(value if value is not None else ids[name], safe=""),
            )
        elif parameter["in"] == "query" and value is not None:
            query[name] = value
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


async def _seed(app: FastAPI, client: httpx.AsyncClient) -> Target:
    """A team workspace (so that invitations and members can be managed) with an owner,
    an admin, a pending invitation, an API key, a finished experiment and a brand
    profile: real ids, and a base document of each body that its operation accepts."""
    team = await create_team(client, ["admin"])
    owner = team.as_["owner"]
    key = await api_key(client, owner, ["read", "write"])
    brands = {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]}
    created = await client.post(
        "/v1/experiments",
        json={"prompt": "best CRM?", "brands": brands, "providers": ["demo"], "iterations": 4},
        headers=owner,
    )
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, owner)
    tracker = await client.post(
        "/v1/trackers",
        json={
            "name": "CRM",
            "prompts": [{"prompt": "best CRM?"}],
            "brands": brands,
            "providers": ["demo"],
            "iterations": 2,
        },
        headers=owner,
    )
    assert tracker.status_code == 202, tracker.text
    for tracked in tracker.json()["experiment_ids"]:
        await wait_finished(client, tracked, owner)
    profile = await client.post("/v1/brands", json={"brand": {"name": "HubSpot"}}, headers=owner)
    assert profile.status_code == 201, profile.text
    rule = await client.post("/v1/alerts/rules", json={"name": "Any change"}, headers=owner)
    assert rule.status_code == 201, rule.text
    pending = await invite(client, owner, "carol@example.com", "member")
    keys = (await client.get("/v1/api-keys", headers=owner)).json()
    ids = {
        "experiment_id": experiment_id,
        "other_id": experiment_id,
        "tracker_id": tracker.json()["tracker"]["id"],
        "profile_id": profile.json()["id"],
        "rule_id": rule.json()["id"],
        "invitation_id": pending["id"],
        "key_id": keys[0]["id"],
        "user_id": team.ids["admin"],
        "fmt": "csv",
        "vendor": "openai",
        # No export or session of that id: the operations' parameters are fuzzed, then 404.
        "export_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
    }
    target = Target(app=app, client=client, user=owner, key=key, ids=ids)
    target.counts = await target.table_counts()
    return target


ACCEPTED = {
    "POST /auth/register": 201,
    "POST /v1/api-keys": 201,
    "POST /v1/workspaces": 201,
    "POST /v1/invitations": 201,
    "PATCH /v1/members/{user_id}": 200,
    "POST /v1/brands": 201,
    "PUT /v1/brands/{profile_id}": 200,
    "POST /v1/experiments": 202,
    "POST /v1/experiments/{experiment_id}/rescore": 200,
    "PUT /v1/experiments/{experiment_id}/schedule": 200,
}
"""Operations that store their base document as it is (with the owner's token): so the
refusals above were the bad values' doing, not something else wrong with the request."""


@pytest.mark.long
@pytest.mark.usefixtures("backend")
async def test_every_operation_refuses_bad_values_and_stores_nothing(
    started_app: FastAPI, client: httpx.AsyncClient
) -> None:
    target = await _seed(started_app, client)
    operations = _operations(started_app.openapi())
    assert len(operations) > 25
    fuzzed: set[tuple[Any, ...]] = set()
    for number, operation in enumerate(operations):
        await _fuzz_parameters(target, operation, number)
        if operation.body is not None:
            await _fuzz_body(target, operation, number, fuzzed)
    assert target.requests > 600
    assert target.refused.get(422, 0) > target.requests * 0.8, target.refused

    by_name = {operation.name: operation for operation in operations}
    for name, status in ACCEPTED.items():
        operation = by_name[name]
        assert operation.body is not None
        await started_app.state.rate_limiter.reset()
        response = await client.request(
            operation.method,
            _url(operation, target.ids),
            json=BODY_BY_NAME[operation.body],
            headers=target.user,
        )
        assert response.status_code == status, f"{name}: {response.text}"


USER_ONLY = {"POST /v1/alerts/rules", "PUT /v1/alerts/rules/{rule_id}"}
"""Operations that refuse an API key (owners' and admins' only: a key's role is at most a
member's) before they read the body: fuzzed with the owner's token, so that their refusals
are the bad values' doing."""


def _credentials(target: Target, turn: int, operation: Operation | None = None) -> dict[str, str]:
    """The owner's token or the API key, by turns."""
    if operation is not None and operation.name in USER_ONLY:
        return target.user
    return target.key if turn % 2 else target.user


async def _fuzz_parameters(target: Target, operation: Operation, number: int) -> None:
    for parameter in operation.parameters:
        if parameter["in"] not in ("path", "query"):
            continue
        for value in PARAMETER_VALUES:
            if parameter["in"] == "query" and value in ("true", "-1") and _lax(parameter):
                continue  # a valid value of this parameter
            url = _url(operation, target.ids, (parameter["name"], value))
            await target.send(operation.method, url, auth=_credentials(target, number))


async def _fuzz_body(
    target: Target, operation: Operation, number: int, fuzzed: set[tuple[Any, ...]]
) -> None:
    assert operation.body is not None
    base = BODY_BY_NAME[operation.body]
    url = _url(operation, target.ids)
    for index, leaf in enumerate(operation.leaves):
        if leaf.field in fuzzed:
            continue
        fuzzed.add(leaf.field)
        for value in _bad_values(leaf, index):
            document = _put(copy.deepcopy(base), leaf.path, value)
            auth = _credentials(target, number + index, operation)
            await target.send(operation.method, url, auth=auth, content=_json(document))
    auth = _credentials(target, number, operation)
    for whole in WHOLE_BODIES:
        if whole is None and not operation.body_required:
            continue  # no body: valid where the body is optional
        await target.send(operation.method, url, auth=auth, content=_json(whole))
    await target.send(operation.method, url, auth=auth, content=b'{"broken": ')


def _lax(parameter: dict[str, Any]) -> bool:
    """A query parameter for which ``true`` or ``-1`` may be valid (a boolean, a number
    without a lower bound)."""
    schema = parameter.get("schema", {})
    kinds = {option.get("type") for option in [schema, *schema.get("anyOf", [])]}
    return "boolean" in kinds or ("integer" in kinds and "minimum" not in schema)


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def test_the_body_leaves_come_from_the_schema(app: FastAPI) -> None:
    """The walk reaches nested fields (so a new one is fuzzed without listing it)."""
    operations = {op.name: op for op in _operations(app.openapi())}
    leaves = {leaf.path: leaf.kind for leaf in operations["POST /v1/experiments"].leaves}
    assert leaves[("brands", "competitors", 0, "aliases", 0, "text")] == "string"
    assert leaves[("demo_probabilities",)] == "map"
    assert leaves[("demo_probabilities", "key")] == "number"
    assert leaves[("user_location", "city")] == "string"
    assert leaves[("iterations",)] == "integer"
