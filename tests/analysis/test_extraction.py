"""Rules of brand-mention extraction, one test (or a few) per rule."""

from __future__ import annotations

import itertools
import json
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from echo_ai.analysis.brands import BrandDefinition, BrandSet, BrandTerm
from echo_ai.analysis.extraction import AbsenceStatement, BrandMatcher, Extraction, Mention
from echo_ai.providers.base import Citation


def brand(name: str, *aliases: str | BrandTerm, **options: object) -> BrandDefinition:
    return BrandDefinition.model_validate({"name": name, "aliases": list(aliases), **options})


def matcher(target: BrandDefinition, *competitors: BrandDefinition) -> BrandMatcher:
    return BrandMatcher(BrandSet(target=target, competitors=list(competitors)))


def found(m: BrandMatcher, text: str) -> list[str]:
    return list(m.extract(text).brands_in_order)


CRM = matcher(
    brand("HubSpot", domains=["hubspot.com"]),
    brand("Salesforce", domains=["salesforce.com"]),
    brand("Pipedrive"),
    brand("Zoho CRM", "Zoho"),
    brand("Close", "Close CRM", "Close.com"),
)


# --- word boundaries, punctuation, possessives -------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HubSpot's free plan", ["HubSpot"]),
        ("HubSpot’s free plan", ["HubSpot"]),
        ("Salesforce-based teams", ["Salesforce"]),
        ("a pipeline tool (Pipedrive) and more", ["Pipedrive"]),
        ("Zoho CRM, then HubSpot.", ["Zoho CRM", "HubSpot"]),
        ("**HubSpot** and _Pipedrive_", ["HubSpot", "Pipedrive"]),
        ("«Salesforce» ou “HubSpot”", ["Salesforce", "HubSpot"]),
    ],
)
def test_names_are_found_next_to_punctuation(text: str, expected: list[str]) -> None:
    assert found(CRM, text) == expected


@pytest.mark.parametrize(
    "text", ["HubSpotter is not a product", "the SalesforceX clone", "Pipedrive2 beta", "éHubSpot"]
)
def test_names_inside_longer_words_are_not_mentions(text: str) -> None:
    assert found(CRM, text) == []


def test_box_is_not_found_inside_toolbox_inbox_or_dropbox() -> None:
    box = matcher(brand("Box"), brand("Dropbox"))
    assert found(box, "Every toolbox needs a clean inbox.") == []
    assert found(box, "Dropbox syncs well.") == ["Dropbox"]
    assert found(box, "We store contracts in Box.") == ["Box"]


def test_apostrophes_in_terms_match_any_apostrophe_style() -> None:
    m = matcher(brand("McDonald's"))
    assert found(m, "Lunch at McDonald’s again") == ["McDonald's"]
    assert found(m, "Lunch at McDonald's again") == ["McDonald's"]


# --- Unicode normalisation and case folding ----------------------------------------------


def test_fullwidth_and_case_variants_match_and_offsets_point_into_the_original() -> None:
    text = "Try ＨｕｂＳｐｏｔ or HUBSPOT or hubspot."
    mentions = CRM.extract(text).mentions
    assert [text[m.start : m.end] for m in mentions] == ["ＨｕｂＳｐｏｔ", "HUBSPOT", "hubspot"]
    assert {m.term for m in mentions} == {"HubSpot"}


def test_case_folding_handles_sharp_s() -> None:
    m = matcher(brand("Straße Bank", case_sensitive=False))
    text = "Die STRASSE BANK und die Strasse Bank"
    assert [text[x.start : x.end] for x in m.extract(text).mentions] == [
        "STRASSE BANK",
        "Strasse Bank",
    ]


def test_accents_and_no_break_spaces_are_ignored_for_case_insensitive_terms() -> None:
    m = matcher(
        brand("Société Générale", case_sensitive=False),
        brand("Crédit Agricole", case_sensitive=False),
    )
    text = "Societe\u00a0Generale, SOCIÉTÉ GÉNÉRALE et Cre\u0301dit Agricole"
    mentions = m.extract(text).mentions
    assert [x.brand for x in mentions] == [
        "Société Générale",
        "Société Générale",
        "Crédit Agricole",
    ]
    assert text[mentions[2].start : mentions[2].end] == "Cre\u0301dit Agricole"


