"""load_settings: RETURNBOT_* parsing, systemd credentials, one-line errors, no leaked secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings, SettingsError, load_settings

TOKEN = "7350123:AAF-settingsTestToken_aBcDeFgHiJk"  # noqa: S105 - a made-up token
OTHER_TOKEN = "7350123:AAF-environmentToken_zYxWvUtSrQ"  # noqa: S105 - a made-up token
WEBHOOK_SECRET = "webhook-secret-QwErTy-123456"  # noqa: S105 - a made-up secret


def error_of(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert "\n" not in message  # one line for the operator
    return message


# --------------------------------------------------------------------------------------------
# Values


def test_defaults_without_any_setting() -> None:
    settings = load_settings({})
    assert settings.token is None  # the local chat mode
    assert settings.admin_ids == frozenset()
    assert settings.log_level == "INFO"
    assert settings.watch_knowledge is True
    assert settings.knowledge_dir.is_dir()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123", {123}),
        ("1, 22 ,333", {1, 22, 333}),
        ("7,7,8,", {7, 8}),
        ("", set()),
        (" ", set()),
    ],
    ids=["one", "spaces", "duplicate-and-trailing-comma", "empty", "blank"],
)
def test_admin_ids_are_comma_separated_numbers(raw: str, expected: set[int]) -> None:
    assert load_settings({"RETURNBOT_ADMIN_IDS": raw}).admin_ids == frozenset(expected)


@pytest.mark.parametrize(
    "raw",
    ["12,abc", "1;2", "-5", "1.5", "[1, 2]", "@someadmin"],
    ids=["word", "semicolon", "negative", "decimal", "json-list", "username"],
)
def test_bad_admin_ids_are_refused_with_the_setting_named(raw: str) -> None:
    message = error_of({"RETURNBOT_ADMIN_IDS": raw})
    assert message.startswith("invalid setting RETURNBOT_ADMIN_IDS:")
    assert "comma-separated numeric" in message


@pytest.mark.parametrize("raw", ["debug", "Debug", "DEBUG", "warning"])
def test_log_level_is_case_insensitive(raw: str) -> None:
    assert load_settings({"RETURNBOT_LOG_LEVEL": raw}).log_level == raw.upper()


def test_unknown_log_level_is_refused() -> None:
    assert error_of({"RETURNBOT_LOG_LEVEL": "verbose"}).startswith(
        "invalid setting RETURNBOT_LOG_LEVEL:"
    )


def test_rate_limit_zero_switches_the_overall_limit_off() -> None:
    assert load_settings({"RETURNBOT_RATE_LIMIT": "0"}).rate_limit == 0
    assert error_of({"RETURNBOT_RATE_LIMIT": "-1"}).startswith(
        "invalid setting RETURNBOT_RATE_LIMIT:"
    )


def test_names_are_case_insensitive() -> None:
    assert load_settings({"returnbot_admin_ids": "5"}).admin_ids == {5}


def test_token_is_stripped_and_checked_for_shape() -> None:
    assert load_settings({"RETURNBOT_TOKEN": f" {TOKEN}\n"}).token.get_secret_value() == TOKEN  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw",
    ["12345:short", "nonNumericBotId:AAF-settingsTestToken_aBcDeFgHiJk", TOKEN.replace(":", "")],
    ids=["short-secret", "no-bot-id", "no-colon"],
)
def test_malformed_token_is_refused_without_echoing_it(raw: str) -> None:
    message = error_of({"RETURNBOT_TOKEN": raw})
    assert message.startswith("invalid setting RETURNBOT_TOKEN:")
    assert raw not in message
    for part in raw.split(":"):
        assert part not in message


# --------------------------------------------------------------------------------------------
# Unknown settings


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("RETURNBOT_TOKN", "RETURNBOT_TOKEN"),
        ("RETURNBOT_ADMIN_ID", "RETURNBOT_ADMIN_IDS"),
        ("returnbot_log_levle", "RETURNBOT_LOG_LEVEL"),
        ("RETURNBOT_WATCH_KNOWLEGDE", "RETURNBOT_WATCH_KNOWLEDGE"),
    ],
)
def test_unknown_setting_gets_a_did_you_mean(name: str, suggestion: str) -> None:
    message = error_of({name: TOKEN})
    assert f"unknown setting {name} (did you mean {suggestion}?)" in message
    assert TOKEN.partition(":")[2] not in message  # whatever the value was, it is not echoed


def test_unknown_setting_without_a_close_name_has_no_guess() -> None:
    assert error_of({"RETURNBOT_QQQQQQQQQQQQ": "1"}) == "unknown setting RETURNBOT_QQQQQQQQQQQQ"


def test_all_unknown_settings_are_listed_on_one_line() -> None:
    message = error_of({"RETURNBOT_TOKN": "x", "RETURNBOT_ADMIN_ID": "1"})
    assert "RETURNBOT_TOKN" in message
    assert "RETURNBOT_ADMIN_ID " in message


def test_other_variables_are_not_settings() -> None:
    load_settings({"PATH": "/bin", "RETURNBOTX": "1", "TOKEN": "whatever"})


# --------------------------------------------------------------------------------------------
# The token from systemd's credentials directory


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    return directory


def test_credential_file_wins_over_the_environment(credentials: Path) -> None:
    (credentials / "returnbot_token").write_text(TOKEN + "\n", encoding="utf-8")
    settings = load_settings(
        {"CREDENTIALS_DIRECTORY": str(credentials), "RETURNBOT_TOKEN": OTHER_TOKEN}
    )
    assert settings.token is not None
    assert settings.token.get_secret_value() == TOKEN


@pytest.mark.parametrize("content", ["\n", "", None])
def test_a_blank_or_absent_credential_leaves_the_environment_token(
    credentials: Path, content: str | None
) -> None:
    """The unit's SetCredential= fallback passes a blank file when /etc/returnbot/token is
    missing: the operator's RETURNBOT_TOKEN (from the 0600 environment file) is used."""
    if content is not None:
        (credentials / "returnbot_token").write_text(content, encoding="utf-8")
    settings = load_settings(
        {"CREDENTIALS_DIRECTORY": str(credentials), "RETURNBOT_TOKEN": OTHER_TOKEN}
    )
    assert settings.token is not None
    assert settings.token.get_secret_value() == OTHER_TOKEN


