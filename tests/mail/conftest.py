from __future__ import annotations

from collections.abc import Iterator

import pytest

from echo_ai.config import Settings
from tests.mail.smtp import SmtpServer, smtp_server


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SmtpServer]:
    """A local SMTP server (aiosmtpd) that the test's settings send to, in the clear."""
    with smtp_server() as server:
        settings.mail.smtp_host, settings.mail.smtp_port = server.host, server.port
        settings.mail.smtp_security = "none"
        settings.mail.smtp_timeout_seconds = 10
        yield server