def test_multi_word_terms_match_across_line_breaks_and_repeated_spaces() -> None:
    assert found(CRM, "We use Zoho\n   CRM daily") == ["Zoho CRM"]
    mention = CRM.extract("We use Zoho\n   CRM daily").mentions[0]
    assert mention.term == "Zoho CRM"


# --- case sensitivity ------------------------------------------------------------------


def test_explicit_case_sensitive_term_matches_only_as_written() -> None:
    m = matcher(brand("HP", case_sensitive=True))
    assert found(m, "a 2 hp engine") == []
    assert found(m, "the HP Spectre") == ["HP"]


def test_explicit_case_insensitive_term_matches_common_words_in_any_case() -> None:
    m = matcher(brand("Notion", case_sensitive=False))
    assert found(m, "the notion of a wiki") == ["Notion"]


def test_common_word_names_are_case_sensitive_automatically() -> None:
    m = matcher(brand("Notion"), brand("Linear"), brand("Pipedrive"))
    assert found(m, "The notion of progress is not linear.") == []
    assert found(m, "We moved our wiki to Notion and issues to Linear.") == ["Notion", "Linear"]
    assert found(m, "we use PIPEDRIVE") == ["Pipedrive"]  # uncommon name: any case


def test_common_word_typed_in_lower_case_is_matched_capitalised() -> None:
    m = matcher(brand("notion"))
    assert found(m, "the notion of it") == []
    assert found(m, "We use Notion") == ["notion"]


def test_common_phrase_typed_in_lower_case_is_matched_as_typed_or_capitalised() -> None:
    m = matcher(brand("monday.com", "monday work management"))
    assert found(m, "try monday work management") == ["monday.com"]
    assert found(m, "Monday work management is flexible.") == ["monday.com"]
    assert found(m, "MONDAY WORK MANAGEMENT") == []


@pytest.mark.parametrize(
    "name", ["Outlook", "Obsidian", "Notion", "Monday", "Apple", "Slack", "Copper", "Linear"]
)
def test_ordinary_word_names_are_case_sensitive_by_word_frequency(name: str) -> None:
    m = matcher(brand(name))
    assert found(m, f"We tried {name} last year.") == [name]
    assert found(m, f"We tried {name.lower()} last year.") == []


@pytest.mark.parametrize("name", ["HubSpot", "Salesforce", "Pipedrive", "Trello", "Asana"])
def test_rare_word_names_match_in_any_case(name: str) -> None:
    assert found(matcher(brand(name)), f"we tried {name.lower()} last year") == [name]


def test_names_made_of_words_of_other_languages_are_case_sensitive_too() -> None:
    m = matcher(brand("Société Générale"), brand("Deutsche Bank"))
    assert found(m, "la société générale des eaux") == []
    assert found(m, "Societe Generale et Deutsche Bank") == ["Société Générale", "Deutsche Bank"]


def test_the_word_frequency_threshold_is_documented_in_the_docs() -> None:
    from pathlib import Path

    from echo_ai.analysis.common_words import ZIPF_THRESHOLD

    docs = (Path(__file__).parents[2] / "docs" / "extraction.md").read_text()
    assert f"Zipf {ZIPF_THRESHOLD}" in docs


@pytest.mark.parametrize(
    "text",
    [
        "Close the deal before the quarter ends.",
        "Close attention to onboarding pays off.",
        "1. Close the gap between teams.",
        "Notion of ownership matters.",
        "Zoom in on the pricing page.",
        "## How to Close More Deals",
        "Intro.\n\n### Thinking About the Notion of Done",
    ],
)
def test_sentence_initial_common_words_used_as_ordinary_words_are_not_mentions(text: str) -> None:
    m = matcher(brand("Close"), brand("Notion"), brand("Zoom"))
    assert found(m, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Close is a CRM for inside sales.", ["Close"]),
        ("Close offers a built-in dialer.", ["Close"]),
        ("Notion, Close and Zoom.", ["Notion", "Close", "Zoom"]),
        ("1. **Close** – built for calling.", ["Close"]),
        ("Zoom Workplace bundles chat.", ["Zoom"]),
        ("We tried Close the first week.", ["Close"]),
        ("## Why Close Is Our Pick", ["Close"]),
        ("### Notion AI for teams", ["Notion"]),
        ("Intro.\n\n## 2. Close", ["Close"]),
        ("New Balance Fresh Foam is soft.", ["New Balance"]),
    ],
)
def test_sentence_initial_common_words_used_as_names_are_mentions(
    text: str, expected: list[str]
) -> None:
    m = matcher(brand("Close"), brand("Notion"), brand("Zoom"), brand("New Balance"))
    assert found(m, text) == expected


