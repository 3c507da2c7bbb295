"""Logging set up once in `main()`: journal-friendly, and unable to leak the token.

Third-party loggers are capped at INFO even when we debug: python-telegram-bot logs whole
updates (user ids, names, texts) at DEBUG, and httpx logs request URLs, which carry the
token. A redaction filter on the handler is the second line of defence.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable

REDACTED = "[REDACTED]"
# Anything shaped like a bot token, even one we were not told about. Not `\b`-anchored: in
# the URLs httpx and PTB log, the token follows "/bot" directly ("/bot123:AAE…/getMe"), and
# a secret may end in "-" or "_".
_TOKEN_SHAPE = re.compile(r"(?<!\d)\d{5,15}:[A-Za-z0-9_-]{30,}")
_QUIET_LOGGERS = {"httpx": logging.WARNING, "httpcore": logging.WARNING}
_CAPPED_LOGGERS = ("telegram", "apscheduler", "asyncio")


# PTB logs the raw JSON of an update it cannot read (user ids, names, texts) at CRITICAL,
# after this mark: in webhook mode for every such update.
_RAW_UPDATE_MARK = "Received data was"


class RawUpdateFilter(logging.Filter):
    """Cut the update content out of PTB's "could not process" messages: no user data in logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, minus everything from the mark on."""
        if (
            record.name.startswith("telegram")
            and isinstance(record.msg, str)
            and _RAW_UPDATE_MARK in record.msg
        ):
            head = record.msg.split(_RAW_UPDATE_MARK, 1)[0].rstrip()
            record.msg = f"{head} (the update's content is not logged)"
            record.args = None
        return True


class RedactingFilter(logging.Filter):
    """Replace secrets (and anything token-shaped) in the final message with [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, scrub it, and freeze the result into the record."""
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, REDACTED)
        message = _TOKEN_SHAPE.sub(REDACTED, message)
        record.msg = message
        record.args = None
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            text = record.exc_text
            for secret in self.secrets:
                text = text.replace(secret, REDACTED)
            record.exc_text = _TOKEN_SHAPE.sub(REDACTED, text)
        return True


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Log to stderr; without timestamps under systemd, whose journal adds its own."""
    under_journal = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not under_journal:
        fmt = "%(asctime)s " + fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(RawUpdateFilter())  # before RedactingFilter renders the message
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    for name, quiet in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
    for name in _CAPPED_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
