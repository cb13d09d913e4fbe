"""What users are told when work fails: a stable code and a sentence of ours.

A batch run that stops carries a :class:`Failure` (``BatchRun.error_code`` and
``BatchRun.error``), and the experiment's API, CLI and exports show exactly that, never
an exception's text: a repr, a SQL statement or a library's link means nothing to a user
and may say too much. The exception itself goes to the log, with the experiment, batch and
provider bound to the line (:mod:`echo_ai.observability.logs`), where an operator finds it.

Codes are stable (clients may branch on them); sentences may be reworded. A provider's
own refusal keeps the vendor's words after ours (``The provider refused the API key; fix
the key, then resume the experiment. The provider said: "Incorrect API key provided."``):
they tell the user what to fix. The codes of single failed iterations are the provider error codes
(:class:`echo_ai.providers.base.ProviderError` subclasses); a batch that a provider error
stopped takes that error's code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FailureCode(enum.StrEnum):
    """Why a batch run stopped (``BatchRun.error_code``)."""

    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    QUOTA_EXHAUSTED = "quota_exhausted"
    BAD_REQUEST = "bad_request"
    NOT_CONFIGURED = "not_configured"
    CREDENTIAL_UNUSABLE = "credential_unusable"
    ALL_ITERATIONS_FAILED = "all_iterations_failed"
    DATABASE_UNAVAILABLE = "database_unavailable"
    TIMED_OUT = "timed_out"
    WORKER_LOST = "worker_lost"
    INTERNAL_ERROR = "internal_error"
    CANCELLED = "cancelled"


SENTENCES: dict[FailureCode, str] = {
    FailureCode.AUTHENTICATION_FAILED: (
        "The provider refused the API key; fix the key, then resume the experiment."
    ),
    FailureCode.PERMISSION_DENIED: (
        "The provider's API key may not use this model; change the model or the key's access."
    ),
    FailureCode.QUOTA_EXHAUSTED: (
        "The provider account is out of credit or over its quota; top it up, then resume."
    ),
    FailureCode.BAD_REQUEST: "The provider refused the request as invalid.",
    FailureCode.NOT_CONFIGURED: "The provider is not configured on this server.",
    FailureCode.CREDENTIAL_UNUSABLE: (
        "The workspace's own key for this provider cannot be used; store it again "
        "(provider keys), then resume."
    ),
    FailureCode.ALL_ITERATIONS_FAILED: "Every iteration of this provider failed.",
    FailureCode.DATABASE_UNAVAILABLE: (
        "The database was unavailable for too long while the batch ran; resume the "
        "experiment to run what is missing."
    ),
    FailureCode.TIMED_OUT: (
        "Part of the batch ran longer than its time limit; resume the experiment to run "
        "what is missing."
    ),
    FailureCode.WORKER_LOST: (
        "The worker running part of the batch stopped each time (killed or out of memory)."
    ),
    FailureCode.INTERNAL_ERROR: (
        "The batch stopped on an internal error, which has been logged; resume the "
        "experiment to run what is missing."
    ),
    FailureCode.CANCELLED: "Cancelled by a user.",
}

MAX_DETAIL = 300
"""Characters of a vendor's message kept after our sentence."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A code of the catalogue and the sentence shown with it."""

    code: FailureCode
    message: str

    @classmethod
    def of(cls, code: FailureCode, detail: str | None = None) -> Failure:
        """The code's sentence, followed by ``detail`` (words of ours or of the vendor,
        never an exception's text) when there is one."""
        message = SENTENCES[code]
        if detail:
            detail = " ".join(detail.split())
            if len(detail) > MAX_DETAIL:
                detail = detail[: MAX_DETAIL - 1] + "…"
            message = f"{message} {detail}"
        return cls(code, message)

    @classmethod
    def from_provider(cls, code: str, message: str) -> Failure:
        """A batch stopped by a provider's refusal (``code`` of the provider error): our
        sentence, then the vendor's message, quoted (it says what to fix)."""
        try:
            failure_code = FailureCode(code)  # the codes of the errors that stop a batch
        except ValueError:  # a fatal provider error without a batch code of its own
            failure_code = FailureCode.BAD_REQUEST
        if failure_code in (FailureCode.NOT_CONFIGURED, FailureCode.CREDENTIAL_UNUSABLE):
            return cls.of(failure_code, message)  # our own words: what to set or store again
        return cls.of(failure_code, f'The provider said: "{message}"' if message else None)
