"""A real SMTP server for the tests (``aiosmtpd``, in a thread): it keeps the messages it
accepts, can refuse the next ones with a temporary error (451), require STARTTLS and a
login, like a mail relay would."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.live import free_port


@dataclass
class Recorder:
    """The handler: what was accepted, and how many more DATA commands to refuse."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    refuse_next: int = 0
    refused: int = 0

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            self.refused += 1
            return "451 4.3.0 Try again later"
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: Recorder
    username: str | None = None
    password: str | None = None
    cert_file: Path | None = None


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost``/127.0.0.1 and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def smtp_server(
    *, tls_directory: Path | None = None, username: str | None = None, password: str | None = None
) -> Iterator[SmtpServer]:
    """A running server on a free local port; with ``tls_directory``, STARTTLS is required
    (a self-signed certificate written there), with ``username``, a login too."""
    recorder = Recorder()
    port = free_port()
    options: dict[str, Any] = {}
    cert_file = None
    if tls_directory is not None:
        cert_file, key_file = self_signed_certificate(tls_directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        options.update(tls_context=context, require_starttls=True)
    if username is not None:

        def authenticate(
            server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == username
                and data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False)

        options.update(authenticator=authenticate, auth_required=True)
        if tls_directory is None:
            options.update(auth_require_tls=False)
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, recorder, username, password, cert_file)
    finally:
        controller.stop()
