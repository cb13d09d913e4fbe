"""The account lifecycle and its privacy duties: retention of stored data, export of a
user's data, erasure of an account (GDPR Art. 15, 17, 20)."""
