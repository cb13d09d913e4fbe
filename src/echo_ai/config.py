"""Settings, read from the environment and validated at start.

Our own settings use the ``ECHO_AI_`` prefix with ``__`` between groups
(``ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER=32``) and may also be written in a ``.env``
file in the working directory. ``DATABASE_URL`` is read as it is. Vendor keys and base
URLs (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``... see :mod:`echo_ai.providers.registry`)
come from the environment only, each key also from a file named by ``*_FILE``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "echo-ai"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class DatabaseSettings(BaseModel):
    """The connection pool of requests and use cases, on PostgreSQL and SQLite alike (the
    in-process worker has its own, sized to what it runs at once: see
    :func:`echo_ai.execution.runtime.open_runtime`)."""

    pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    max_overflow: Annotated[int, Field(ge=0, le=200)] = 20
    pool_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    pool_recycle_seconds: Annotated[int, Field(ge=-1)] = 1800
    pool_pre_ping: bool = True
    echo: bool = False


class RunnerSettings(BaseModel):
    concurrency_per_provider: Annotated[int, Field(ge=1, le=1000)] = 16
    """Calls in flight at once to one provider, across all batches of this process."""
    requests_per_minute: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    """Optional cap on calls per minute to one provider/model."""
    chunk_size: Annotated[int, Field(ge=1, le=10_000)] = 50
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    output_tokens: dict[str, Annotated[int, Field(ge=16, le=200_000)]] = {}
    """Output limits by ``vendor:family`` or ``vendor`` (``{"openai:gpt-5": 32000}``),
    over the model-capabilities table (:mod:`echo_ai.providers.capabilities`)."""
    resolve_redirects: bool = False
    """Ask where a Gemini grounding redirect leads when its site is otherwise unknown
    (:mod:`echo_ai.providers.redirects`; docs/providers.md)."""
    redirect_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 3.0
    redirect_cache_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    """Redirect links remembered per process (least recently used forgotten first)."""


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    public_url: str | None = None
    """Where users reach the service, e.g. ``https://echo.example.com``; HTTPS turns on
    HSTS and ``__Host-`` cookies."""
    allowed_origins: list[str] = []
    """Origins allowed for CORS and for cookie-authenticated writes (besides our own)."""
    max_body_bytes: Annotated[int, Field(ge=1_024, le=50_000_000)] = 1_000_000
    workspace_requests_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] = 600
    """API calls a workspace may make per minute (all its users and keys together)."""

    @property
    def https(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https://"))


class WorkerSettings(BaseModel):
    """The Celery executor of production mode (``ECHO_AI_EXECUTOR=celery``)."""

    concurrency: Annotated[int | None, Field(ge=1, le=512)] = None
    """Worker processes per ``echo-ai worker``; default: the machine's CPU count."""
    autoscale: Annotated[str | None, Field(pattern=r"^\d+,\d+$")] = None
    """``MAX,MIN`` processes, grown and shrunk with the load (overrides concurrency)."""
    chunk_soft_time_limit_seconds: Annotated[int, Field(ge=10, le=86_400)] = 1_800
    """A chunk still running after this is interrupted and retried."""
    chunk_time_limit_seconds: Annotated[int, Field(ge=10, le=86_400)] = 1_900
    """A chunk still running after this is killed with its process; the scheduler then
    dispatches its batch again once it counts as stalled."""
    visibility_timeout_seconds: Annotated[int, Field(ge=10, le=604_800)] = 3_600
    """An unacknowledged chunk is re-delivered after this: longer than the longest chunk."""
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    """Retries, with exponential back-off, of a chunk that raised (e.g. the database was
    unreachable); then its batch fails with the reason. The in-process executor uses it
    too, for a chunk that met a busy database (any other error fails the batch at once)."""
    max_deliveries: Annotated[int, Field(ge=1, le=100)] = 5
    """Deliveries of one chunk that killed its worker before it is given up (batch failed)."""
    beat_interval_seconds: Annotated[float, Field(ge=0.5, le=3_600)] = 60.0
    """How often ``echo-ai beat`` dispatches due schedules and recovers stalled batches."""
    stalled_after_seconds: Annotated[int, Field(ge=10, le=86_400)] = 600
    """A queued or running batch with no sign of life for this long, and none of whose
    chunks waits in the broker, is dispatched again (its stored iterations are kept; only
    missing ones run). At least ``lease_seconds``: a batch someone runs is never stalled."""
    lease_seconds: Annotated[int, Field(ge=2, le=3_600)] = 60
    """A process running a batch holds its lease and renews it every quarter of this; a
    lease not renewed for this long has lapsed (its holder is gone). A resume is refused
    while another process holds the lease of a batch it would reopen."""

    @model_validator(mode="after")
    def _limits_in_order(self) -> WorkerSettings:
        if not (
            self.chunk_soft_time_limit_seconds
            < self.chunk_time_limit_seconds
            < self.visibility_timeout_seconds
        ):
            raise ValueError(
                "need chunk_soft_time_limit_seconds < chunk_time_limit_seconds < "
                "visibility_timeout_seconds (a chunk must end before it is re-delivered)"
            )
        if self.stalled_after_seconds < self.lease_seconds:
            raise ValueError(
                "need lease_seconds <= stalled_after_seconds (a batch whose lease is held "
                "must not count as stalled)"
            )
        return self


