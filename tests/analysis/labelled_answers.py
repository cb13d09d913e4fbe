"""Hand-labelled assistant answers for measuring extraction precision and recall.

Each answer is written in the style of a real assistant reply; ``expected`` is the set of
tracked brands a careful human reader would say the answer mentions (names inside URLs,
ordinary-word uses such as "close the deal" or "the notion of", and "I couldn't find
information about X" do not count). ``order`` and ``ranks`` are given where the answer
makes them unambiguous.

Brand sets are configured as a user would: names, the aliases people actually type, web
domains, and exclude phrases only where no automatic rule could know ("Amazon rainforest").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from echo_ai.analysis.brands import BrandDefinition, BrandSet, BrandTerm


def _brand(name: str, *aliases: str | BrandTerm, **options: object) -> BrandDefinition:
    return BrandDefinition.model_validate({"name": name, "aliases": list(aliases), **options})


BRAND_SETS: dict[str, BrandSet] = {
    "crm": BrandSet(
        target=_brand("HubSpot", "HubSpot CRM", domains=["hubspot.com"]),
        competitors=[
            _brand("Salesforce", "Sales Cloud", domains=["salesforce.com"]),
            _brand("Pipedrive", domains=["pipedrive.com"]),
            _brand("Zoho CRM", "Zoho", domains=["zoho.com"]),
            _brand("Close", "Close CRM", "Close.com", domains=["close.com"]),
            _brand("Freshsales", "Freshworks CRM", domains=["freshworks.com"]),
            _brand("Microsoft Dynamics 365", "Dynamics 365"),
            _brand("Copper", "Copper CRM", domains=["copper.com"]),
        ],
    ),
    "pm": BrandSet(
        target=_brand("Asana", domains=["asana.com"]),
        competitors=[
            _brand("Trello", domains=["trello.com"]),
            _brand("monday.com", "Monday", "monday work management", domains=["monday.com"]),
            _brand("Notion", domains=["notion.so"]),
            _brand("ClickUp", domains=["clickup.com"]),
            _brand("Jira", "Jira Software", domains=["atlassian.com"]),
            _brand("Basecamp", domains=["basecamp.com"]),
            _brand("Wrike"),
            _brand("Linear", domains=["linear.app"]),
            _brand("Smartsheet"),
        ],
    ),
    "video": BrandSet(
        target=_brand("Zoom", "Zoom Workplace", exclude_terms=["zoom in", "zoom out"]),
        competitors=[
            _brand("Microsoft Teams", "MS Teams", BrandTerm(text="Teams", case_sensitive=True)),
            _brand("Google Meet"),
            _brand("Webex", "Cisco Webex"),
            _brand("Whereby"),
            _brand("GoTo Meeting", "GoToMeeting"),
        ],
    ),
    "storage": BrandSet(
        target=_brand("Dropbox", domains=["dropbox.com"]),
        competitors=[
            _brand("Google Drive"),
            _brand("OneDrive", "Microsoft OneDrive"),
            _brand("Box", "Box.com", domains=["box.com"]),
            _brand("iCloud", "iCloud Drive"),
            _brand("pCloud", domains=["pcloud.com"]),
            _brand("Sync.com", domains=["sync.com"]),
        ],
    ),
    "shoes": BrandSet(
        target=_brand("Brooks", "Brooks Running"),
        competitors=[
            _brand("Nike"),
            _brand("Adidas"),
            _brand("Hoka", "Hoka One One"),
            _brand("ASICS"),
            _brand("New Balance"),
            _brand("Saucony"),
            _brand("On Running", "On Cloudmonster", "On Cloudsurfer"),
            _brand("Amazon", exclude_terms=["Amazon rainforest", "Amazon River", "Amazon basin"]),
        ],
    ),
    "banks": BrandSet(
        target=_brand("Société Générale", "SocGen"),
        competitors=[
            _brand("BNP Paribas"),
            _brand("Crédit Agricole"),
            _brand("LCL"),
            _brand("Boursorama", "BoursoBank"),
            _brand("Revolut"),
        ],
    ),
    "devices": BrandSet(
        target=_brand("Apple", "MacBook", "iPhone"),
        competitors=[
            _brand("Samsung", "Galaxy"),
            _brand("Google Pixel", "Pixel"),
            _brand("Dell"),
            _brand("Lenovo", "ThinkPad"),
            _brand("HP", case_sensitive=True),
        ],
    ),
    "notes": BrandSet(
        target=_brand("Obsidian", domains=["obsidian.md"]),
        competitors=[
            _brand("Notion", domains=["notion.so"]),
            _brand("Evernote"),
            _brand("Bear", "Bear Notes"),
            _brand("Craft", "Craft Docs"),
            _brand("Apple Notes"),
            _brand("OneNote", "Microsoft OneNote"),
            _brand("Google Keep"),
            _brand("Logseq"),
        ],
    ),
    "email": BrandSet(
        target=_brand("Superhuman", domains=["superhuman.com"]),
        competitors=[
            _brand("Outlook", "Microsoft Outlook"),
            _brand("Gmail"),
            _brand("Spark", "Spark Mail"),
            _brand("Thunderbird"),
            _brand("Proton Mail", "ProtonMail"),
            _brand("HEY", "hey.com"),
        ],
    ),
    "chat": BrandSet(
        target=_brand("Slack", domains=["slack.com"]),
        competitors=[
            _brand("Microsoft Teams", BrandTerm(text="Teams", case_sensitive=True)),
            _brand("Discord"),
            _brand("Signal"),
            _brand("Telegram"),
            _brand("WhatsApp"),
            _brand("Mattermost"),
            _brand("Google Chat"),
        ],
    ),
    "fintech": BrandSet(
        target=_brand("Wise", "TransferWise", domains=["wise.com"]),
        competitors=[
            _brand("Revolut"),
            _brand("Monzo"),
            _brand("Starling", "Starling Bank"),
            _brand("Chase"),
            _brand("Mercury"),
            _brand("N26"),
        ],
    ),
}


@dataclass(frozen=True)
class Labelled:
    name: str
    brand_set: str
    text: str
    expected: frozenset[str]
    order: tuple[str, ...] | None = None
    ranks: dict[str, int] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


def _answer(
    name: str,
    brand_set: str,
    text: str,
    expected: set[str],
    *,
    order: tuple[str, ...] | None = None,
    ranks: dict[str, int] | None = None,
    absent: set[str] | None = None,
) -> Labelled:
    return Labelled(
        name, brand_set, text, frozenset(expected), order, ranks or {}, frozenset(absent or ())
    )


ANSWERS: list[Labelled] = [
    _answer(
        "crm-numbered-bold",
        "crm",
        """For a 10-person startup, these are the CRMs worth shortlisting:

1. **HubSpot CRM** – Generous free tier with contacts, deals and email tracking. HubSpot's
   Starter plan adds simple automation.
2. **Pipedrive** – Pipeline-first and easy for salespeople to adopt; plans start around $14
   per user per month.
3. **Zoho CRM** – Very affordable, with a free plan for up to three users.
4. **Salesforce Starter** – The industry standard, packaged for small teams.
5. **Freshsales** – Built-in phone and AI lead scoring.