# --- weekdays and monday.com -------------------------------------------------------------

MONDAY = matcher(brand("monday.com", "Monday"), brand("Asana"))


@pytest.mark.parametrize(
    "text",
    [
        "Plan the sprint on Monday.",
        "Review it every Monday with the team.",
        "Monday morning stand-ups are short.",
        "Open from Monday to Friday.",
        "Monday–Friday support is included.",
        "The launch is Monday, March 3.",
        "Deadline: Monday 9am.",
        "Between Friday and Monday nothing ships.",
    ],
)
def test_weekday_alias_in_a_date_is_not_a_mention(text: str) -> None:
    assert found(MONDAY, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "monday.com has colourful boards.",
        "Monday.com has colourful boards.",
        "Monday is a work OS popular with marketers.",
        "Teams on Asana or Monday can share boards.",
        "Many agencies use Monday for client work.",
    ],
)
def test_monday_as_a_brand_is_a_mention(text: str) -> None:
    assert "monday.com" in found(MONDAY, text)


def test_lower_case_weekday_is_never_the_brand() -> None:
    assert found(MONDAY, "see you monday") == []


# --- exclude terms -------------------------------------------------------------------


def test_a_match_inside_an_exclude_phrase_is_not_counted() -> None:
    m = matcher(brand("Box", exclude_terms=["check the box"]), brand("Dropbox"))
    assert found(m, "Please Check the Box for 2FA.") == []
    assert found(m, "Check the box, then upload to Box.") == ["Box"]
    assert found(matcher(brand("Box")), "Please Check the Box for 2FA.") == ["Box"]


def test_exclude_phrases_belong_to_their_brand_only() -> None:
    m = matcher(
        brand("Amazon", exclude_terms=["Amazon rainforest"]),
        brand("Rainforest Alliance"),
    )
    assert found(m, "the Amazon rainforest and the Rainforest Alliance") == ["Rainforest Alliance"]
    assert found(m, "buy it on Amazon") == ["Amazon"]


# --- overlapping names ---------------------------------------------------------------


def test_the_longest_match_wins_whatever_the_brand_order() -> None:
    m = matcher(brand("Microsoft"), brand("Microsoft Dynamics 365"), brand("Zoho"))
    assert found(m, "Microsoft Dynamics 365 Sales") == ["Microsoft Dynamics 365"]
    m2 = matcher(brand("Zoho"), brand("Zoho CRM"))
    result = m2.extract("Zoho CRM is part of Zoho One.")
    assert [(x.brand, x.term) for x in result.mentions] == [
        ("Zoho CRM", "Zoho CRM"),
        ("Zoho", "Zoho"),
    ]


def test_an_alias_of_the_same_brand_is_counted_once_per_place() -> None:
    result = CRM.extract("Zoho CRM")
    assert [(x.brand, x.term, x.start, x.end) for x in result.mentions] == [
        ("Zoho CRM", "Zoho CRM", 0, 8)
    ]


# --- absence statements ----------------------------------------------------------------

ACME = matcher(brand("Acme CRM"), brand("HubSpot"))


@pytest.mark.parametrize(
    "text",
    [
        "I couldn't find information about Acme CRM.",
        "I could not find any reliable information on Acme CRM.",
        "I’m not familiar with Acme CRM.",
        "I am not aware of a product called Acme CRM.",
        "I don't have information on Acme CRM.",
        "I do not have specific details about Acme CRM.",
        "Acme CRM is not something I know about.",
        "There is no widely known product called Acme CRM.",
        "There's no publicly available information about Acme CRM.",
        "Acme CRM doesn't appear to be a widely known tool.",
        "I was unable to find Acme CRM in my sources.",
        "I haven't heard of Acme CRM.",
    ],
)
def test_absence_statements_are_recorded_and_not_counted(text: str) -> None:
    result = ACME.extract(text)
    assert result.mentions == ()
    assert not result.mentioned("Acme CRM")
    assert result.absences == (AbsenceStatement("Acme CRM", text, 0, len(text)),)


