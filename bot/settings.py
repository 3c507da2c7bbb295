"""Runtime settings from RETURNBOT_* environment variables and systemd credentials.

Built once in `main()` and passed down; never a module-level global, so tests and
reloads construct their own.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.knowledge.paths import default_knowledge_dir

ENV_PREFIX = "RETURNBOT_"
TOKEN_FILE = "returnbot_token"  # noqa: S105 - a file name, not a secret
# Telegram tokens look like "123456789:AAE…" (a numeric bot id, a colon, a secret).
_TOKEN_RE = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{20,100}$")


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line for the operator."""


class Settings(BaseSettings):
    """Everything an operator can configure; see deploy/returnbot.env.example."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", case_sensitive=False, frozen=True
    )

    token: SecretStr | None = None
    bot_api_url: str = "https://api.telegram.org/bot"
    knowledge_dir: Path = Field(default_factory=default_knowledge_dir)
    data_dir: Path | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    rate_limit: float = Field(default=30.0, ge=0)
    user_throttle: int = Field(default=20, ge=0)
    gaps_retention_days: int = Field(default=90, ge=1)
    gaps_max_rows: int = Field(default=10_000, ge=100)
    watch_knowledge: bool = True
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1:8443"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not all(re.fullmatch(r"\d+", p) for p in parts):
                raise ValueError(
                    "expected comma-separated numeric Telegram user ids, e.g. 123,456"
                )
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("token", mode="after")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_RE.match(value.get_secret_value().strip()):
            # Never echo the value: it may be a real token with a typo.
            raise ValueError(
                "does not look like a Telegram bot token (expected <digits>:<secret>)"
            )
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003 - pydantic-settings' signature
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files here
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Let a credential file win over the environment."""
        return (init_settings, file_secret_settings, env_settings)


def _unknown_settings(environ: Mapping[str, str]) -> list[str]:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    lines = []
    for key in sorted(environ):
        if key.upper().startswith(ENV_PREFIX) and key.upper() not in known:
            guess = difflib.get_close_matches(key.upper(), sorted(known), n=1)
            hint = f" (did you mean {guess[0]}?)" if guess else ""
            lines.append(f"unknown setting {key}{hint}")
    return lines


def _holds_token(path: Path) -> bool:
    """Whether a credential file exists with anything but whitespace in it."""
    try:
        return bool(path.read_bytes().strip())
    except OSError:
        return False


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings, or raise SettingsError with one clear line.

    When systemd's $CREDENTIALS_DIRECTORY holds a non-blank file `returnbot_token`, the
    token is read from it and a RETURNBOT_TOKEN in the environment is ignored, so the
    secret never has to sit in the environment or a process list. A blank one is what the
    unit passes when /etc/returnbot/token does not exist (its SetCredential= fallback,
    which keeps a missing file from failing the start): then RETURNBOT_TOKEN is used.
    """
    env = dict(os.environ if environ is None else environ)
    unknown = _unknown_settings(env)
    if unknown:
        raise SettingsError("; ".join(unknown))
    credentials = env.get("CREDENTIALS_DIRECTORY")
    secrets_dir = Path(credentials) if credentials and Path(credentials).is_dir() else None
    if secrets_dir is not None and not _holds_token(secrets_dir / TOKEN_FILE):
        secrets_dir = None
    if secrets_dir is not None:
        env.pop(f"{ENV_PREFIX}TOKEN", None)
        env.pop(f"{ENV_PREFIX}TOKEN".lower(), None)
    saved = dict(os.environ)
    try:
        # pydantic-settings reads os.environ; present exactly the mapping we decided on.
        os.environ.clear()
        os.environ.update(env)
        return Settings(_secrets_dir=secrets_dir, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else ENV_PREFIX
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {message}") from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