If you want the quickest start, go with HubSpot; if your process is mostly pipeline
management, Pipedrive is hard to beat.""",
        {"HubSpot", "Pipedrive", "Zoho CRM", "Salesforce", "Freshsales"},
        order=("HubSpot", "Pipedrive", "Zoho CRM", "Salesforce", "Freshsales"),
        ranks={"HubSpot": 1, "Pipedrive": 2, "Zoho CRM": 3, "Salesforce": 4, "Freshsales": 5},
    ),
    _answer(
        "crm-prose",
        "crm",
        "For a small sales team I'd start with Pipedrive: it keeps the focus on moving deals "
        "forward. If marketing matters as much as sales, HubSpot's free CRM grows with you. "
        "Teams already living in Microsoft 365 should look at Dynamics 365 Sales, although it "
        "needs more setup than the other two.",
        {"Pipedrive", "HubSpot", "Microsoft Dynamics 365"},
        order=("Pipedrive", "HubSpot", "Microsoft Dynamics 365"),
    ),
    _answer(
        "crm-close-as-verb",
        "crm",
        "Close the gap between marketing and sales by picking one system of record. To close "
        "more deals, you need reminders, a clear pipeline and email tracking. Salesforce "
        "offers all of this but can be heavy; HubSpot is lighter. Close attention to "
        "onboarding matters more than the feature list. Keep your pipeline close to reality.",
        {"Salesforce", "HubSpot"},
        order=("Salesforce", "HubSpot"),
    ),
    _answer(
        "crm-close-as-brand",
        "crm",
        "If your reps live on the phone, Close is worth a look: it bundles calling, SMS and "
        "email sequences in one inbox. Close's Power Dialer is a favourite of inside-sales "
        "teams. Pipedrive is the alternative if you need a more visual pipeline.",
        {"Close", "Pipedrive"},
        order=("Close", "Pipedrive"),
    ),
    _answer(
        "crm-absence-copper",
        "crm",
        "I don't have information on Copper CRM's current offering. However, popular CRMs for "
        "small teams include HubSpot, Pipedrive and Zoho CRM, all of which have free trials.",
        {"HubSpot", "Pipedrive", "Zoho CRM"},
        absent={"Copper"},
    ),
    _answer(
        "crm-table",
        "crm",
        """| CRM | Free plan | Starting price | Best for |
|-----|-----------|----------------|----------|
| HubSpot | Yes | $20/user | Inbound marketing |
| Zoho CRM | Up to 3 users | $14/user | Budget |
| Pipedrive | No | $14/user | Pipeline management |
| Salesforce | No | $25/user | Scaling teams |

All four integrate with Gmail and Outlook.""",
        {"HubSpot", "Zoho CRM", "Pipedrive", "Salesforce"},
        order=("HubSpot", "Zoho CRM", "Pipedrive", "Salesforce"),
    ),
    _answer(
        "crm-url-only-citation",
        "crm",
        "According to a recent small-business survey "
        "(https://www.salesforce.com/resources/research-reports/state-of-sales/), most teams "
        "outgrow spreadsheets at around five reps. My recommendation is HubSpot, because its "
        "free tier covers the basics. Pricing: https://www.hubspot.com/pricing/crm.",
        {"HubSpot"},
    ),
    _answer(
        "crm-possessive-punctuation",
        "crm",
        "Many Salesforce-based teams keep HubSpot’s marketing tools for email. Others prefer a "
        "lighter pipeline tool (Pipedrive) and connect it via Zapier. Zoho CRM, Freshworks CRM "
        "and Close.com are cheaper still.",
        {"Salesforce", "HubSpot", "Pipedrive", "Zoho CRM", "Freshsales", "Close"},
        order=("Salesforce", "HubSpot", "Pipedrive", "Zoho CRM", "Freshsales", "Close"),
    ),
    _answer(
        "crm-microsoft-overlap",
        "crm",
        "Microsoft Dynamics 365 Sales integrates tightly with Outlook and Microsoft Teams, "
        "which is its main advantage. Microsoft also offers Dynamics 365 Business Central for "
        "accounting. For a startup it is usually more than you need.",
        {"Microsoft Dynamics 365"},
    ),
    _answer(
        "crm-zoho-suite",
        "crm",
        "Zoho One bundles Zoho CRM with 40+ other apps. If you only need a CRM, the standalone "
        "Zoho CRM Standard plan is cheaper. Close behind in value is Freshsales.",
        {"Zoho CRM", "Freshsales"},
        order=("Zoho CRM", "Freshsales"),
    ),
    _answer(
        "crm-absence-then-positive",
        "crm",
        "I couldn't find information about Copper Enterprise Cloud as a separate product. "
        "Copper itself is a CRM designed for Google Workspace users, and it pairs well with "
        "Gmail. HubSpot is the usual alternative.",
        {"Copper", "HubSpot"},
        order=("Copper", "HubSpot"),
        absent={"Copper"},
    ),
    _answer(
        "pm-notion-as-word",
        "pm",
        "The notion of a single source of truth is central to project management. Whatever "
        "tool you choose, notions like ownership and due dates matter more than features. "
        "Asana and Trello both make ownership explicit.",
        {"Asana", "Trello"},
        order=("Asana", "Trello"),
    ),
    _answer(
        "pm-notion-as-brand",
        "pm",
        "Notion is excellent if your team writes a lot: docs, wikis and lightweight task "
        "boards live in one place, and Notion's databases are flexible. If you need "
        "stronger task management, ClickUp adds time tracking and dashboards.",
        {"Notion", "ClickUp"},
        order=("Notion", "ClickUp"),
    ),
    _answer(
        "pm-monday-weekday",
        "pm",
        "Hold sprint planning on Monday and a demo every Friday. Teams that review the board "
        "each Monday morning catch blockers early. Jira makes this ritual easy with its "
        "sprint reports; from Monday to Friday the burndown chart shows progress.",
        {"Jira"},
    ),
    _answer(
        "pm-monday-brand",
        "pm",
        "monday.com is a flexible work-management platform with colourful boards and "
        "automations. Monday is especially popular with marketing teams, while Asana suits "
        "cross-functional projects. Both have free tiers.",
        {"monday.com", "Asana"},
        order=("monday.com", "Asana"),
    ),
    _answer(
        "pm-numbered-headings",
        "pm",
        """## Best project management tools for agencies

### 1. Asana
Great for cross-team work, with timelines and portfolios.

### 2. monday.com
Visual boards and strong client-facing dashboards.

### 3. ClickUp
Packs docs, goals and time tracking into one app.

### 4. Trello
Simple Kanban boards; ideal for small teams.

## Conclusion
Start with Asana if you need structure, Trello if you need simplicity.""",
        {"Asana", "monday.com", "ClickUp", "Trello"},
        order=("Asana", "monday.com", "ClickUp", "Trello"),
        ranks={"Asana": 1, "monday.com": 2, "ClickUp": 3, "Trello": 4},
    ),
    _answer(
        "pm-linear-as-word",
        "pm",
        "Project progress is rarely linear: expect scope changes. A tool with a simple "
        "message board and schedule, such as Basecamp, keeps everyone informed without "
        "heavy process. The learning curve is almost linear for new hires.",
        {"Basecamp"},
    ),
    _answer(
        "pm-linear-as-brand",
        "pm",
        "Linear is the favourite of many software startups for issue tracking: it is fast, "
        "keyboard-driven and opinionated. Larger organisations usually standardise on Jira "
        "Software because of its workflows and permissions.",
        {"Linear", "Jira"},
        order=("Linear", "Jira"),
    ),
    _answer(
        "pm-bullets-nested",
        "pm",
        """Here are good options:

- **Trello** – Kanban boards that anyone can learn in minutes.
  - Power-Ups add calendars and automation.
  - Integrates with Slack and Google Drive.
