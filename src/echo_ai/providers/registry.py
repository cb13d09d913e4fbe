"""Provider specs (``openai:gpt-4o-mini``) and building the adapter a spec names.

Experiments, the CLI and settings all name providers as ``vendor[:model]`` strings; this
module is the single place that knows which vendors exist, their default models, which
environment variables hold their keys, and how to construct each adapter.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from echo_ai.config import Settings
from echo_ai.providers.base import Provider, ProviderNotConfigured
from echo_ai.providers.demo import MODEL_VERSION as DEMO_MODEL
from echo_ai.providers.demo import DemoProvider
from echo_ai.providers.redirects import RedirectResolver, process_cache
from echo_ai.providers.synthetic import DEMO_UNTRACKED


@dataclass(frozen=True, slots=True)
class VendorInfo:
    default_model: str | None
    """``None`` when no sensible default exists and the spec must name a model."""
    api_key_env: tuple[str, ...]
    """Environment variables holding the key, first match wins."""
    base_url_env: str
    needs_key: bool
    needs_base_url: bool
    supports_grounding: bool


VENDORS: dict[str, VendorInfo] = {
    "openai": VendorInfo("gpt-4o-mini", ("OPENAI_API_KEY",), "OPENAI_BASE_URL", True, False, True),
    "anthropic": VendorInfo(
        "claude-sonnet-4-6", ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL", True, False, True
    ),
    "perplexity": VendorInfo(
        "sonar", ("PERPLEXITY_API_KEY",), "PERPLEXITY_BASE_URL", True, False, True
    ),
    "gemini": VendorInfo(
        "gemini-2.5-flash",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        "GEMINI_BASE_URL",
        True,
        False,
        True,
    ),
    "openai_compatible": VendorInfo(
        None,
        ("OPENAI_COMPATIBLE_API_KEY",),
        "OPENAI_COMPATIBLE_BASE_URL",
        False,
        True,
        False,
    ),
    "demo": VendorInfo(DEMO_MODEL, (), "", False, False, True),
}


MAX_MODEL_LENGTH = 200
"""Longest model name (the ``batch_runs.model`` column); vendors' names are under 100."""
MAX_SPEC_LENGTH = max(map(len, VENDORS)) + 1 + MAX_MODEL_LENGTH
"""Longest ``vendor:model`` text."""

_MODEL_NAME = re.compile(r"[A-Za-z0-9@][A-Za-z0-9._:@-]*(/[A-Za-z0-9@][A-Za-z0-9._:@-]*)*")
"""Vendors' model names: letters, digits, ``.``, ``_``, ``-``, ``:`` and ``@``
(``gpt-4o-mini-search-preview``, ``claude-3-5-sonnet@20240620``, ``llama3.1:8b``), in
path segments separated by ``/`` (``accounts/fireworks/models/llama-v3p1-8b-instruct``,
``@cf/meta/llama-3.1-8b-instruct``). A segment starts with a letter, a digit or ``@``, so
there is no leading, trailing or doubled ``/`` and no ``.`` or ``..`` segment."""


def _check_model_name(model: str) -> str:
    """``model`` if it is a plausible model name (see ``_MODEL_NAME``), else ValueError.
    Names go to vendors' URLs and paths (Gemini puts it in the request path): nothing
    that could walk a path, no spaces, no control characters."""
    if len(model) > MAX_MODEL_LENGTH:
        raise ValueError(f"the model name is longer than {MAX_MODEL_LENGTH} characters")
    if not _MODEL_NAME.fullmatch(model) or ".." in model:
        raise ValueError(
            "a model name is made of letters, digits and . _ - : @, in segments "
            "separated by / (e.g. gpt-4o-mini, accounts/fireworks/models/...)"
        )
    return model


@dataclass(frozen=True)
class ProviderSpec:
    vendor: str
    model: str

    @classmethod
    def parse(cls, text: str) -> ProviderSpec:
        """``vendor`` or ``vendor:model``; the model may itself contain ``:`` or ``/``
        (ValueError for an unknown vendor or a model name outside vendors' character set:
        the API, the command line and experiment files all come through here)."""
        if len(text) > MAX_SPEC_LENGTH:
            raise ValueError(f"a provider is at most {MAX_SPEC_LENGTH} characters")
        vendor, sep, model = text.strip().partition(":")
        vendor = vendor.strip().lower()
        info = VENDORS.get(vendor)
        if info is None:
            known = ", ".join(sorted(VENDORS))
            raise ValueError(f"unknown provider {vendor!r} in {text!r}; known: {known}")
        model = model.strip()
        if sep and not model:
            raise ValueError(f"empty model in provider spec {text!r}; use {vendor}:<model>")
        if not model:
            if info.default_model is None:
                raise ValueError(f"provider {vendor!r} needs a model: {vendor}:<model>")
            model = info.default_model
        return cls(vendor=vendor, model=_check_model_name(model))

    def __str__(self) -> str:
        return f"{self.vendor}:{self.model}"


