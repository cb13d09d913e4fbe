"""``echo-ai``: run experiments, look at results, manage the local database.

Building the command line (and ``--help``) imports only Typer and the types of the options:
each command imports the database, the runner and the SDKs it needs when it runs. The
``echo-ai --help`` start-up is measured by ``bench/bench_startup.py`` and kept free of the
heavy libraries by ``tests/cli/test_startup.py``.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from echo_ai.billing.plans import PlanName
from echo_ai.cli import account, alerts, costs, experiments, production, provider_keys, usage
from echo_ai.cli import outbox as outbox_cli
from echo_ai.cli import planning as planning_cli
from echo_ai.cli import retention as retention_cli
from echo_ai.cli import trackers as trackers_cli
from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from echo_ai.execution.runtime import Runtime

app = typer.Typer(
    name="echo-ai",
    help="Measure how often AI assistants mention a brand, with confidence intervals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(trackers_cli.app, name="trackers")
app.command("usage")(usage.usage)
app.add_typer(provider_keys.app, name="provider-keys")
app.add_typer(alerts.app, name="alerts")
app.add_typer(costs.budget_app, name="budget")
app.command("costs")(costs.costs)
app.add_typer(outbox_cli.app, name="outbox")
app.add_typer(retention_cli.app, name="retention")
app.add_typer(account.app, name="account")
app.command("plan")(planning_cli.plan)


@app.command()
@friendly_errors
def run(
    config: Annotated[
        Path | None, typer.Argument(help="An experiment file (TOML); flags override it.")
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="The question a customer would ask.")] = None,
    persona: Annotated[
        str | None,
        typer.Option(
            help='Who asks, sent before the prompt as a system message, e.g. "I run a '
            '10-person agency in Lyon."'
        ),
    ] = None,
    country: Annotated[
        str | None,
        typer.Option(
            help="Ask from this country (two-letter code, e.g. FR), through each vendor's "
            "location field for web search; with --region, --city, --timezone."
        ),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Ask from this region (see --country).")
    ] = None,
    city: Annotated[str | None, typer.Option(help="Ask from this city (see --country).")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="The asker's IANA time zone, e.g. Europe/Paris.")
    ] = None,
    brand: Annotated[
        str | None,
        typer.Option(help='The brand to track, e.g. "HubSpot" or "HubSpot=HubSpot CRM".'),
    ] = None,
    alias: Annotated[list[str], typer.Option(help="Another name of the brand (repeatable).")] = [],  # noqa: B006
    domain: Annotated[list[str], typer.Option(help="A web domain of the brand (repeatable).")] = [],  # noqa: B006
    competitor: Annotated[
        list[str], typer.Option(help='A competitor, "Name" or "Name=alias1,alias2" (repeatable).')
    ] = [],  # noqa: B006
    provider: Annotated[
        list[str],
        typer.Option(
            help="demo, openai:MODEL, anthropic:MODEL, perplexity:MODEL, gemini:MODEL, "
            "openai_compatible:MODEL (repeatable; default demo)."
        ),
    ] = [],  # noqa: B006
    iterations: Annotated[
        int | None,
        typer.Option(
            help="Answers to sample per provider (1-10000; default 50); with --precision, "
            "the most asked."
        ),
    ] = None,
    precision: Annotated[
        float | None,
        typer.Option(
            help="Adaptive sampling: ask each provider in rounds of 10 until the rate's 95% "
            "interval is at most ±this fraction (0.05 = ±5 points; at most 0.25).",
        ),
    ] = None,
    precision_metric: Annotated[
        str | None,
        typer.Option(
            help="The rate --precision applies to: visibility (default), top1, top3, citation_rate."
        ),
    ] = None,
    min_answers: Annotated[
        int | None,
        typer.Option(
            help="With --precision: complete answers asked before it may stop "
            "(at least 30, the default)."
        ),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default 1.0).")
    ] = None,
    grounding: Annotated[
        bool | None,
        typer.Option("--grounding/--no-grounding", help="Let the model search the web."),
    ] = None,
    require_grounding: Annotated[
        bool,
        typer.Option(help="Count an answer as failed when no web search happened."),
    ] = False,
    demo_probability: Annotated[
        list[str], typer.Option(help="Demo provider only: NAME=P, chance an answer mentions NAME.")
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    export_path: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Also write every iteration to this file: CSV, or JSON (.json) or JSON Lines "
            "(.jsonl).",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Run without asking when the estimate is above "
            "ECHO_AI_BILLING__CONFIRM_ABOVE_USD (needed when no terminal can answer).",
        ),
    ] = False,
) -> None:
    """Run an experiment now and print its metrics per provider.

    The cost estimate is printed first (on stderr); above ECHO_AI_BILLING__CONFIRM_ABOVE_USD
    (5 USD by default) the run asks for a confirmation, unless --yes."""
    from echo_ai import aio
    from echo_ai.cli import flows, options
    from echo_ai.config import get_settings
    from echo_ai.experiments import service as experiment_service
    from echo_ai.privacy.audit import Actor
    from echo_ai.workspaces.local import local_workspace

    data = options.experiment_input(
        config=config,
        prompt=prompt,
        persona=persona,
        brand=brand,
        aliases=alias,
        domains=domain,
        competitors=competitor,
        providers=provider,
        iterations=iterations,
        precision=precision,
        precision_metric=precision_metric,
        min_answers=min_answers,
        temperature=temperature,
        grounding=grounding,
        require_grounding=require_grounding,
        demo_probabilities=demo_probability,
        place={"country": country, "region": region, "city": city, "timezone": timezone},
    )
    if export_path is not None:
        options.check_writable(export_path)
    from echo_ai.analysis.statistics import temperature_warning
    from echo_ai.experiments.schemas import temperatures_used

    warning = temperature_warning(temperatures_used(data.providers, data.temperature))
    if warning is not None:
        typer.echo(f"warning: {warning}", err=True)

    async def queue(session: AsyncSession, runtime: Runtime) -> uuid.UUID:
        workspace = await local_workspace(session)
        queued = await experiment_service.queue(
            session, data, workspace_id=workspace.id, actor=Actor.cli(), runtime=runtime
        )
        return queued.experiment.id

    async def confirm(runtime: Runtime) -> None:
        await flows.confirm_estimate(runtime, data, yes=yes, interactive=sys.stdin.isatty())

    settings = get_settings()
    aio.run(
        flows.run_and_report(
            settings, queue, as_json=as_json, export_path=export_path, before=confirm
        )
    )


@app.command()
@friendly_errors
def providers() -> None:
    """Which providers are configured, their default models, and which keys are missing."""
    from rich.console import Console
    from rich.table import Table

    from echo_ai.config import get_settings
    from echo_ai.providers.registry import vendor_statuses

    table = Table(title="providers", title_justify="left")
    for column in ("provider", "default model", "status", "base URL", "web search"):
        table.add_column(column)
    for vendor in vendor_statuses(get_settings()):
        if vendor.synthetic:
            status = "ready (offline, synthetic)"
        else:
            status = "ready" if vendor.ready else f"missing {vendor.missing}"
        table.add_row(
            vendor.vendor,
            vendor.info.default_model,
            status,
            vendor.base_url or "vendor default",
            "yes" if vendor.info.supports_grounding else "no",
        )
    Console().print(table)


@app.command("migrate")
@friendly_errors
def migrate_command(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    downgrade: Annotated[
        str | None,
        typer.Option(
            help="Go back to this revision instead (e.g. -1 for one step); drops the "
            "later revisions' tables and columns with their data."
        ),
    ] = None,
) -> None:
    """Apply database migrations (DATABASE_URL, or the embedded SQLite file)."""
    from echo_ai import aio, migrate
    from echo_ai.config import get_settings
    from echo_ai.db import create_engine
    from echo_ai.runs import service as run_service

    async def go() -> None:
        engine = create_engine(get_settings())
        try:
            if downgrade is not None:
                await migrate.downgrade(engine, downgrade)
            else:
                await migrate.upgrade(engine, revision, then=run_service.fill_round_metrics)
        finally:
            await engine.dispose()

    aio.run(go())
    if downgrade is not None:
        print(f"database downgraded to {downgrade}", file=sys.stderr)
    else:
        print(f"database migrated to {revision}", file=sys.stderr)


@app.command("workspace-plan")
@friendly_errors
def workspace_plan(
    workspace_id: Annotated[uuid.UUID, typer.Argument(help="The workspace's id.")],
    plan: Annotated[PlanName, typer.Argument(help="The plan to put it on.")],
) -> None:
    """Put a workspace on a plan (its API rate limit follows the plan). With Stripe billing
    on, the workspace's next subscription event from Stripe sets its plan again."""
    from echo_ai.billing.plans import api_requests_per_minute
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor
    from echo_ai.workspaces import service as workspaces

    settings = get_settings()

    async def go(runtime: Runtime) -> None:
        async with transaction(runtime.session_factory) as session:
            await workspaces.set_plan(session, workspace_id, plan, actor=Actor.cli())

    flows.in_runtime(settings, go)
    limit = api_requests_per_minute(plan, settings)
    print(f"workspace {workspace_id} is on the {plan} plan ({limit} API requests/minute)")
    if settings.billing.stripe_enabled:
        print(
            "warning: Stripe billing is on: the workspace's next subscription event from "
            "Stripe sets its plan again, overwriting this one (docs/billing.md)",
            file=sys.stderr,
        )


