"""Updates a real Bot API sends that the everyday helpers don't: forum topics, inline-mode
echoes, stale button presses, unreadable updates, next-page inline queries.

Like test_bot, one bot serves the module and every test talks as its own user, through real
HTTP to the fake Bot API.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.bot_api import FakeBotAPI, JSONDict
from test_bot import new_user, reply_to, text_of

_forum_ids = itertools.count(-100_800_000_001, -1)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token="123456:" + "A" * 35) as api:
        yield api
    assert api.server_errors == []


@pytest.fixture(scope="module")
def bot(
    fake: FakeBotAPI,
    tmp_path_factory: pytest.TempPathFactory,
    bot_factory: Any,
    settings_factory: Callable[..., Any],
) -> Iterator[Any]:
    with bot_factory(settings_factory(fake, tmp_path_factory.mktemp("data")), fake) as running:
        yield running


@pytest.fixture
def user() -> JSONDict:
    return new_user()


def new_forum() -> JSONDict:
    return {"id": next(_forum_ids), "type": "supergroup", "title": "Forum", "is_forum": True}


# ------------------------------------------------------------------------------ unreadable


def test_an_update_the_library_cannot_read_is_skipped_and_its_content_never_logged(
    bot: Any, fake: FakeBotAPI, user: JSONDict, caplog: pytest.LogCaptureFixture
) -> None:
    """One malformed update must not stall polling (PTB refetched its batch forever)."""
    private = "private words 7391"
    bad = fake.send_raw_update({"message": {"message_id": 1, "text": private}})  # no chat/date
    fake.send_text("Who is Evgeniy?", user=user)
    assert text_of(reply_to(fake, user["id"])).startswith("Evgeniy")
    fake.wait_for("getUpdates", lambda p: int(p.get("offset") or 0) > bad["update_id"])
    assert private not in caplog.text
    assert str(user["id"]) not in caplog.text
    assert any(
        r.levelno == logging.WARNING and str(bad["update_id"]) in r.getMessage()
        for r in caplog.records
    )