ADMISSIONS = [
    # not knowing
    "I do not have specific details about Acme CRM.",
    "I don't have any reliable, up-to-date information on Acme CRM.",
    "I have limited information about Acme CRM.",
    "I have no data on Acme CRM.",
    "I'm not really familiar with Acme CRM.",
    "I am unfamiliar with Acme CRM.",
    "We're not aware of a product called Acme CRM.",
    "I don't know much about Acme CRM.",
    "I don't recognise the name Acme CRM.",
    "I've never heard of Acme CRM.",
    "I haven't come across Acme CRM before.",
    "My training data doesn't include Acme CRM.",
    "My knowledge of Acme CRM is limited.",
    "Acme CRM isn't a tool I'm familiar with.",
    "Acme CRM is not a brand that I recognize.",
    "Acme CRM doesn't seem to be a well-known product.",
    "Acme CRM may be a newer or smaller company.",
    "Acme CRM might be a relatively niche regional vendor.",
    "Acme CRM doesn't ring a bell.",
    "Acme CRM is unknown to me.",
    "Acme CRM may have launched after my knowledge cutoff.",
    "I'm not sure what Acme CRM is.",
    "Acme CRM, which I'm not familiar with, may be worth researching.",
    "No publicly available information about Acme CRM turned up.",
    # not being able to look it up or describe it
    "I am unable to provide a summary of Acme CRM.",
    "I don't have access to browse websites like Acme CRM.",
    "I can't browse the internet or check sites such as Acme CRM.",
    "I cannot access Acme CRM's website.",
    "As an AI, I don't have real-time access to Acme CRM.",
    "I'm not able to look up Acme CRM.",
    "I wasn't able to verify any details about Acme CRM.",
    "I can't provide an accurate overview of Acme CRM.",
    "I'm not in a position to review Acme CRM.",
    "I couldn't find Acme CRM in my sources.",
    "I can’t speak to Acme CRM in any detail.",
    # asking for information
    "Can you tell me more about Acme CRM?",
    "Could you share a bit more about Acme CRM?",
    "If you describe the focus of Acme CRM, I can suggest alternatives.",
    "If you can share what Acme CRM does, I'll compare it.",
    "Please provide more details about Acme CRM.",
    "Let me know what Acme CRM offers.",
    "Let me know more about Acme CRM.",
    "What is Acme CRM?",
    "What exactly does Acme CRM do?",
    "I'd need more information about Acme CRM to compare it.",
    "Without more context on Acme CRM, a comparison would be guesswork.",
    "If you have any more details about Acme CRM, share them.",
    "With no further information on Acme CRM, I would start elsewhere.",
]


@pytest.mark.parametrize("text", ADMISSIONS)
def test_admissions_of_not_knowing_a_brand_are_not_mentions(text: str) -> None:
    result = ACME.extract(text)
    assert not result.mentioned("Acme CRM")
    assert [a.brand for a in result.absences] == ["Acme CRM"]


def test_many_distinct_admission_phrasings_are_covered() -> None:
    assert len(ADMISSIONS) >= 30