class ObservabilitySettings(BaseModel):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    metrics_token: str | None = Field(default=None, repr=False)
    """Bearer token that ``GET /metrics`` requires; without one (and without a separate
    metrics port) ``/metrics`` is not served."""
    metrics_port: Annotated[int | None, Field(ge=1, le=65535)] = None
    """Serve Prometheus metrics on this port (on ``metrics_host``) instead of the API."""
    metrics_host: str = "127.0.0.1"
    sentry_dsn: str | None = Field(default=None, repr=False)
    otlp_endpoint: str | None = None
    """OpenTelemetry traces are exported over OTLP/HTTP here when set."""
    service_name: str = "echo-ai"


class PlanLimits(BaseModel):
    """Figures that replace a plan's own where set (see :mod:`echo_ai.billing.plans`);
    ``0`` is not a figure: leave a field unset to keep the plan's."""

    iterations_per_month: Annotated[int | None, Field(ge=1)] = None
    """Iterations a workspace may store per calendar month (UTC), over all experiments."""
    max_iterations_per_experiment: Annotated[int | None, Field(ge=1)] = None
    """Iterations one run of an experiment may ask for: iterations x providers."""
    max_iterations_in_flight: Annotated[int | None, Field(ge=1)] = None
    """Iterations a workspace may have queued or running at once."""
    scheduled_experiments: Annotated[int | None, Field(ge=1)] = None
    """Experiments of a workspace with a schedule (paused ones included)."""
    members: Annotated[int | None, Field(ge=1)] = None
    """Members of a workspace, pending invitations included."""
    api_requests_per_minute: Annotated[int | None, Field(ge=1)] = None
    """API calls per minute for the whole workspace."""
    providers: list[str] | None = None
    """Vendors the plan may ask (``["demo", "openai"]``); unset: the plan's own list."""
    retention_days: Annotated[int | None, Field(ge=1)] = None
    """Days raw answers are kept (applied by the retention task of the privacy work)."""


class BillingSettings(BaseModel):
    """Plans, Stripe and spend control (docs/billing.md).

    Overrides of what each plan allows, e.g.
    ``ECHO_AI_BILLING__FREE__MAX_ITERATIONS_PER_EXPERIMENT=20000``; ``local`` is the
    command line's workspace, which is not limited unless a figure is set here. Without
    ``stripe_secret_key`` billing is off and operators set plans with
    ``echo-ai workspace-plan``."""

    free: PlanLimits = PlanLimits()
    team: PlanLimits = PlanLimits()
    business: PlanLimits = PlanLimits()
    self_hosted: PlanLimits = PlanLimits()
    local: PlanLimits = PlanLimits()
    default_plan: Literal["free", "team", "business", "self_hosted"] = "free"
    """The plan of new workspaces (``self_hosted`` for an operator's own service)."""
    stripe_secret_key: str | None = Field(default=None, repr=False)
    """``sk_live_...``/``sk_test_...``; also from ``ECHO_AI_BILLING__STRIPE_SECRET_KEY_FILE``
    (see :func:`read_secret`). Billing is on when it and the webhook secret are set."""
    stripe_webhook_secret: str | None = Field(default=None, repr=False)
    """``whsec_...``: the signing secret of the webhook endpoint."""
    stripe_api_base: str | None = None
    """Where the Stripe SDK sends its requests (tests point it at a local server)."""
    stripe_prices: dict[str, str] = {}
    """Plan name -> Stripe price id of its subscription, e.g. ``{"team": "price_..."}``."""
    webhook_tolerance_seconds: Annotated[int, Field(ge=1, le=3_600)] = 300
    """How old a signed webhook may be (Stripe's own default)."""
    grace_days: Annotated[int, Field(ge=0, le=60)] = 7
    """Days a workspace whose payment failed keeps its plan before it is moved to free."""
    budget_alert_share: Annotated[float, Field(gt=0, lt=1)] = 0.8
    """Share of the monthly budget at which owners are warned (once per month)."""
    confirm_above_usd: Annotated[float, Field(ge=0)] = 5.0
    """``echo-ai run`` asks for confirmation when the estimate is above this (``--yes``)."""
    allow_private_base_urls: bool = False
    """Let workspaces point an OpenAI-compatible provider at loopback, link-local and private
    addresses (a self-hosted model on the operator's network)."""

    @property
    def stripe_enabled(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)

    @model_validator(mode="after")
    def _secrets_from_files(self) -> BillingSettings:
        if self.stripe_secret_key is None:
            self.stripe_secret_key = read_secret("ECHO_AI_BILLING__STRIPE_SECRET_KEY")
        if self.stripe_webhook_secret is None:
            self.stripe_webhook_secret = read_secret("ECHO_AI_BILLING__STRIPE_WEBHOOK_SECRET")
        return self