- **Wrike** – Strong resource management for larger teams.
- **Smartsheet** – Spreadsheet-like interface that finance teams love.""",
        {"Trello", "Wrike", "Smartsheet"},
        order=("Trello", "Wrike", "Smartsheet"),
        ranks={"Trello": 1, "Wrike": 2, "Smartsheet": 3},
    ),
    _answer(
        "pm-absence-then-mention",
        "pm",
        "I couldn't find information about Basecamp Pro Max; it may not exist. If you mean "
        "Basecamp, it is a calm, all-in-one tool with a flat price. ClickUp and Asana are "
        "more feature-rich alternatives.",
        {"Basecamp", "ClickUp", "Asana"},
        order=("Basecamp", "ClickUp", "Asana"),
        absent={"Basecamp"},
    ),
    _answer(
        "pm-lazy-numbering",
        "pm",
        """1. ClickUp – everything in one place.
1. Asana – best for cross-functional work.
1. Jira – best for software teams.""",
        {"ClickUp", "Asana", "Jira"},
        order=("ClickUp", "Asana", "Jira"),
        ranks={"ClickUp": 1, "Asana": 2, "Jira": 3},
    ),
    _answer(
        "video-zoom-as-verb",
        "video",
        "When you compare plans, zoom in on the details that matter: participant limits, "
        "recording storage and webinar add-ons. Zoom out and consider what your team already "
        "pays for. Google Meet comes with Google Workspace, and Webex is strong on security.",
        {"Google Meet", "Webex"},
        order=("Google Meet", "Webex"),
    ),
    _answer(
        "video-zoom-as-brand",
        "video",
        "Zoom remains the most widely used option for external calls, and Zoom's breakout "
        "rooms are great for workshops. Google Meet is simpler and runs entirely in the "
        "browser.",
        {"Zoom", "Google Meet"},
        order=("Zoom", "Google Meet"),
    ),
    _answer(
        "video-teams",
        "video",
        "If your company uses Microsoft 365, Microsoft Teams is already included. Sales teams "
        "that meet many external clients often add Zoom Workplace as well. Teams also handles "
        "chat and file sharing, which reduces tool sprawl.",
        {"Microsoft Teams", "Zoom"},
        order=("Microsoft Teams", "Zoom"),
    ),
    _answer(
        "video-absence-whereby",
        "video",
        "I'm not familiar with Whereby. The most popular video conferencing tools are Zoom, "
        "Google Meet and Cisco Webex, and all offer free plans with time limits.",
        {"Zoom", "Google Meet", "Webex"},
        order=("Zoom", "Google Meet", "Webex"),
        absent={"Whereby"},
    ),
    _answer(
        "video-goto",
        "video",
        """Top picks for webinars:
* GoTo Meeting – reliable, with good dial-in numbers.
* Webex – enterprise-grade security.
* Zoom – familiar to every attendee.""",
        {"GoTo Meeting", "Webex", "Zoom"},
        order=("GoTo Meeting", "Webex", "Zoom"),
        ranks={"GoTo Meeting": 1, "Webex": 2, "Zoom": 3},
    ),
    _answer(
        "storage-box-as-word",
        "storage",
        "Every IT toolbox should include a backup plan. Check the box for two-factor "
        "authentication, and keep your inbox free of shared links. Dropbox works out of the "
        "box on every platform, and Google Drive is included with Gmail.",
        {"Dropbox", "Google Drive"},
        order=("Dropbox", "Google Drive"),
    ),
    _answer(
        "storage-box-as-brand",
        "storage",
        "Box is built for enterprises that need governance, retention policies and "
        "compliance certifications. Box's integrations with Salesforce and Slack are a plus. "
        "For personal use, OneDrive bundled with Microsoft 365 is better value.",
        {"Box", "OneDrive"},
        order=("Box", "OneDrive"),
    ),
    _answer(
        "storage-apple-users",
        "storage",
        """For Apple users:
- **iCloud Drive** syncs seamlessly across iPhone, iPad and Mac.
- **Google Drive** is the best cross-platform choice.
- **Dropbox** has the most reliable desktop sync.""",
        {"iCloud", "Google Drive", "Dropbox"},
        order=("iCloud", "Google Drive", "Dropbox"),
        ranks={"iCloud": 1, "Google Drive": 2, "Dropbox": 3},
    ),
    _answer(
        "storage-markdown-links",
        "storage",
        "If privacy is your priority, consider [pCloud](https://www.pcloud.com/) with its "
        "lifetime plans or [Sync.com](https://www.sync.com/pricing-individual/) for "
        "end-to-end encryption by default. See also https://www.dropbox.com/plans.",
        {"pCloud", "Sync.com"},
        order=("pCloud", "Sync.com"),
    ),
    _answer(
        "storage-onedrive-microsoft",
        "storage",
        "Microsoft OneDrive gives 1 TB with a Microsoft 365 subscription. OneDrive's Personal "
        "Vault adds an extra layer of protection for sensitive files.",
        {"OneDrive"},
    ),
    _answer(
        "shoes-numbered",
        "shoes",
        """Best daily trainers for beginners:

1. Brooks Ghost 16 – balanced cushioning and a smooth ride.
2. Hoka Clifton 9 – soft and light.
3. ASICS Gel-Nimbus 26 – maximum comfort.
4. New Balance Fresh Foam 1080v13 – roomy toe box.
5. Saucony Ride 17 – versatile and durable.""",
        {"Brooks", "Hoka", "ASICS", "New Balance", "Saucony"},
        order=("Brooks", "Hoka", "ASICS", "New Balance", "Saucony"),
        ranks={"Brooks": 1, "Hoka": 2, "ASICS": 3, "New Balance": 4, "Saucony": 5},
    ),
    _answer(
        "shoes-new-balance-phrase",
        "shoes",
        "When you increase mileage, find a new balance between hard days and recovery. For "
        "shoes, Nike Pegasus and Adidas Adizero Boston are reliable choices at different "
        "price points.",
        {"Nike", "Adidas"},
        order=("Nike", "Adidas"),
    ),
    _answer(
        "shoes-on-running",
        "shoes",
        "On Running's Cloudmonster has a bouncy, rockered ride. On the other hand, if you "
        "want a traditional feel, the Nike Vomero is softer. On long runs, comfort matters "
        "more than weight.",
        {"On Running", "Nike"},
        order=("On Running", "Nike"),
    ),
    _answer(
        "shoes-amazon-rainforest",
        "shoes",
        "Nike's Move to Zero programme uses recycled materials, and some brands fund projects "
        "that protect the Amazon rainforest. Adidas runs a similar recycling initiative.",
        {"Nike", "Adidas"},
        order=("Nike", "Adidas"),
    ),
    _answer(
        "shoes-amazon-retailer",
        "shoes",
        "You'll usually find last season's HOKA models discounted on Amazon or at running "
        "specialty stores. Check the return policy before buying.",
        {"Hoka", "Amazon"},
        order=("Hoka", "Amazon"),
    ),
    _answer(
        "shoes-german",
        "shoes",
        "Für Anfänger eignen sich gedämpfte Laufschuhe von ASICS, Brooks oder Saucony. "
        "Wer es sportlicher mag, greift zu Adidas.",
        {"ASICS", "Brooks", "Saucony", "Adidas"},
        order=("ASICS", "Brooks", "Saucony", "Adidas"),
    ),
    _answer(
        "banks-french",
        "banks",
        "Pour un compte professionnel, Société Générale et BNP Paribas proposent des offres "
        "complètes, tandis que le Crédit Agricole est très présent en région. Les néobanques "
        "comme Revolut sont moins chères.",
        {"Société Générale", "BNP Paribas", "Crédit Agricole", "Revolut"},
        order=("Société Générale", "BNP Paribas", "Crédit Agricole", "Revolut"),
    ),
    _answer(
        "banks-unaccented-and-caps",
        "banks",
        "Societe Generale owns Boursorama, which was renamed BoursoBank in 2024. In the "
        "bank's annual report, SOCIÉTÉ GÉNÉRALE highlights its retail network.",
        {"Société Générale", "Boursorama"},
        order=("Société Générale", "Boursorama"),
    ),
    _answer(
        "banks-decomposed-accents",
        "banks",
        "Cre\u0301dit Agricole and LCL belong to the same group, and both offer youth "
        "accounts with low fees.",
        {"Crédit Agricole", "LCL"},
        order=("Crédit Agricole", "LCL"),
    ),
    _answer(
        "banks-absence-untracked",
        "banks",
        "I couldn't find any information about a bank called Banque Zeta. If you are comparing "
        "online banks in France, BoursoBank and Revolut are the most common choices.",
        {"Boursorama", "Revolut"},
        order=("Boursorama", "Revolut"),
    ),
    _answer(
        "devices-apple-fruit",
        "devices",
        "For a student on a budget, the Dell Inspiron 14 and the Lenovo IdeaPad Slim 5 offer "
        "the best value. Pack an apple and a charger for long library sessions; apple slices "
        "are an easy snack.",
        {"Dell", "Lenovo"},
        order=("Dell", "Lenovo"),
    ),
    _answer(
        "devices-apple-brand",
        "devices",
        "Apple's MacBook Air M3 has the best battery life in its class. On Windows, the Dell "
        "XPS 13 and HP Spectre x360 are strong alternatives.",
        {"Apple", "Dell", "HP"},
        order=("Apple", "Dell", "HP"),
    ),
    _answer(
        "devices-hp-lowercase",
        "devices",
        "A 2 hp motor is plenty for a home workshop; for the laptop that runs your CAD "
        "software, a Lenovo ThinkPad P14s is a safe choice.",
        {"Lenovo"},
    ),
    _answer(
        "devices-pixel",
        "devices",
        "If every pixel counts for your photography, the Pixel 8 Pro and the Samsung Galaxy "
        "S24 Ultra have the best cameras. Pixel phones also get seven years of updates.",
        {"Google Pixel", "Samsung"},
        order=("Google Pixel", "Samsung"),
    ),
    _answer(
        "devices-no-brands",
        "devices",
        "Look for at least 16 GB of memory, a 512 GB SSD and a screen brighter than 400 nits. "
        "Battery life above ten hours is realistic for current ultrabooks.",
        set(),
    ),
    _answer(
        "crm-heading-items",
        "crm",
        """## HubSpot
Best for inbound marketing and a free start.

## Pipedrive
Best for visual pipeline management.

## Salesforce
Best when you expect to scale quickly.""",
        {"HubSpot", "Pipedrive", "Salesforce"},
        order=("HubSpot", "Pipedrive", "Salesforce"),
        ranks={"HubSpot": 1, "Pipedrive": 2, "Salesforce": 3},
    ),
    _answer(
        "crm-title-case-headings",
        "crm",
        """## Top CRM Picks for 2025

### HubSpot: Best Free Option
Unlimited users on the free plan and a huge app marketplace.

### Close: Best for Calling Teams
Built-in dialer, SMS and sequences.

## How to Close More Deals With Any CRM
Log every call, set follow-up tasks and review the pipeline weekly.""",
        {"HubSpot", "Close"},
        order=("HubSpot", "Close"),
        ranks={"HubSpot": 1, "Close": 2},
    ),
    _answer(
        "crm-lower-case-names",
        "crm",
        "many teams start in spreadsheets and move to hubspot or pipedrive once they have "
        "more than a few reps. salesforce only makes sense later.",
        {"HubSpot", "Pipedrive", "Salesforce"},
        order=("HubSpot", "Pipedrive", "Salesforce"),
    ),
    _answer(
        "pm-atlassian-mix",
        "pm",
        "If your engineers already use Atlassian tools, Jira integrates tightly with "
        "Confluence. For non-technical teams, monday work management or Asana is easier to "
        "adopt. Trello (also by Atlassian) is enough for small boards.",
        {"Jira", "monday.com", "Asana", "Trello"},
        order=("Jira", "monday.com", "Asana", "Trello"),
    ),
    _answer(
        "pm-notion-headings-and-word",
        "pm",
        """### Notion
Flexible docs and databases.

### Asana
Structured task management with timelines.

In my notion of a good setup, both play a role.""",
        {"Notion", "Asana"},
        order=("Notion", "Asana"),
        ranks={"Notion": 1, "Asana": 2},
    ),
    _answer(
        "video-footnote-citations",
        "video",
        """According to recent reviews [1], Zoom leads on reliability, while Microsoft Teams
dominates in large enterprises [2]. Google Meet is catching up quickly [3].