@pytest.mark.parametrize(
    "text",
    [
        "I don't have details about Acme CRM or Globex.",
        "I'm not familiar with Acme CRM, Globex or Initech.",
        "Acme CRM and Globex are not something I know about.",
        "Can you tell me more about Acme CRM and Globex?",
    ],
)
def test_every_brand_of_a_list_in_an_admission_is_absent(text: str) -> None:
    m = matcher(brand("Acme CRM"), brand("Globex"), brand("Initech"), brand("HubSpot"))
    result = m.extract(text)
    assert result.mentions == ()
    assert {a.brand for a in result.absences} >= {"Acme CRM", "Globex"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I couldn't find a cheaper CRM than Acme CRM.", ("Acme CRM",)),
        ("I can't recommend Acme CRM for large teams.", ("Acme CRM",)),
        ("I don't have information on Acme CRM, and HubSpot is better anyway.", ("HubSpot",)),
        ("I'm not familiar with Acme CRM; HubSpot is the safe choice.", ("HubSpot",)),
        (
            "Could you tell me your budget, so I can compare Acme CRM and HubSpot?",
            ("Acme CRM", "HubSpot"),
        ),
        (
            "If you share Acme CRM exports with HubSpot, map the fields first.",
            ("Acme CRM", "HubSpot"),
        ),
        ("You can find more details about Acme CRM on its pricing page.", ("Acme CRM",)),
        ("What is the best alternative to Acme CRM?", ("Acme CRM",)),
        ("I'm not sure whether HubSpot fits your budget.", ("HubSpot",)),
        ("HubSpot is widely known, and Acme CRM is too.", ("HubSpot", "Acme CRM")),
        ("Acme CRM might be a smaller investment than HubSpot.", ("Acme CRM", "HubSpot")),
        ("Acme CRM claims 10,000 customers, which I can't verify.", ("Acme CRM",)),
    ],
)
def test_statements_that_are_not_admissions_about_the_brand_keep_it(
    text: str, expected: tuple[str, ...]
) -> None:
    m = matcher(brand("Acme CRM"), brand("HubSpot"))
    assert m.extract(text).brands_in_order == expected


# Hedges about an attribute of a brand, or followed by praise of it, are recommendations.
HEDGED_RECOMMENDATIONS = [
    (
        "I can't provide real-time pricing for HubSpot, but it's the best free CRM for small "
        "teams.",
        ("HubSpot",),
    ),
    ("I'm not sure what HubSpot charges today, but it is my top pick for startups.", ("HubSpot",)),
    ("I can't speak to HubSpot's enterprise tier, but its free CRM is excellent.", ("HubSpot",)),
    ("Let me know which of HubSpot or Pipedrive fits your budget best.", ("HubSpot", "Pipedrive")),
    (
        "While I can't verify HubSpot's current pricing, HubSpot is widely regarded as the "
        "easiest CRM to start with.",
        ("HubSpot",),
    ),
    (
        "I don't have the latest figures for HubSpot, though HubSpot remains a strong choice.",
        ("HubSpot",),
    ),
    (
        "I can't check Pipedrive's current plans, but I'd recommend it for sales-led teams.",
        ("Pipedrive",),
    ),
    (
        "I'm unable to confirm HubSpot's latest pricing; however, it remains the most popular "
        "free CRM.",
        ("HubSpot",),
    ),
    (
        "I can't browse HubSpot's website, but it is widely considered the best free CRM.",
        ("HubSpot",),
    ),
    (
        "I can't give you exact prices for Pipedrive; still, it is a solid pick for small sales "
        "teams.",
        ("Pipedrive",),
    ),
    ("I'm not familiar with HubSpot's newest add-ons, but they are a great fit.", ("HubSpot",)),
    ("Please let me know which of HubSpot or Pipedrive you already use.", ("HubSpot", "Pipedrive")),
    (
        "I can't check Pipedrive's website, but I would still recommend Pipedrive for sales teams.",
        ("Pipedrive",),
    ),
    ("I can't verify HubSpot's roadmap.", ("HubSpot",)),
    ("I can’t speak to the features of Pipedrive.", ("Pipedrive",)),
    ("I'm unable to provide up-to-date pricing details for Pipedrive.", ("Pipedrive",)),
]


@pytest.mark.parametrize(("text", "expected"), HEDGED_RECOMMENDATIONS)
def test_hedges_about_an_attribute_or_followed_by_praise_are_mentions(
    text: str, expected: tuple[str, ...]
) -> None:
    result = CRM.extract(text)
    assert result.brands_in_order == expected
    assert result.absences == ()