class AuthSettings(BaseModel):
    access_token_minutes: Annotated[int, Field(ge=1, le=60)] = 15
    refresh_token_days: Annotated[int, Field(ge=1, le=365)] = 30
    invitation_days: Annotated[int, Field(ge=1, le=30)] = 7
    guesses_per_client: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    """Unknown credentials (API keys, tokens, invitation tokens) one address may send per
    10 minutes; past it, every request from it that carries a credential gets 429
    (see :mod:`echo_ai.security.guesses`)."""


class MailSettings(BaseModel):
    """Outgoing e-mail (``ECHO_AI_MAIL__*``). Without ``smtp_host`` mails are written to the
    outbox folder (``<data_dir>/outbox``, listed by ``echo-ai outbox``) instead of sent."""

    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    """Or ``ECHO_AI_MAIL__SMTP_PASSWORD_FILE`` (read by the sender)."""
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    """``starttls`` upgrades a plain connection (port 587), ``tls`` connects with TLS (port
    465), ``none`` sends in the clear (a local relay only)."""
    smtp_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    from_address: str = "Echo AI <no-reply@localhost>"
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    """Tries of one mail before it is given up (with a growing pause between them)."""

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host)


class AlertsSettings(BaseModel):
    """Alerts on significant change (``ECHO_AI_ALERTS__*``): their webhooks' delivery."""

    allow_private_webhook_urls: bool = False
    """Let webhook URLs reach loopback, private and link-local addresses (tests, a
    receiver on the same network); off: such a URL is refused (SSRF)."""
    webhook_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    webhook_max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    """Tries of one webhook delivery before it is given up."""
    webhook_first_retry_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """The pause after the first failed try; it doubles after each (at most 6 h), or is
    the receiver's ``Retry-After`` when that is longer."""


DocumentLink = Annotated[
    str,
    Field(
        max_length=2_000,
        pattern=r"^(https?://[^\s<>\"']+|/[^\s<>\"']*)$",
        description="An http(s) URL or a path on this site.",
    ),
]