RoleName = Literal["owner", "admin", "member", "viewer"]
"""The values of ``workspaces.models.Role``, spelled here so that building the command line
does not import the models; ``tests/cli/test_startup.py`` keeps them equal."""


@app.command("local-workspace")
@friendly_errors
def local_workspace_grant(
    email: Annotated[str, typer.Argument(help="The email of a registered account.")],
    role: Annotated[RoleName, typer.Option(help="Their role in the local workspace.")] = "owner",
) -> None:
    """Let an account see (and, by role, manage) the experiments run from this command line:
    they belong to the database's local workspace, which this makes the account a member of
    (pick it with X-Workspace-ID in the API)."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction, utcnow
    from echo_ai.privacy.audit import Actor
    from echo_ai.workspaces import quotas
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID, grant
    from echo_ai.workspaces.models import Role

    settings = get_settings()

    async def admit(session: AsyncSession, workspace_id: uuid.UUID) -> None:
        """The local plan's ``members`` (``ECHO_AI_BILLING__LOCAL__MEMBERS``)."""
        await quotas.admit_member(
            session, workspace_id, settings=settings, now=utcnow(), accepting=True
        )

    async def go(runtime: Runtime) -> None:
        async with transaction(runtime.session_factory) as session:
            await grant(session, email, role=Role(role), actor=Actor.cli(), admit=admit)

    flows.in_runtime(settings, go)
    print(f"{email} is now {role} of the local workspace {LOCAL_WORKSPACE_ID}")