[1] https://www.pcmag.com/picks/the-best-video-conferencing-software
[2] https://www.microsoft.com/en-us/microsoft-teams/group-chat-software
[3] https://workspace.google.com/products/meet/""",
        {"Zoom", "Microsoft Teams", "Google Meet"},
        order=("Zoom", "Microsoft Teams", "Google Meet"),
    ),
    _answer(
        "storage-box-sentence-start",
        "storage",
        "Box offers unlimited storage on business plans, but Dropbox has better desktop sync. "
        "Box Drive lets you open cloud files like a local disk.",
        {"Box", "Dropbox"},
        order=("Box", "Dropbox"),
    ),
    _answer(
        "shoes-spanish",
        "shoes",
        "Para correr en asfalto, las Nike Pegasus y las ASICS Novablast son opciones "
        "excelentes; si buscas más amortiguación, prueba las Hoka Bondi.",
        {"Nike", "ASICS", "Hoka"},
        order=("Nike", "ASICS", "Hoka"),
    ),
    _answer(
        "devices-absence-model",
        "devices",
        "I'm not aware of a Samsung Galaxy Book 7 Ultra; the latest model I know of is the "
        "Galaxy Book4 Ultra. Dell's XPS 16 is a comparable alternative.",
        {"Samsung", "Dell"},
        order=("Samsung", "Dell"),
        absent={"Samsung"},
    ),
    _answer(
        "banks-socgen-alias",
        "banks",
        "SocGen's retail arm, together with LCL and BNP Paribas, dominates French retail banking.",
        {"Société Générale", "LCL", "BNP Paribas"},
        order=("Société Générale", "LCL", "BNP Paribas"),
    ),
    _answer(
        "devices-apple-silicon",
        "devices",
        "Apple silicon has changed the laptop market. Apple laptops now lead on battery "
        "life, though Lenovo's ThinkPad X1 Carbon is lighter.",
        {"Apple", "Lenovo"},
        order=("Apple", "Lenovo"),
    ),
    # --- markdown tables ---------------------------------------------------------------
    _answer(
        "crm-ranked-table",
        "crm",
        """Here is how I would rank the main options for a 15-person B2B sales team:

| Rank | CRM | Why | Starting price |
|:----:|-----|-----|---------------:|
| 1 | **Pipedrive** | Fastest for reps to adopt | $14/user/mo |
| 2 | **HubSpot CRM** | Best free tier, strong marketing tools | Free |
| 3 | **Close** | Built-in calling and SMS | $49/user/mo |
| 4 | **Salesforce Starter** | Scales furthest | $25/user/mo |

If most of your pipeline comes from outbound calls, move Close up to first place.""",
        {"Pipedrive", "HubSpot", "Close", "Salesforce"},
        order=("Pipedrive", "HubSpot", "Close", "Salesforce"),
        ranks={"Pipedrive": 1, "HubSpot": 2, "Close": 3, "Salesforce": 4},
    ),
    _answer(
        "notes-comparison-table",
        "notes",
        """A quick comparison of the apps people usually shortlist for a personal knowledge base:

| App | Storage | Offline | Price |
|-----|---------|---------|-------|
| Obsidian | Local Markdown files | Yes | Free for personal use |
| Notion | Cloud | Limited | Free plan, paid from $10 |
| Logseq | Local files | Yes | Free |
| Bear | iCloud | Yes | $2.99/month |

Obsidian is the best fit if you want your notes to stay plain text you own.""",
        {"Obsidian", "Notion", "Logseq", "Bear"},
        order=("Obsidian", "Notion", "Logseq", "Bear"),
        ranks={"Obsidian": 1, "Notion": 2, "Logseq": 3, "Bear": 4},
    ),
    _answer(
        "fintech-fee-table",
        "fintech",
        """For sending €1,000 from Germany to the UK, typical costs look like this:

Provider | Fee | Exchange rate | Arrival
--- | --- | --- | ---
Wise | about €4.50 | mid-market | within hours
Revolut | free on weekdays (plan limits) | mid-market + small markup | same day
N26 | uses Wise in the app | mid-market | 1–2 days

A traditional bank transfer usually costs more because of the exchange-rate margin.""",
        {"Wise", "Revolut", "N26"},
        order=("Wise", "Revolut", "N26"),
        ranks={"Wise": 1, "Revolut": 2, "N26": 3},
    ),
    _answer(
        "email-brands-in-table-header",
        "email",
        """| Feature | Superhuman | Spark | Outlook |
|---|---|---|---|
| Split inbox | Yes | Yes | Focused Inbox |
| AI drafting | Yes | Yes | Copilot add-on |
| Price | $30/mo | Free tier | Included in Microsoft 365 |

For speed-focused power users, Superhuman is the most polished; for a free option Spark
covers most needs.""",
        {"Superhuman", "Spark", "Outlook"},
        order=("Superhuman", "Spark", "Outlook"),
    ),
    _answer(
        "chat-table-with-emoji-cells",
        "chat",
        """| Tool | Best for | Free plan |
| --- | --- | --- |
| Slack | Company-wide channels and integrations | ✅ 90 days of history |
| Microsoft Teams | Organisations on Microsoft 365 | ✅ |
| Discord | Communities and voice hang-outs | ✅ |
| Mattermost | Self-hosting and compliance | ✅ open source |""",
        {"Slack", "Microsoft Teams", "Discord", "Mattermost"},
        order=("Slack", "Microsoft Teams", "Discord", "Mattermost"),
        ranks={"Slack": 1, "Microsoft Teams": 2, "Discord": 3, "Mattermost": 4},
    ),
    _answer(
        "storage-list-then-table",
        "storage",
        """My recommendations:

1. **pCloud** – lifetime plans and client-side encryption as an add-on.
2. **Sync.com** – end-to-end encrypted by default.
3. **Dropbox** – the best sync engine, but no zero-knowledge option.

| Service | Free storage | Zero-knowledge |
|---|---|---|
| Dropbox | 2 GB | No |
| pCloud | 10 GB | Paid add-on |
| Sync.com | 5 GB | Yes |""",
        {"pCloud", "Sync.com", "Dropbox"},
        order=("pCloud", "Sync.com", "Dropbox"),
        ranks={"pCloud": 1, "Sync.com": 2, "Dropbox": 3},
    ),
    _answer(
        "devices-table-lowercase-apple",
        "devices",
        """| Laptop | Weight | Battery | Price |
|---|---|---|---|
| Dell XPS 13 | 1.2 kg | 12 h | $999 |
| Lenovo ThinkPad X1 Carbon | 1.1 kg | 15 h | $1,399 |
| HP Spectre x360 | 1.4 kg | 13 h | $1,249 |

All three are lighter than an apple crate and handle office work easily.""",
        {"Dell", "Lenovo", "HP"},
        order=("Dell", "Lenovo", "HP"),
        ranks={"Dell": 1, "Lenovo": 2, "HP": 3},
    ),
    # --- emoji-numbered and medal lists --------------------------------------------------
    _answer(
        "notes-medals",
        "notes",
        """Best note-taking apps for students in 2025:

🥇 **Notion** – one workspace for lecture notes, assignments and group projects.
🥈 **Obsidian** – fast, offline, and great for linking ideas between courses.
🥉 **Microsoft OneNote** – free, handwriting-friendly, and built into most school accounts.

Honourable mention: Google Keep for quick reminders.""",
        {"Notion", "Obsidian", "OneNote", "Google Keep"},
        order=("Notion", "Obsidian", "OneNote", "Google Keep"),
        ranks={"Notion": 1, "Obsidian": 2, "OneNote": 3},
    ),
    _answer(
        "chat-keycap-numbers",
        "chat",
        """Here are the most private messaging apps:

1️⃣ **Signal** – end-to-end encryption by default, minimal metadata, open source.
2️⃣ **WhatsApp** – uses the Signal protocol, but Meta collects metadata.
3️⃣ **Telegram** – popular, but chats are not end-to-end encrypted unless you start a
secret chat.

For work conversations, Slack and Teams are better suited than any of these.""",
        {"Signal", "WhatsApp", "Telegram", "Slack", "Microsoft Teams"},
        order=("Signal", "WhatsApp", "Telegram", "Slack", "Microsoft Teams"),
        ranks={"Signal": 1, "WhatsApp": 2, "Telegram": 3},
    ),
    _answer(
        "fintech-keycaps-without-selector",
        "fintech",
        """Top picks for freelancers who get paid in several currencies:
1\u20e3 Wise Business – local account details in 10 currencies.
2\u20e3 Revolut Business – good cards and expense tools.
3\u20e3 Mercury – if you run a US company.
Keep in mind that fees change often, so check the current price pages.""",
        {"Wise", "Revolut", "Mercury"},
        order=("Wise", "Revolut", "Mercury"),
        ranks={"Wise": 1, "Revolut": 2, "Mercury": 3},
    ),
    _answer(
        "email-emoji-headings",
        "email",
        """## The best email apps for a busy inbox

### 1️⃣ Superhuman
Keyboard shortcuts for everything and split inboxes. Expensive, but fast.

### 2️⃣ Spark Mail
Smart inbox and team features, with a generous free plan.

### 3️⃣ Microsoft Outlook
The default in most companies; the new Outlook is much faster than it used to be.

### 4️⃣ Thunderbird
Free and open source, with good support for multiple accounts.""",
        {"Superhuman", "Spark", "Outlook", "Thunderbird"},
        order=("Superhuman", "Spark", "Outlook", "Thunderbird"),
        ranks={"Superhuman": 1, "Spark": 2, "Outlook": 3, "Thunderbird": 4},
    ),
    _answer(
        "shoes-bulleted-medals",
        "shoes",
        """For a first marathon, these are the safest bets:

- 🥇 **ASICS Gel-Nimbus 26** – plush and stable over long distances.
- 🥈 **Brooks Glycerin 21** – smooth and well cushioned.
- 🥉 **Hoka Bondi 8** – maximum cushioning for heavier runners.

Try them on in the afternoon, when your feet are slightly swollen.""",
        {"ASICS", "Brooks", "Hoka"},
        order=("ASICS", "Brooks", "Hoka"),
        ranks={"ASICS": 1, "Brooks": 2, "Hoka": 3},
    ),
    _answer(
        "pm-emoji-bold-numbers",
        "pm",
        """**1️⃣ ClickUp** – best all-in-one option for agencies.
**2️⃣ Asana** – best for cross-functional projects.
**3️⃣ Trello** – best for simple boards.
**4️⃣ Wrike** – best for resource planning.""",
        {"ClickUp", "Asana", "Trello", "Wrike"},
        order=("ClickUp", "Asana", "Trello", "Wrike"),
        ranks={"ClickUp": 1, "Asana": 2, "Trello": 3, "Wrike": 4},
    ),
    # --- ordinary words in lower case or at the start of a sentence -----------------------
    _answer(
        "pm-monday-morning-lowercase",
        "pm",
        "Block an hour every monday morning to groom the backlog, and take a notion of how much "
        "work actually fits in a sprint before you commit. A linear plan rarely survives the "
        "first week. Trello's calendar Power-Up and Asana's workload view both help here.",
        {"Trello", "Asana"},
        order=("Trello", "Asana"),
    ),
    _answer(
        "email-outlook-lowercase",
        "email",
        "The outlook for email clients in 2025 is dominated by AI features. Gmail now drafts "
        "replies with Gemini, and Superhuman's AI triage is the most refined. If you're weighing "
        "options, hey, it is worth trying a couple of free trials first.",
        {"Gmail", "Superhuman"},
        order=("Gmail", "Superhuman"),
    ),
    _answer(
        "email-hey-as-brand",
        "email",
        "HEY takes an opinionated approach: new senders land in a Screener until you approve "
        "them. Hey, if that sounds too strict, Spark offers a softer version of the same idea.",
        {"HEY", "Spark"},
        order=("HEY", "Spark"),
    ),
    _answer(
        "chat-signal-and-slack-words",
        "chat",
        "A weak signal at home can make video calls painful, so test your connection first. "
        "Plan some slack time in the schedule for onboarding, and use Discord or Google Chat "
        "for the quick back-and-forth. Teams that spread out across time zones benefit most.",
        {"Discord", "Google Chat"},
        order=("Discord", "Google Chat"),
    ),
    _answer(
        "chat-sentence-start-ordinary",
        "chat",
        "Signal strength matters less than you think for text chat. Slack off on notifications "
        "after hours, and mute channels you do not need. Telegram handles large groups well.",
        {"Telegram"},
    ),
    _answer(
        "chat-signal-brand-sentence-start",
        "chat",
        "Signal is the app security researchers recommend most often. Slack is built for work, "
        "not privacy, and WhatsApp sits somewhere in between.",
        {"Signal", "Slack", "WhatsApp"},
        order=("Signal", "Slack", "WhatsApp"),
    ),
    _answer(
        "notes-bear-craft-words",
        "notes",
        "Bear in mind that no app will organise your thinking for you. Craft a simple folder "
        "structure first, keep tags to a minimum, and review notes weekly. Evernote and "
        "OneNote both make that easy with notebooks and sections.",
        {"Evernote", "OneNote"},
        order=("Evernote", "OneNote"),
    ),
    _answer(
        "notes-bear-craft-brands",
        "notes",
        "On a Mac, Bear and Craft are the two most polished apps: Bear is a fast Markdown "
        "editor, and Craft Docs produces beautiful shareable pages. Apple Notes is free and "
        "surprisingly capable if you don't need Markdown.",
        {"Bear", "Craft", "Apple Notes"},
        order=("Bear", "Craft", "Apple Notes"),
    ),
    _answer(
        "notes-obsidian-stone",
        "notes",
        "Some people decorate their desk with obsidian stones for focus; for the notes "
        "themselves, Logseq is a solid free outliner and Notion is better for team wikis.",
        {"Logseq", "Notion"},
        order=("Logseq", "Notion"),
    ),
    _answer(
        "fintech-wise-mercury-chase-words",
        "fintech",
        "It is wise to compare the total cost of a transfer, not just the fee. Don't chase the "
        "lowest advertised rate, and watch out for mercury-level swings in volatile currencies. "
        "Revolut and Monzo both show the rate before you confirm.",
        {"Revolut", "Monzo"},
        order=("Revolut", "Monzo"),
    ),
    _answer(
        "fintech-wise-brand",
        "fintech",
        "Wise is usually the cheapest way to send money abroad, and Wise's multi-currency "
        "account lets you hold 40+ currencies. Chase charges a flat wire fee plus an exchange "
        "margin, while Starling Bank passes on the Mastercard rate without a markup.",
        {"Wise", "Chase", "Starling"},
        order=("Wise", "Chase", "Starling"),
    ),
    _answer(
        "fintech-mercury-brand",
        "fintech",
        "For a Delaware startup, Mercury is the default choice: free business checking, "
        "virtual cards and an API. Otherwise, a traditional bank such as Chase gives you "
        "branches and cash deposits.",
        {"Mercury", "Chase"},
        order=("Mercury", "Chase"),
    ),
    _answer(
        "devices-apple-lowercase-and-brand",
        "devices",
        "An apple a day won't fix a slow laptop, but more memory will. Apple's base MacBook Air "
        "now ships with 16 GB, which makes it a better deal than many Windows laptops; the "
        "Lenovo Yoga Slim 7x is the closest alternative.",
        {"Apple", "Lenovo"},
        order=("Apple", "Lenovo"),
    ),
    _answer(
        "video-teams-lowercase",
        "video",
        "Remote teams often run stand-ups over video. Zoom is the most reliable for large "
        "calls, and Google Meet needs nothing installed. Small teams rarely need more.",
        {"Zoom", "Google Meet"},
        order=("Zoom", "Google Meet"),
    ),
    _answer(
        "storage-box-sentence-start-ordinary",
        "storage",
        "Box up the old hard drives before you move everything to the cloud. OneDrive is the "
        "obvious choice if you already pay for Microsoft 365, and iCloud Drive if the family "
        "uses iPhones.",
        {"OneDrive", "iCloud"},
        order=("OneDrive", "iCloud"),
    ),
    _answer(
        "crm-close-lowercase-and-copper",
        "crm",
        "To close the quarter strongly, keep the pipeline close to reality and review stalled "
        "deals weekly. Copper wire-style integrations with Google Workspace are where Copper "
        "CRM shines; HubSpot has the broader app marketplace.",
        {"Copper", "HubSpot"},
        order=("Copper", "HubSpot"),
    ),
    # --- admissions of not knowing ----------------------------------------------------------
    _answer(
        "notes-admission-only",
        "notes",
        "I do not have specific details about Logseq's latest release. I am unable to provide "
        "a summary of Logseq's roadmap, and I don't have access to browse websites like "
        "Logseq's blog.\n\nCan you tell me more about Logseq? If you describe the focus of "
        "Logseq, I can suggest how it compares with similar tools.",
        set(),
        absent={"Logseq"},
    ),
    _answer(
        "crm-admission-then-alternatives",
        "crm",
        "I'm not familiar with Copper's newest AI features, and I can't browse the web to "
        "check Copper's release notes. If you need AI assistance today, HubSpot's Breeze and "
        "Salesforce Einstein are the most mature options.",
        {"HubSpot", "Salesforce"},
        order=("HubSpot", "Salesforce"),
        absent={"Copper"},
    ),
    _answer(
        "pm-admission-request",
        "pm",
        "I don't have reliable information about Wrike's 2025 pricing. Could you share more "
        "about Wrike's plan you're looking at? In the meantime, ClickUp and Asana publish "
        "their prices openly.",
        {"ClickUp", "Asana"},
        order=("ClickUp", "Asana"),
        absent={"Wrike"},
    ),
    _answer(
        "email-admission-and-recommendation",
        "email",
        "I couldn't find information about Superhuman Teams as a separate product. That said, "
        "Superhuman itself is an excellent choice for individuals who live in their inbox, and "
        "Gmail's keyboard shortcuts get you part of the way for free.",
        {"Superhuman", "Gmail"},
        order=("Superhuman", "Gmail"),
        absent={"Superhuman"},
    ),
    _answer(
        "fintech-admission-several",
        "fintech",
        "I'm not aware of N26 or Starling offering business accounts in your country, and I "
        "cannot verify their current availability. Wise Business and Revolut Business are "
        "available almost everywhere in Europe.",
        {"Wise", "Revolut"},
        order=("Wise", "Revolut"),
        absent={"N26", "Starling"},
    ),
    _answer(
        "chat-admission-newer-tool",
        "chat",
        "Mattermost might be a newer or smaller tool than the ones I know well. For most "
        "companies the realistic choice is between Slack and Microsoft Teams.",
        {"Slack", "Microsoft Teams"},
        order=("Slack", "Microsoft Teams"),
        absent={"Mattermost"},
    ),
    _answer(
        "video-admission-question",
        "video",
        "What is Whereby? I don't have details on it. If you let me know what Whereby offers, "
        "I can compare it with Zoom and Google Meet, which I know well.",
        {"Zoom", "Google Meet"},
        order=("Zoom", "Google Meet"),
        absent={"Whereby"},
    ),
    _answer(
        "shoes-admission-model-not-brand",
        "shoes",
        "I'm not familiar with a Saucony Endorphin Speed 5 yet; it may have been released after "
        "my knowledge cutoff. The Endorphin Speed 4 is an excellent tempo shoe, and Saucony's "
        "nylon plate makes it more forgiving than carbon-plated racers.",
        {"Saucony"},
        absent={"Saucony"},
    ),
    _answer(
        "banks-admission-french-brand-english-answer",
        "banks",
        "My knowledge of LCL's current fees is limited, so please check their brochure. "
        "BNP Paribas and Société Générale publish detailed fee schedules online.",
        {"BNP Paribas", "Société Générale"},
        order=("BNP Paribas", "Société Générale"),
        absent={"LCL"},
    ),
    _answer(
        "storage-admission-browse",
        "storage",
        "As an AI, I don't have access to browse websites like pCloud or Sync.com, so I can't "
        "confirm their current lifetime-plan prices. Dropbox doesn't sell lifetime plans.",
        {"Dropbox"},
        absent={"pCloud", "Sync.com"},
    ),
    _answer(
        "crm-negative-opinion-not-admission",
        "crm",
        "I wouldn't choose Freshsales for a team that needs deep customisation, and I can't "
        "recommend Zoho CRM if you need premium support. Salesforce is the safer bet there.",
        {"Freshsales", "Zoho CRM", "Salesforce"},
        order=("Freshsales", "Zoho CRM", "Salesforce"),
    ),
    _answer(
        "pm-known-tool-with-caveat",
        "pm",
        "Basecamp is still a good fit for small agencies. I can't find a simpler tool than "
        "Basecamp for client communication, although Notion is more flexible.",
        {"Basecamp", "Notion"},
        order=("Basecamp", "Notion"),
    ),
    # --- other realistic shapes ---------------------------------------------------------------
    _answer(
        "answer-without-reasoning-block",
        "notes",
        "For a researcher managing hundreds of papers, Obsidian with the Zotero plugin is the "
        "strongest setup: every note links back to its source. Notion works if you prefer "
        "databases, but it is slower with large vaults.",
        {"Obsidian", "Notion"},
        order=("Obsidian", "Notion"),
    ),
    _answer(
        "email-lowercase-gmail-and-proton",
        "email",
        "if privacy matters most, protonmail is the usual recommendation; gmail is convenient "
        "but scans metadata for ads. thunderbird works with both.",
        {"Proton Mail", "Gmail", "Thunderbird"},
        order=("Proton Mail", "Gmail", "Thunderbird"),
    ),
    _answer(
        "chat-teams-alias-case",
        "chat",
        "Microsoft Teams is included with most Microsoft 365 business plans, which is why many "
        "companies never evaluate alternatives. Teams also integrates with SharePoint. If your "
        "engineering teams prefer Slack, you can run both, but expect duplicate conversations.",
        {"Microsoft Teams", "Slack"},
        order=("Microsoft Teams", "Slack"),
    ),
    _answer(
        "fintech-numbered-with-nested",
        "fintech",
        """Here's how I would choose:

1. **Wise** – best for one-off international transfers.
   - Transparent fees shown before you pay.
   - Works well alongside a Monzo or Starling current account.
2. **Revolut** – best if you also want budgeting tools and a travel card.
3. **Monzo** – best UK everyday bank with fee-free spending abroad.""",
        {"Wise", "Monzo", "Starling", "Revolut"},
        order=("Wise", "Monzo", "Starling", "Revolut"),
        ranks={"Wise": 1, "Monzo": 1, "Starling": 1, "Revolut": 2},
    ),
    _answer(
        "notes-heading-items-title-case",
        "notes",
        """## Notion: Best for Teams
Shared databases, permissions and templates.

## Obsidian: Best for Personal Knowledge
Local files, backlinks and plugins.

## Evernote: Best for Web Clipping
Still the strongest clipper and search inside PDFs.""",
        {"Notion", "Obsidian", "Evernote"},
        order=("Notion", "Obsidian", "Evernote"),
        ranks={"Notion": 1, "Obsidian": 2, "Evernote": 3},
    ),
    _answer(
        "video-markdown-table-and-prose",
        "video",
        """| Platform | Max participants (free) | Time limit (free) |
|---|---|---|
| Google Meet | 100 | 60 min for groups |
| Zoom | 100 | 40 min |
| Webex | 100 | 40 min |

Zoom in on the time limits: that is where the free plans differ most.""",
        {"Google Meet", "Zoom", "Webex"},
        order=("Google Meet", "Zoom", "Webex"),
        ranks={"Google Meet": 1, "Zoom": 2, "Webex": 3},
    ),
    _answer(
        "shoes-german-admission-free",
        "shoes",
        "Für breite Füße empfehle ich New Balance, da viele Modelle in 2E und 4E erhältlich "
        "sind. Auch Brooks und ASICS bieten breite Varianten an.",
        {"New Balance", "Brooks", "ASICS"},
        order=("New Balance", "Brooks", "ASICS"),
    ),
    _answer(
        "banks-french-lowercase-words",
        "banks",
        "Une société générale de services peut ouvrir un compte chez Boursorama ou chez "
        "Revolut Business en quelques minutes.",
        {"Boursorama", "Revolut"},
        order=("Boursorama", "Revolut"),
    ),
    _answer(
        "crm-citations-footnotes-and-urls",
        "crm",
        """Pipedrive is the most popular CRM among small sales teams in recent surveys [1], while
HubSpot leads among marketing-led companies [2].

[1] https://www.pipedrive.com/en/blog/crm-survey
[2] https://blog.hubspot.com/marketing/state-of-marketing""",
        {"Pipedrive", "HubSpot"},
        order=("Pipedrive", "HubSpot"),
    ),
    _answer(
        "email-spark-word",
        "email",
        "A good subject line should spark curiosity without sounding like spam. Spark joy in "
        "your inbox by unsubscribing aggressively. Superhuman's Split Inbox makes that easier.",
        {"Superhuman"},
    ),
    _answer(
        "email-spark-brand-list",
        "email",
        """- **Spark** is free for personal use and has a clean smart inbox.
- **Gmail** has the best spam filter.
- **Outlook** is the standard in enterprises.""",
        {"Spark", "Gmail", "Outlook"},
        order=("Spark", "Gmail", "Outlook"),
        ranks={"Spark": 1, "Gmail": 2, "Outlook": 3},
    ),
    _answer(
        "banks-numbered-french",
        "banks",
        """Voici les banques les mieux notées pour un premier compte :

1. **Boursorama** – la moins chère, carte gratuite sous condition de revenus.
2. **Revolut** – idéal pour voyager et payer en devises.
3. **Crédit Agricole** – un conseiller en agence dans presque chaque ville.
4. **BNP Paribas** – une offre jeunes complète.
5. **LCL** – des frais de tenue de compte réduits pour les étudiants.""",
        {"Boursorama", "Revolut", "Crédit Agricole", "BNP Paribas", "LCL"},
        order=("Boursorama", "Revolut", "Crédit Agricole", "BNP Paribas", "LCL"),
        ranks={"Boursorama": 1, "Revolut": 2, "Crédit Agricole": 3, "BNP Paribas": 4, "LCL": 5},
    ),
    _answer(
        "crm-admission-inside-list",
        "crm",
        """Shortlist for a services company:

1. **HubSpot** – free CRM, good for inbound leads.
2. **Pipedrive** – simple pipeline, quick to adopt.
3. **Zoho CRM** – cheapest of the serious options.
4. **Copper** – I don't have reliable details on Copper's current pricing, so please check
   it directly before you decide.""",
        # Copper is on the shortlist (item 4): only its second reference is an admission.
        {"HubSpot", "Pipedrive", "Zoho CRM", "Copper"},
        order=("HubSpot", "Pipedrive", "Zoho CRM", "Copper"),
        ranks={"HubSpot": 1, "Pipedrive": 2, "Zoho CRM": 3, "Copper": 4},
        absent={"Copper"},
    ),
    _answer(
        "devices-medal-phones",
        "devices",
        """🥇 **Google Pixel 9** – the best camera for the price and seven years of updates.
🥈 **iPhone 16** – the smoothest experience if you already use a Mac.
🥉 **Samsung Galaxy S24** – the brightest screen and great zoom.

Pixel and Galaxy phones both get long software support now.""",
        {"Google Pixel", "Apple", "Samsung"},
        order=("Google Pixel", "Apple", "Samsung"),
        ranks={"Google Pixel": 1, "Apple": 2, "Samsung": 3},
    ),
    _answer(
        "video-numbered-with-teams-lowercase",
        "video",
        """For webinars with up to 500 attendees:

1. **Zoom Webinars** – the most familiar join experience for attendees.
2. **Microsoft Teams** – town halls are included in many Microsoft 365 plans.
3. **Webex Webinars** – strong moderation and Q&A.
4. **GoTo Meeting** – reliable, but webinars need the separate GoTo Webinar product.

Large teams should test the registration flow before the event.""",
        {"Zoom", "Microsoft Teams", "Webex", "GoTo Meeting"},
        order=("Zoom", "Microsoft Teams", "Webex", "GoTo Meeting"),
        ranks={"Zoom": 1, "Microsoft Teams": 2, "Webex": 3, "GoTo Meeting": 4},
    ),
    _answer(
        "chat-table-pipe-less",
        "chat",
        """App | Encryption | Self-hosting
--- | --- | ---
Signal | End-to-end by default | No
Mattermost | In transit and at rest | Yes
Telegram | Only in secret chats | No
WhatsApp | End-to-end by default | No""",
        {"Signal", "Mattermost", "Telegram", "WhatsApp"},
        order=("Signal", "Mattermost", "Telegram", "WhatsApp"),
        ranks={"Signal": 1, "Mattermost": 2, "Telegram": 3, "WhatsApp": 4},
    ),
    # Hedges that go on to recommend the brand are mentions, not admissions.
    _answer(
        "crm-hedge-pricing-then-best",
        "crm",
        "I can't provide real-time pricing for HubSpot, but it's the best free CRM for small "
        "teams.\nThe free plan covers contacts, deals and email tracking, which is all most "
        "teams need at first.",
        {"HubSpot"},
        order=("HubSpot",),
    ),
    _answer(
        "crm-hedge-charges-then-top-pick",
        "crm",
        """I'm not sure what HubSpot charges today, but it is my top pick for startups. If the
budget is tight later on, Zoho CRM is the cheaper step up.""",
        {"HubSpot", "Zoho CRM"},
        order=("HubSpot", "Zoho CRM"),
    ),
    _answer(
        "crm-hedge-tier-then-excellent",
        "crm",
        """I can't speak to HubSpot's enterprise tier, but its free CRM is excellent. For a
five-person agency I would start there and revisit in a year.""",
        {"HubSpot"},
        order=("HubSpot",),
    ),
    _answer(
        "crm-choice-between-named-brands",
        "crm",
        """Both are good fits for a small sales team: HubSpot is better for inbound marketing and
Pipedrive for a hands-on pipeline.

Let me know which of HubSpot or Pipedrive fits your budget best.""",
        {"HubSpot", "Pipedrive"},
        order=("HubSpot", "Pipedrive"),
    ),
    _answer(
        "crm-only-the-choice-sentence",
        "crm",
        "Let me know which of HubSpot or Pipedrive fits your budget best.",
        {"HubSpot", "Pipedrive"},
        order=("HubSpot", "Pipedrive"),
    ),
    _answer(
        "pm-while-cannot-verify-pricing",
        "pm",
        """While I can't verify Asana's current pricing, Asana is widely regarded as one of the
easiest project tools to roll out across a company. Trello is simpler still for small boards.""",
        {"Asana", "Trello"},
        order=("Asana", "Trello"),
    ),
    _answer(
        "storage-latest-figures-though-strong-choice",
        "storage",
        """I don't have the latest figures for Dropbox, though Dropbox remains a strong choice for
sharing large files with clients. If you already pay for Microsoft 365, OneDrive is included.""",
        {"Dropbox", "OneDrive"},
        order=("Dropbox", "OneDrive"),
    ),
    _answer(
        "email-cannot-check-plans-but-recommend",
        "email",
        """I can't check Superhuman's current plans, but I'd recommend it if you live in your inbox
and want keyboard shortcuts for everything. Spark is the free alternative with a shared inbox.""",
        {"Superhuman", "Spark"},
        order=("Superhuman", "Spark"),
    ),
    _answer(
        "notes-hedge-and-real-admission",
        "notes",
        """I'm unable to confirm Obsidian's latest sync pricing; however, it remains the most
popular choice for local-first notes. I don't have reliable information about Craft, so I
would compare it yourself before switching.""",
        # Craft is the object of a real admission; Obsidian's hedge turns into praise.
        {"Obsidian"},
        order=("Obsidian",),
        absent={"Craft"},
    ),
    _answer(
        "chat-hedge-features-and-request",
        "chat",
        """I can't speak to the features of Mattermost's newest release, but it is a solid pick
when you need to self-host. Can you tell me more about Google Chat in your company? If
your team is already on Slack, staying there is usually cheapest.""",
        # "tell me more about Google Chat" is a request for information.
        {"Mattermost", "Slack"},
        order=("Mattermost", "Slack"),
        absent={"Google Chat"},
    ),
]