class PrivacySettings(BaseModel):
    """Retention, consent and account-lifecycle settings (``ECHO_AI_PRIVACY__*``); the
    retention of raw answers per plan is :attr:`echo_ai.billing.plans.Plan.retention_days`
    (a workspace may shorten it), the others apply to every workspace."""

    answer_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 90
    """Raw answers and reasoning text: redacted in place after this many days, when the
    workspace's plan or its own setting says nothing shorter."""
    error_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 30
    """Error texts of failed calls (the error codes stay)."""
    audit_retention_days: Annotated[int, Field(ge=30, le=36_500)] = 730
    deleted_account_days: Annotated[int, Field(ge=0, le=365)] = 30
    """Data of deleted accounts (and the workspaces that went with them) is purged after."""
    mail_retention_days: Annotated[int, Field(ge=1, le=3_650)] = 30
    """Sent (or given-up) mails in the mail queue."""
    session_retention_days: Annotated[int, Field(ge=1, le=3_650)] = 30
    """Refresh tokens (sessions, with their IP address and browser) and e-mailed tokens:
    deleted this many days after they expired, were revoked or were used."""
    alert_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 365
    """Alerts fired (with their deliveries and delivery logs), and the record of which runs
    were evaluated: deleted this many days after they fired (were evaluated)."""
    alert_delivery_retention_days: Annotated[int, Field(ge=1, le=3_650)] = 90
    """Finished alert deliveries (sent, given up, mailed) with their logs (the target
    address or URL, status codes, error texts): deleted this many days after they finished;
    the alert stays."""
    retention_batch_rows: Annotated[int, Field(ge=100, le=100_000)] = 5_000
    """Rows changed per transaction by the retention task: each holds its locks briefly."""
    export_link_hours: Annotated[int, Field(ge=1, le=720)] = 24
    terms_version: str = "2026-11-27"
    privacy_version: str = "2026-11-27"
    """The versions a user accepts at sign-up; a newer one is asked for at the next sign-in."""
    terms_url: DocumentLink | None = None
    privacy_url: DocumentLink | None = None
    """Where the terms of service and the privacy policy of this server are published
    (``https://…`` or a path on this site): the sign-up and consent pages link to them."""
    verification_hours: Annotated[int, Field(ge=1, le=720)] = 48
    reset_minutes: Annotated[int, Field(ge=5, le=1_440)] = 30
    email_change_hours: Annotated[int, Field(ge=1, le=720)] = 24
    """How long the link confirming a new e-mail address (sent to that address) works."""


def read_secret(name: str) -> str | None:
    """``NAME`` from the environment, or the contents of the file named by ``NAME_FILE``."""
    value = os.environ.get(name)
    if value:
        return value.strip()
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except UnicodeDecodeError:
            raise ValueError(f"{name}_FILE: {path} is not a text file (UTF-8)") from None
    return None


def _vendor_environment() -> dict[str, str]:
    """The vendors' keys and base URLs from the environment (``*_API_KEY``, ``*_BASE_URL``
    and their ``*_FILE`` variants): which vendor uses which name is the provider registry's
    business; settings only carry the values."""
    found: dict[str, str] = {}
    for name in os.environ:
        base = name.removesuffix("_FILE")
        if base.endswith(("_API_KEY", "_BASE_URL")) and base not in found:
            value = read_secret(base)
            if value:
                found[base] = value
    return found


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ECHO_AI_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "ECHO_AI_DATABASE_URL")
    )
    environment: Literal["development", "production"] = "development"
    """``production`` refuses to generate a secret key: one must be configured."""
    database: DatabaseSettings = DatabaseSettings()
    runner: RunnerSettings = RunnerSettings()
    server: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    billing: BillingSettings = BillingSettings()
    mail: MailSettings = MailSettings()
    alerts: AlertsSettings = AlertsSettings()
    privacy: PrivacySettings = PrivacySettings()
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "ECHO_AI_REDIS_URL")
    )
    """Redis: Celery's broker, shared rate limits (API and outbound calls), readiness."""
    executor: Literal["local", "celery"] = "local"
    """``local`` runs batches in the API process; ``celery`` hands chunks to workers."""
    worker: WorkerSettings = WorkerSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    prices_file: Path | None = None
    """``ECHO_AI_PRICES_FILE``: a TOML file of prices that replace or add to the shipped
    price table (docs/metrics.md, "Cost"); read at start-up, which it stops if unusable."""
    vendor_environment: dict[str, str] = Field(default_factory=_vendor_environment, repr=False)
    """Vendor keys and base URLs by variable name (``OPENAI_API_KEY``...), read once."""

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("sqlite", "postgres")):
            raise ValueError(
                "DATABASE_URL must be a PostgreSQL (postgresql://...) or SQLite "
                "(sqlite:///path) URL"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://")):
            raise ValueError("REDIS_URL must be a redis:// or rediss:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.executor == "celery" and self.redis_url is None:
            raise ValueError("ECHO_AI_EXECUTOR=celery needs REDIS_URL (the Celery broker)")
        longest_call = self.runner.timeout_seconds * self.runner.max_attempts
        if self.executor == "celery" and self.worker.chunk_soft_time_limit_seconds <= longest_call:
            raise ValueError(
                "worker.chunk_soft_time_limit_seconds must exceed one call's timeout times "
                f"its attempts ({longest_call:.0f} s)"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: ``DATABASE_URL`` or the embedded SQLite file."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{self.data_dir / 'echo-ai.db'}"
        return normalise_database_url(self.database_url)


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgres://`` and ``postgresql://`` forms; use async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
