"""bot.logs: the token can't reach a log line, and chatty third-party loggers stay capped."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logs import REDACTED, RedactingFilter, configure_logging

TOKEN = "123456:" + "A" * 35
SECRET = TOKEN.split(":", 1)[1]


def _render(record: logging.LogRecord, secrets: tuple[str, ...] = (TOKEN,)) -> str:
    """What a production handler writes for this record."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    handler.handle(record)
    stream = handler.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def _record(msg: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.INFO, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_token_in_the_message_is_redacted() -> None:
    out = _render(_record(f"POST https://api.telegram.org/bot{TOKEN}/getMe"))
    assert SECRET not in out
    assert REDACTED in out


def test_token_in_the_arguments_is_redacted() -> None:
    out = _render(_record("calling %s with %r", f"/bot{TOKEN}/getUpdates", {"t": TOKEN}))
    assert SECRET not in out
    assert out.count(REDACTED) == 2


def test_token_in_an_exception_traceback_is_redacted() -> None:
    try:
        raise RuntimeError(f"connect failed for https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError as exc:
        record = _record("request failed", exc_info=(type(exc), exc, exc.__traceback__))
    out = _render(record)
    assert "Traceback" in out
    assert "RuntimeError" in out
    assert SECRET not in out


def test_token_in_a_chained_exception_is_redacted() -> None:
    try:
        try:
            raise ValueError(TOKEN)
        except ValueError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        record = _record("failed", exc_info=(type(exc), exc, exc.__traceback__))
    assert SECRET not in _render(record)


@pytest.mark.parametrize(
    "text",
    [
        "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ",
        "token=987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ;",
        "https://api.telegram.org/bot987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ/getMe",
        "bot987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-_",
    ],
    ids=["bare", "in-assignment", "in-url", "ends-with-dash"],
)
def test_token_shaped_strings_are_redacted_even_when_unknown(text: str) -> None:
    out = _render(_record("saw %s", text), secrets=())
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "text",
    ["12:30 meeting", "ratio 3:1", "2024-05-20T12:00:00", "entry alexey: 3 answers"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert text in _render(_record(text), secrets=())


def test_record_is_frozen_once_redacted() -> None:
    """Later handlers (journal, pytest) see the scrubbed text, not the raw arguments."""
    record = _record("token %s", TOKEN)
    RedactingFilter([TOKEN]).filter(record)
    assert record.args is None
    assert SECRET not in record.getMessage()


def test_empty_secrets_are_ignored() -> None:
    record = _record("nothing to hide")
    RedactingFilter(["", TOKEN]).filter(record)
    assert record.getMessage() == "nothing to hide"


@pytest.mark.usefixtures("restore_logging")
def test_third_party_loggers_are_capped_even_at_debug() -> None:
    configure_logging("DEBUG", [TOKEN])
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("bot.answers").getEffectiveLevel() == logging.DEBUG
    # httpx logs request URLs (which carry the token); PTB logs whole updates at DEBUG.
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("httpcore").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("telegram").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("telegram.ext.Updater").getEffectiveLevel() == logging.INFO
    assert not logging.getLogger("telegram.ext.Updater").isEnabledFor(logging.DEBUG)


@pytest.mark.usefixtures("restore_logging")
def test_quiet_level_is_not_lowered_for_third_party_loggers() -> None:
    configure_logging("ERROR", [TOKEN])
    assert logging.getLogger("telegram").getEffectiveLevel() == logging.ERROR
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_installs_one_redacting_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    configure_logging("INFO", [TOKEN])
    configure_logging("INFO", [TOKEN])  # called twice: still one handler, no duplicate lines
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    logging.getLogger("bot.test").info("token is %s", TOKEN)
    assert SECRET not in buffer.getvalue()
    assert "token is [REDACTED]" in buffer.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_under_the_journal_lines_carry_no_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    configure_logging("INFO")
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    logging.getLogger("bot.test").warning("hello")
    assert buffer.getvalue() == "WARNING bot.test: hello\n"