_ADAPTERS: dict[str, str] = {
    "openai": "echo_ai.providers.openai:OpenAIProvider",
    "anthropic": "echo_ai.providers.anthropic:AnthropicProvider",
    "perplexity": "echo_ai.providers.perplexity:PerplexityProvider",
    "gemini": "echo_ai.providers.gemini:GeminiProvider",
    "openai_compatible": "echo_ai.providers.openai_compatible:OpenAICompatibleProvider",
}
"""Imported when first used: the vendor SDKs take seconds to import, and a demo run or a
service start should not pay for the ones it does not use."""


def _adapter(vendor: str) -> Callable[..., Provider]:
    module, _, name = _ADAPTERS[vendor].partition(":")
    adapter: Callable[..., Provider] = getattr(importlib.import_module(module), name)
    return adapter


def credentials(settings: Settings, vendor: str) -> tuple[str | None, str | None]:
    """(API key, base URL) of a vendor in the settings (from the environment, where
    ``*_FILE`` variants count)."""
    info = VENDORS[vendor]
    found = settings.vendor_environment
    api_key = next((found[name] for name in info.api_key_env if name in found), None)
    return api_key, found.get(info.base_url_env) if info.base_url_env else None


@dataclass(frozen=True, slots=True)
class VendorStatus:
    """Whether a vendor can be used with the settings, and what is missing if not."""

    vendor: str
    info: VendorInfo
    missing: str | None
    """The variable(s) to set (``OPENAI_API_KEY``, ``GEMINI_API_KEY or GOOGLE_API_KEY``),
    ``None`` when the vendor is ready."""
    base_url: str | None

    @property
    def ready(self) -> bool:
        return self.missing is None

    @property
    def synthetic(self) -> bool:
        """The offline demo provider: made-up answers, always available."""
        return self.vendor == "demo"


def vendor_statuses(settings: Settings) -> list[VendorStatus]:
    """Every vendor with what it lacks in ``settings``, by the rule runs are refused with
    (:func:`require_settings`): what ``echo-ai providers`` and the new-experiment form show."""
    statuses: list[VendorStatus] = []
    for vendor, info in VENDORS.items():
        api_key, base_url = credentials(settings, vendor)
        missing: str | None = None
        if info.needs_base_url and not base_url:
            missing = info.base_url_env
        elif info.needs_key and not api_key:
            missing = " or ".join(info.api_key_env)
        statuses.append(VendorStatus(vendor, info, missing, base_url))
    return statuses


def require_settings(spec: ProviderSpec, *, api_key: str | None, base_url: str | None) -> None:
    """:class:`ProviderNotConfigured`, naming the variable to set, if ``spec`` lacks one."""
    info = VENDORS[spec.vendor]
    if info.needs_base_url and not base_url:
        raise ProviderNotConfigured(f"{info.base_url_env} is not set (needed for {spec})")
    if info.needs_key and not api_key:
        names = " or ".join(info.api_key_env)
        raise ProviderNotConfigured(f"{names} is not set (needed for {spec})")


def redirect_resolver(settings: Settings) -> RedirectResolver | None:
    """The grounding-redirect resolver the settings ask for (None: resolving is off)."""
    runner = settings.runner
    if not runner.resolve_redirects:
        return None
    return RedirectResolver(
        timeout_seconds=runner.redirect_timeout_seconds,
        cache=process_cache(runner.redirect_cache_size),
    )


def build_provider(
    spec: ProviderSpec,
    *,
    api_key: str | None,
    base_url: str | None,
    timeout_seconds: float,
    demo_brands: Sequence[tuple[str, float]] | None = None,
    demo_seed: int = 0,
    redirects: RedirectResolver | None = None,
) -> Provider:
    """The adapter for ``spec``; :class:`ProviderNotConfigured` names the missing setting.

    ``redirects`` is used by the Gemini adapter only (see :func:`redirect_resolver`)."""
    if spec.vendor not in VENDORS:
        raise ValueError(f"unknown provider {spec.vendor!r}")
    require_settings(spec, api_key=api_key, base_url=base_url)
    if spec.vendor == "demo":
        return DemoProvider(demo_brands, seed=demo_seed, untracked=DEMO_UNTRACKED)
    if spec.vendor == "openai_compatible":
        assert base_url is not None  # checked by require_settings
        return _adapter(spec.vendor)(
            base_url=base_url, api_key=api_key, timeout_seconds=timeout_seconds
        )
    assert api_key is not None  # checked by require_settings
    extra = {"redirects": redirects} if spec.vendor == "gemini" and redirects else {}
    return _adapter(spec.vendor)(
        api_key=api_key, base_url=base_url, timeout_seconds=timeout_seconds, **extra
    )
