"""What users are told when a batch stops: every fatal provider error has a code of the
catalogue, and an error without one still gets a sentence of ours, never a crash."""

from __future__ import annotations

import pytest

from echo_ai.execution.runner import FATAL_ERRORS, provider_failure
from echo_ai.failures import SENTENCES, Failure, FailureCode
from echo_ai.providers.base import ProviderError


@pytest.mark.parametrize("error_type", FATAL_ERRORS)
def test_every_error_that_stops_a_batch_has_a_code_of_its_own(
    error_type: type[ProviderError],
) -> None:
    failure = provider_failure(error_type("Incorrect API key provided."))
    assert failure.code == error_type.code
    assert failure.message.startswith(SENTENCES[failure.code])


def test_a_provider_code_outside_the_catalogue_is_a_refusal_with_the_vendors_words() -> None:
    failure = Failure.from_provider("content_policy", "The prompt was refused.")
    assert failure.code is FailureCode.BAD_REQUEST
    assert failure.message.endswith('The provider said: "The prompt was refused."')


def test_a_long_vendor_message_is_cut_and_whitespace_folded() -> None:
    failure = Failure.from_provider("bad_request", "line\n" + "x" * 1_000)
    detail = failure.message.removeprefix(SENTENCES[FailureCode.BAD_REQUEST] + " ")
    assert "\n" not in detail and len(detail) == 300 and detail.endswith("…")