def test_a_blank_credential_and_no_environment_token_means_no_token(credentials: Path) -> None:
    (credentials / "returnbot_token").write_text("\n", encoding="utf-8")
    assert load_settings({"CREDENTIALS_DIRECTORY": str(credentials)}).token is None


def test_a_missing_credentials_directory_falls_back_to_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {"CREDENTIALS_DIRECTORY": str(tmp_path / "absent"), "RETURNBOT_TOKEN": OTHER_TOKEN}
    )
    assert settings.token is not None
    assert settings.token.get_secret_value() == OTHER_TOKEN


def test_malformed_credential_file_is_refused_without_echoing_it(credentials: Path) -> None:
    (credentials / "returnbot_token").write_text("12345:short\n", encoding="utf-8")
    message = error_of({"CREDENTIALS_DIRECTORY": str(credentials)})
    assert message.startswith("invalid setting RETURNBOT_TOKEN:")
    assert "short" not in message


# --------------------------------------------------------------------------------------------
# Secrets stay secret; the process environment is left as it was


def test_secrets_never_appear_in_repr_str_or_dumps() -> None:
    settings = load_settings(
        {"RETURNBOT_TOKEN": TOKEN, "RETURNBOT_WEBHOOK_SECRET": WEBHOOK_SECRET}
    )
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(settings.token)]
    shown.append(str(settings.model_dump()))
    for text in shown:
        assert TOKEN.partition(":")[2] not in text
        assert WEBHOOK_SECRET not in text
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == WEBHOOK_SECRET


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValidationError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_load_settings_leaves_the_process_environment_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RETURNBOT_LOG_LEVEL", "ERROR")
    before = dict(os.environ)
    settings = load_settings({"RETURNBOT_LOG_LEVEL": "debug", "RETURNBOT_TOKEN": TOKEN})
    assert settings.log_level == "DEBUG"  # only the mapping passed in counts
    assert dict(os.environ) == before
    assert load_settings().log_level == "ERROR"  # without a mapping: the real environment


def test_keyword_overrides_win_over_the_environment() -> None:
    settings = load_settings({"RETURNBOT_LOG_LEVEL": "ERROR"}, log_level="WARNING")
    assert settings.log_level == "WARNING"
    assert isinstance(settings, Settings)
