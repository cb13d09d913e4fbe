"""What a rule watches, the webhook's signature and payloads, and the retry rules, without
a database."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from echo_ai.alerts import signing
from echo_ai.alerts.delivery import backoff, retry_after, slack_payload
from echo_ai.alerts.evaluation import change_line
from echo_ai.alerts.models import Alert, AlertRule, CompareWith, WebhookFormat
from echo_ai.alerts.rules import RuleSpec, judge, watched
from echo_ai.analysis.metrics import Rate
from echo_ai.analysis.significance import Figure, Metric, RunFigures
from echo_ai.config import Settings
from echo_ai.runs.models import Experiment

P = ("openai:gpt-4o", "demo:demo-1")


def run(visibility: int, salesforce: int, n: int = 100) -> RunFigures:
    rates = {}
    for provider in (*P, None):
        rates[Figure(provider, Metric.VISIBILITY)] = Rate.of(visibility, n)
        rates[Figure(provider, Metric.TOP1)] = Rate.of(visibility // 2, n)
        rates[Figure(provider, Metric.MENTION_RATE, "Salesforce")] = Rate.of(salesforce, n)
        rates[Figure(provider, Metric.MENTION_RATE, "Zoho")] = Rate.of(30, n)
    return RunFigures(rates, frozenset({"demo:demo-1"}), (frozenset({"openai:gpt-4o"}),))


def test_a_rule_watches_its_metrics_brands_and_providers() -> None:
    figures = run(30, 40)
    only = watched(
        figures,
        RuleSpec(
            metrics=frozenset({Metric.VISIBILITY, Metric.MENTION_RATE}),
            brands=frozenset({"Salesforce"}),
            providers=frozenset({"all", "openai:gpt-4o"}),
        ),
    )
    assert sorted(f.label for f in only.rates) == [
        "Salesforce mention rate, all providers",
        "Salesforce mention rate, openai:gpt-4o",
        "visibility, all providers",
        "visibility, openai:gpt-4o",
    ]
    everything = watched(figures, RuleSpec(metrics=frozenset(Metric)))
    assert len(everything.rates) == len(figures.rates)


def test_the_rule_fires_on_what_it_watches_only() -> None:
    before, after = run(30, 40), run(30, 75)  # Salesforce named far more, HubSpot the same
    on_visibility = judge(before, after, RuleSpec(metrics=frozenset({Metric.VISIBILITY})))
    assert not on_visibility.fires and on_visibility.tests.tested == 3
    on_salesforce = judge(
        before,
        after,
        RuleSpec(metrics=frozenset({Metric.MENTION_RATE}), brands=frozenset({"Salesforce"})),
    )
    assert on_salesforce.fires
    labels = {t.figure.label for t in on_salesforce.fired}
    assert "Salesforce mention rate, all providers" in labels
    # The demo's figures are a family of their own, and marked synthetic.
    assert {t.synthetic for t in on_salesforce.fired} == {False, True}
    # 35 points moved: a minimum of 40 points removes the alert.
    bigger = RuleSpec(metrics=frozenset({Metric.MENTION_RATE}), min_effect=0.40)
    assert not judge(before, after, bigger).fires


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    headers = signing.headers("whsec_test", 1_700_000_000, b'{"a":1}', "d-1")
    expected = hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert headers[signing.SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers[signing.TIMESTAMP_HEADER] == "1700000000"
    ok = {"timestamp": "1700000000", "body": b'{"a":1}', "signed": f"sha256={expected}"}
    assert signing.verify("whsec_test", now=1_700_000_100, **ok)  # type: ignore[arg-type]
    assert not signing.verify("whsec_other", now=1_700_000_100, **ok)  # type: ignore[arg-type]
    assert not signing.verify("whsec_test", now=1_700_000_301, **ok)  # type: ignore[arg-type]
    assert not signing.verify("whsec_test", timestamp="soon", body=b"", signed="", now=0)
    assert signing.new_secret() != signing.new_secret()


@pytest.mark.parametrize(
    ("header", "pause"),
    [
        ("120", timedelta(seconds=120)),
        ("Fri, 27 Nov 2026 10:05:00 GMT", timedelta(minutes=5)),
        ("999999", timedelta(hours=24)),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, pause: timedelta | None) -> None:
    assert retry_after(header, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)) == pause


def test_the_back_off_doubles_up_to_six_hours() -> None:
    settings = Settings()
    pauses = [backoff(attempt, settings).total_seconds() for attempt in (1, 2, 3, 4)]
    assert pauses == [30, 60, 120, 240]
    assert backoff(30, settings) == timedelta(hours=6)


def test_the_slack_payload_has_text_and_blocks_and_says_synthetic() -> None:
    change = {
        "label": "visibility, all providers",
        "metric": "visibility",
        "provider": None,
        "brand": None,
        "before": 0.3,
        "after": 0.62,
        "points": 32.0,
        "p_value": 0.0001,
        "q_value": 0.0002,
        "synthetic": True,
    }
    alert = Alert(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        rule_id=uuid.uuid4(),
        experiment_id=uuid.uuid4(),
        round=3,
        compared_with=[2],
        changes=[change],
        tested=2,
        synthetic=True,
        created_at=datetime(2026, 11, 27, tzinfo=UTC),
    )
    rule = AlertRule(
        name="Visibility",
        level=0.05,
        compare_with=CompareWith.PREVIOUS,
        webhook_format=WebhookFormat.SLACK,
    )
    experiment = Experiment(id=alert.experiment_id, name="Best CRM")
    body = slack_payload(alert, rule, experiment, Settings())
    assert body["text"].startswith("[SYNTHETIC] Echo AI alert: Visibility: Best CRM: run 3")
    assert [block["type"] for block in body["blocks"]] == [
        "header",
        "section",
        "context",
        "context",
    ]
    assert change_line(change) in body["blocks"][1]["text"]["text"]
    assert change_line(change) == (
        "visibility, all providers: 30% → 62% (+32.0 points, q < 0.001) [synthetic]"
    )