@pytest.mark.parametrize(
    "text",
    [
        "I couldn't find Acme CRM, but it may be a newer company.",
        "I don't have information on Acme CRM, but it might be worth a look.",
        "I'm not familiar with Acme CRM, but if it's a CRM, HubSpot is a great choice.",
        "I couldn't find Acme CRM, but HubSpot is a great alternative to it.",
        "I can't find any product called Acme CRM, but HubSpot is the best choice.",
        "I cannot access Acme CRM's website, so I can't say whether it is good.",
        "I am unable to provide a summary of Acme CRM's features.",
        "I couldn't find Acme CRM, but I'd suggest it's a newer company.",
        "I don't have specific details about Acme CRM, and it's not widely known.",
    ],
)
def test_a_turn_that_does_not_praise_the_brand_keeps_the_admission(text: str) -> None:
    result = ACME.extract(text)
    assert not result.mentioned("Acme CRM")
    assert [a.brand for a in result.absences] == ["Acme CRM"]


def test_an_answer_made_only_of_admissions_mentions_nothing() -> None:
    text = (
        "I do not have specific details about Acme CRM. I am unable to provide a summary of "
        "Acme CRM's features, and I don't have access to browse websites like Acme CRM's "
        "homepage.\n\nCan you tell me more about Acme CRM? If you describe the focus of Acme "
        "CRM, I can suggest similar tools."
    )
    result = ACME.extract(text)
    assert result.brands_in_order == ()
    assert len(result.absences) == 4


def test_a_brand_also_mentioned_positively_still_counts() -> None:
    text = (
        "I couldn't find information about Acme CRM Ultra. Acme CRM itself is a solid tool "
        "for small teams, and HubSpot is the usual alternative."
    )
    result = ACME.extract(text)
    assert result.brands_in_order == ("Acme CRM", "HubSpot")
    assert [a.brand for a in result.absences] == ["Acme CRM"]
    assert len(result.mentions) == 2
    assert result.mentions[0].start == text.index("Acme CRM itself")


def test_other_brands_in_a_contrasting_clause_still_count() -> None:
    result = ACME.extract("I'm not familiar with Acme CRM, but HubSpot is a great choice.")
    assert result.brands_in_order == ("HubSpot",)
    assert [a.brand for a in result.absences] == ["Acme CRM"]


def test_negative_opinions_are_still_mentions() -> None:
    result = ACME.extract("I would not recommend Acme CRM for large teams.")
    assert result.brands_in_order == ("Acme CRM",)
    assert result.absences == ()


# --- lists -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Options:\n1. Pipedrive\n2. Zoho CRM\n3. HubSpot",
        "Options:\n1) Pipedrive\n2) Zoho CRM\n3) HubSpot",
        "Options:\n**1.** Pipedrive\n**2.** Zoho CRM\n**3.** HubSpot",
        "Options:\n**1. Pipedrive**\n**2. Zoho CRM**\n**3. HubSpot**",
        "Options:\n- Pipedrive\n- Zoho CRM\n- HubSpot",
        "Options:\n* Pipedrive\n* Zoho CRM\n* HubSpot",
        "Options:\n• Pipedrive\n• Zoho CRM\n• HubSpot",
        "# Options\n## Pipedrive\ntext\n## Zoho CRM\ntext\n## HubSpot\ntext",
        "Options:\n1. Pipedrive\n1. Zoho CRM\n1. HubSpot",
    ],
)
def test_list_ranks_for_each_list_style(text: str) -> None:
    assert dict(CRM.extract(text).list_ranks) == {"Pipedrive": 1, "Zoho CRM": 2, "HubSpot": 3}


