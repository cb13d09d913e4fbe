"""Outgoing e-mail: a queue of mails in the database, sent over SMTP (or written to the
outbox folder when no SMTP server is configured), retried with back-off."""