@app.command("fake-llm")
@friendly_errors
def fake_llm(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8900,
    latency_ms: Annotated[float, typer.Option(min=0, help="Delay before each answer.")] = 0.0,
    error_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of 5xx answers.")] = 0.0,
    rate_limit_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of 429s (with Retry-After).")
    ] = 0.0,
    retry_after: Annotated[
        float, typer.Option(min=0, help="Seconds the 429s ask clients to wait.")
    ] = 1.0,
    malformed_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of 200s with a broken body.")
    ] = 0.0,
    hang_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests that stall (timeouts).")
    ] = 0.0,
    brand_probability: Annotated[
        list[str],
        typer.Option(
            help="NAME=P: chance an answer mentions NAME (repeatable; default: six CRM brands)."
        ),
    ] = [],  # noqa: B006
    seed: Annotated[int, typer.Option(help="Seed of the synthetic answers.")] = 0,
) -> None:
    """Serve the OpenAI, Anthropic, Perplexity and Gemini wire formats locally, for testing.

    Point an adapter at it, e.g. OPENAI_BASE_URL=http://127.0.0.1:8900/v1 OPENAI_API_KEY=test.
    Its answers are synthetic.
    """
    from echo_ai.cli import options
    from echo_ai.testing.fake_llm import FakeLLMConfig, main

    config = FakeLLMConfig(
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit_rate=rate_limit_rate,
        retry_after_seconds=retry_after,
        malformed_rate=malformed_rate,
        hang_rate=hang_rate,
        seed=seed,
    )
    if brand_probability:
        config.brands = [options.parse_probability(text) for text in brand_probability]
    print(f"fake LLM server (synthetic answers) on http://127.0.0.1:{port}", file=sys.stderr)
    main("127.0.0.1", port, config)


@app.command()
@friendly_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8000).")] = None,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind a proxy)."
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies whose forwarded headers are trusted.")
    ] = "127.0.0.1",
) -> None:
    """Start the web service (dashboard, JSON API and its docs) on the embedded database."""
    import uvicorn

    from echo_ai.app import create_app
    from echo_ai.config import get_settings
    from echo_ai.observability import configure_logging
    from echo_ai.security.keys import load_key_ring

    settings = get_settings()
    host = host or settings.server.host
    port = port or settings.server.port
    settings.server.host, settings.server.port = host, port  # links in mails, without public_url
    load_key_ring(settings)  # a weak secret key: one clear line, before anything starts
    configure_logging(settings)
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"Echo AI listening on {base}", file=sys.stderr)
    print(f"Dashboard at {base}/ (sign up at {base}/signup)", file=sys.stderr)
    print(f"API docs at {base}/docs (OpenAPI schema at {base}/openapi.json)", file=sys.stderr)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        server_header=False,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        log_config=None,  # our structured logging (configured above) for uvicorn's lines too
    )


production.register(app)