@pytest.mark.parametrize(
    "text",
    [
        "Options:\n1️⃣ Pipedrive\n2️⃣ Zoho CRM\n3️⃣ HubSpot",
        "Options:\n1\u20e3 Pipedrive\n2\u20e3 Zoho CRM\n3\u20e3 HubSpot",
        "Options:\n**1️⃣ Pipedrive**\n**2️⃣ Zoho CRM**\n**3️⃣ HubSpot**",
        "Options:\n🥇 Pipedrive\n🥈 Zoho CRM\n🥉 HubSpot",
        "Options:\n- 🥇 **Pipedrive**\n- 🥈 **Zoho CRM**\n- 🥉 **HubSpot**",
        "# Options\n### 1️⃣ Pipedrive\ntext\n### 2️⃣ Zoho CRM\ntext\n### 3️⃣ HubSpot\ntext",
        "| CRM | Price |\n|---|---|\n| Pipedrive | $14 |\n| Zoho CRM | $14 |\n| HubSpot | $20 |",
        "CRM | Price\n:--- | ---:\nPipedrive | $14\nZoho CRM | $14\nHubSpot | $20",
        "Compare:\n\n| | CRM | Notes |\n|:-:|---|---|\n| A | Pipedrive | |\n| B | Zoho CRM | |"
        "\n| C | HubSpot | Free plan |\n\nHubSpot is my pick.",
    ],
)
def test_list_ranks_for_emoji_medal_and_table_lists(text: str) -> None:
    assert dict(CRM.extract(text).list_ranks) == {"Pipedrive": 1, "Zoho CRM": 2, "HubSpot": 3}


def test_emoji_numbers_keep_their_written_number() -> None:
    text = "8️⃣ Pipedrive\n9️⃣ Zoho CRM\n🔟 HubSpot\n1️⃣1️⃣ Salesforce"
    assert dict(CRM.extract(text).list_ranks) == {
        "Pipedrive": 8,
        "Zoho CRM": 9,
        "HubSpot": 10,
        "Salesforce": 11,
    }


def test_a_table_header_naming_brands_is_not_a_ranked_row() -> None:
    text = "| Feature | HubSpot | Pipedrive |\n|---|---|---|\n| Free plan | Yes | No |"
    result = CRM.extract(text)
    assert result.brands_in_order == ("HubSpot", "Pipedrive")
    assert dict(result.list_ranks) == {}


def test_a_numbered_list_is_preferred_to_a_summary_table() -> None:
    text = (
        "1. Pipedrive\n2. HubSpot\n\n| CRM | Price |\n|---|---|\n| HubSpot | $20 |\n"
        "| Pipedrive | $14 |"
    )
    assert dict(CRM.extract(text).list_ranks) == {"Pipedrive": 1, "HubSpot": 2}


def test_list_rank_is_the_item_where_the_brand_first_appears() -> None:
    text = (
        "HubSpot and Salesforce are the big names, but for you:\n\n"
        "1. **Pipedrive** – simple.\n"
        "   - Integrates with HubSpot forms.\n"
        "2. **Zoho CRM** – cheap; migrates from Salesforce.\n\n"
        "In the end, Close is also worth a look."
    )
    result = CRM.extract(text)
    assert dict(result.list_ranks) == {
        "Pipedrive": 1,
        "HubSpot": 1,
        "Zoho CRM": 2,
        "Salesforce": 2,
    }
    assert result.brands_in_order == ("HubSpot", "Salesforce", "Pipedrive", "Zoho CRM", "Close")


def test_paragraphs_between_numbered_items_belong_to_the_previous_item() -> None:
    text = "1. **Pipedrive**\n\nIt works with Zoho CRM too.\n\n2. **HubSpot**\n\nGreat."
    assert dict(CRM.extract(text).list_ranks) == {"Pipedrive": 1, "Zoho CRM": 1, "HubSpot": 2}


def test_a_numbered_list_is_preferred_to_criteria_bullets() -> None:
    text = (
        "Consider:\n- price\n- integrations\n\nMy picks:\n"
        "1. HubSpot\n2. Pipedrive\n\nBoth beat Salesforce on price."
    )
    result = CRM.extract(text)
    assert dict(result.list_ranks) == {"HubSpot": 1, "Pipedrive": 2}


def test_prose_answers_have_no_list_ranks() -> None:
    assert dict(CRM.extract("HubSpot beats Pipedrive. 1 thing to note.").list_ranks) == {}


# --- position, URLs, citations ---------------------------------------------------------


def test_position_is_order_of_first_counted_appearance() -> None:
    result = CRM.extract("Pipedrive, then HubSpot, then Pipedrive again, then Zoho.")
    assert result.brands_in_order == ("Pipedrive", "HubSpot", "Zoho CRM")
    assert result.position("HubSpot") == 2
    assert result.position("Salesforce") is None
    assert result.mentioned("Zoho CRM") and not result.mentioned("Close")
    assert [m.brand for m in result.mentions] == ["Pipedrive", "HubSpot", "Pipedrive", "Zoho CRM"]


def test_names_inside_urls_are_citations_not_mentions() -> None:
    text = (
        "Source: https://www.salesforce.com/blog/pipedrive-vs-hubspot/ and "
        "[HubSpot pricing](https://www.hubspot.com/pricing)."
    )
    result = CRM.extract(text)
    assert result.brands_in_order == ("HubSpot",)
    assert result.cited_domains == ("salesforce.com", "hubspot.com")
    assert dict(result.brand_citations) == {
        "HubSpot": ("https://www.hubspot.com/pricing",),
        "Salesforce": ("https://www.salesforce.com/blog/pipedrive-vs-hubspot/",),
    }


def test_provider_citations_and_sources_are_attributed_to_brand_domains() -> None:
    result = CRM.extract(
        "Pipedrive is simple.",
        citations=[
            Citation(url="https://blog.hubspot.com/sales/crm"),
            Citation(url="https://nothubspot.com/page"),
        ],
        sources=[
            Citation(url="https://www.salesforce.com/small-business/"),
            Citation(url="https://blog.hubspot.com/sales/crm"),
        ],
    )
    assert result.brands_in_order == ("Pipedrive",)  # a cited domain is not a mention
    assert result.cited_domains == ("hubspot.com", "nothubspot.com")
    assert dict(result.brand_citations) == {"HubSpot": ("https://blog.hubspot.com/sales/crm",)}
    assert dict(result.brand_sources) == {
        "Salesforce": ("https://www.salesforce.com/small-business/",)
    }


# --- serialisation -----------------------------------------------------------------------


def test_to_dict_is_json_safe_and_round_trips() -> None:
    result = CRM.extract(
        "I couldn't find information about Close Pro.\n\n1. HubSpot\n2. Pipedrive "
        "https://pipedrive.com/x",
        citations=[Citation(url="https://hubspot.com/a")],
        sources=[Citation(url="https://salesforce.com/b")],
    )
    assert result.absences and result.list_ranks and result.brand_sources
    data = json.loads(json.dumps(result.to_dict()))
    assert Extraction.from_dict(data) == result
    assert Extraction.from_dict({}) == Extraction()


def test_extraction_mappings_are_read_only() -> None:
    result = CRM.extract("1. HubSpot")
    with pytest.raises(TypeError):
        result.list_ranks["HubSpot"] = 2  # type: ignore[index, unused-ignore]


# --- properties ------------------------------------------------------------------------

PROPERTY_BRANDS = ["HubSpot", "Zoho CRM", "Pipedrive", "Société Générale", "Dynamics 365"]
PROPERTY = matcher(*(brand(name) for name in PROPERTY_BRANDS))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    before=st.text(max_size=80),
    after=st.text(max_size=80),
    name=st.sampled_from(PROPERTY_BRANDS),
)
def test_a_name_inserted_between_spaces_is_found_at_its_offsets(
    before: str, after: str, name: str
) -> None:
    assume(not PROPERTY.extract(before).mentions and not PROPERTY.extract(after).mentions)
    assume(not PROPERTY.extract(before + " " + after).mentions)
    text = f"{before} {name} {after}"
    result = PROPERTY.extract(text)
    assert result.mentioned(name)
    inserted = [m for m in result.mentions if m.start == len(before) + 1]
    assert len(inserted) == 1
    assert text[inserted[0].start : inserted[0].end] == name
    assert inserted[0].term == name


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_extraction_never_raises_and_offsets_are_valid(text: str) -> None:
    result = PROPERTY.extract(text)
    for mention in result.mentions:
        assert 0 <= mention.start < mention.end <= len(text)
        fragment = unicodedata.normalize("NFKD", text[mention.start : mention.end]).casefold()
        assert fragment.strip()


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200), st.sampled_from(PROPERTY_BRANDS)
)
def test_mentions_never_overlap_and_are_sorted(text: str, name: str) -> None:
    result = PROPERTY.extract(f"{text} {name}, {name.upper()} {text}")
    spans = [(m.start, m.end) for m in result.mentions]
    assert spans == sorted(spans)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert isinstance(result.mentions[0], Mention)
