"""A fake Telegram Bot API server that real python-telegram-bot talks to over 127.0.0.1.

Why: handler and application tests should exercise the exact bytes PTB sends (form fields with
JSON inside, multipart uploads, long polling) and meet Telegram-like failures (HTML entity
errors, 64-byte callback data, 429 flood waits) without a token or any network access.

Usage::

    with FakeBotAPI() as fake:
        app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
        ...
        fake.send_text("hi")
        reply = fake.wait_for_reply(fake.default_user["id"])  # await ..._async() in a loop
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import itertools
import json
import re
import selectors
import socket
import socketserver
import string
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

JSONDict = dict[str, Any]
Predicate = Callable[[JSONDict], bool]

DEFAULT_TOKEN = "123456:TEST"  # noqa: S105 - a fake token for a fake server
BOT_FIRST_NAME = "ReturnBot"
BOT_USERNAME = "returnbot_test_bot"
DEFAULT_USER: JSONDict = {
    "id": 424242,
    "is_bot": False,
    "first_name": "Tess",
    "username": "tess_tester",
    "language_code": "en",
}
DEFAULT_GROUP_ID = -4242
DEFAULT_SUPERGROUP_ID = -1001234567890

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_INLINE_RESULTS = 50
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_COMMANDS = 100

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

# Telegram delivers everything except these when allowed_updates was never set (or set to []).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

# PTB sends every non-string value as JSON text inside a form field; these fields are genuinely
# strings, so decoding them as JSON would turn a message "42" or "true" into a number/bool.
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "query",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "url",
        "description",
        "short_description",
        "name",
        "title",
        "language_code",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "secret_token",
        "ip_address",
        "action",
        "emoji",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "address",
        "business_connection_id",
        "message_effect_id",
        "custom_emoji_id",
        "file_id",
        "photo",
        "document",
        "audio",
        "video",
        "voice",
        "animation",
        "sticker",
        "video_note",
        "thumbnail",
        "certificate",
        "question",
        "explanation",
        "payload",
    }
)


# --------------------------------------------------------------------------------------------
# Errors and records


class BotAPIError(Exception):
    """A Bot API failure; the server turns it into ``{"ok": false, ...}`` with its status."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        """The JSON body Telegram sends for this error."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {detail}")


class EntityParseError(ValueError):
    """An HTML parse failure worded like tdlib, e.g. 'Unsupported start tag "foo" at ...'."""


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request, kept so tests can check what was uploaded."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One answered request; unpacks as ``(method, params)``, keeps the response for asserts."""

    seq: int
    method: str
    params: JSONDict
    status: int
    response: JSONDict

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.params))

    @property
    def ok(self) -> bool:
        """Whether the fake answered with success."""
        return self.status == 200

    @property
    def result(self) -> Any:
        """The ``result`` field (a Message dict for send/edit methods), None on errors."""
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        """The error description, None on success."""
        return self.response.get("description")


@dataclass(slots=True)
class _Failure:
    error_code: int
    description: str
    parameters: JSONDict | None
    remaining: int


# --------------------------------------------------------------------------------------------
# Text: UTF-16 offsets, Telegram's HTML parser, client-side entity detection


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "tg-spoiler",
        "span",
        "tg-emoji",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_SPACES = frozenset(b" \t\r\n\v\f\x00")  # NUL included: it is the end-of-text sentinel
_ALPHA = frozenset(string.ascii_letters.encode())
_DIGITS = frozenset(string.digits.encode())
_HEX = frozenset(string.hexdigits.encode())
_NAME_TOKEN = frozenset((string.ascii_letters + string.digits + ".-").encode())
_NAMED_ENTITIES = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}
_LT, _GT, _AMP, _SLASH, _EQ, _SEMI = 0x3C, 0x3E, 0x26, 0x2F, 0x3D, 0x3B


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    byte_offset: int
    expandable: bool


def _decode_html_entity(data: bytes, pos: int) -> tuple[int, int]:
    """Code point and end of the entity at ``data[pos] == '&'``, or ``(0, pos)`` (tdlib rules)."""
    end = pos + 1
    code = 0
    if data[end] == 0x23:  # '#'
        end += 1
        hexadecimal = data[end] == 0x78  # 'x'
        end += hexadecimal
        digits, base = (_HEX, 16) if hexadecimal else (_DIGITS, 10)
        while data[end] in digits:
            code = code * base + int(chr(data[end]), 16)
            end += 1
            if code >= 0x10FFFF:
                return 0, pos
        if code == 0 or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return 0, pos
    else:
        while data[end] in _ALPHA:
            end += 1
        code = _NAMED_ENTITIES.get(data[pos + 1 : end], 0)
        if not code:
            return 0, pos
    if data[end] == _SEMI:
        end += 1
    return code, end


def _link_entity(url: str) -> JSONDict | None:
    """The entity Telegram makes of an ``<a href>``; invalid links silently become plain text."""
    if match := re.fullmatch(r"tg://user\?id=(\d{1,19})", url):
        return {
            "type": "text_mention",
            "user": {"id": int(match[1]), "is_bot": False, "first_name": "User"},
        }
    if re.fullmatch(r"(?i)(?:https?|tg|ton)://\S+", url):
        pass
    elif re.fullmatch(r"(?i)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?::\d+)?(?:[/?#]\S*)?", url):
        url = "http://" + url
    else:
        return None
    if re.fullmatch(r"(?i)https?://[^/?#\s]+", url):
        url += "/"  # Telegram normalises a bare host to end with a slash
    return {"type": "text_link", "url": url}


def _open_tag(data: bytes, begin: int, out: bytearray, utf16: int, stack: list[_OpenTag]) -> int:
    i = begin + 1
    while data[i] not in _SPACES and data[i] != _GT:
        i += 1
    if data[i] == 0:
        raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
    name = data[begin + 1 : i].decode("utf-8", "replace").lower()
    if name not in _HTML_TAGS:
        raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {begin}')
    argument = ""
    expandable = False
    while data[i] != _GT:
        while data[i] != 0 and data[i] in _SPACES:
            i += 1
        if data[i] == _GT:
            break
        attr_begin = i
        while data[i] not in _SPACES and data[i] not in (_EQ, _GT):
            i += 1
        attr = data[attr_begin:i]
        if not attr:
            raise EntityParseError(
                f'Empty attribute name in the tag "{name}" at byte offset {begin}'
            )
        while data[i] != 0 and data[i] in _SPACES:
            i += 1
        if data[i] != _EQ:
            if name == "blockquote" and attr == b"expandable":
                expandable = True
                continue
            raise EntityParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{name}" at byte offset {begin}'
            )
        i += 1
        while data[i] != 0 and data[i] in _SPACES:
            i += 1
        if data[i] == 0:
            raise EntityParseError(f'Unclosed start tag "{name}" at byte offset {begin}')
        if data[i] not in (0x22, 0x27):
            token_begin = i
            while data[i] in _NAME_TOKEN:
                i += 1
            value = data[token_begin:i].decode().lower()
            if data[i] not in _SPACES and data[i] != _GT:
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {token_begin}"
                )
        else:
            quote = data[i]
            i += 1
            buf = bytearray()
            while data[i] != quote and data[i] != 0:
                if data[i] == _AMP:
                    code, end = _decode_html_entity(data, i)
                    if code:
                        buf += chr(code).encode()
                        i = end
                        continue
                buf.append(data[i])
                i += 1
            if data[i] == quote:
                i += 1
            value = buf.decode("utf-8", "replace")
        if data[i] == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        if name == "a" and attr == b"href":
            argument = value
        elif name == "code" and attr == b"class" and value.startswith("language-"):
            argument = value.removeprefix("language-")
        elif name == "span" and attr == b"class" and value.startswith("tg-"):
            argument = value.removeprefix("tg-")
        elif name == "tg-emoji" and attr == b"emoji-id":
            argument = value
        elif name == "blockquote" and attr == b"expandable":
            expandable = True
    if name == "span" and argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    stack.append(_OpenTag(name, argument, utf16, len(out), expandable))
    return i + 1


def _close_entity(tag: _OpenTag, utf16: int, out: bytearray, entities: list[JSONDict]) -> None:
    offset, length = tag.utf16_offset, utf16 - tag.utf16_offset
    last = entities[-1] if entities else None
    same_range = last is not None and (last["offset"], last["length"]) == (offset, length)
    entity: JSONDict | None = {"type": _SIMPLE_TAGS.get(tag.name, tag.name)}
    if tag.name == "tg-emoji":
        if not re.fullmatch(r"[1-9]\d{0,18}", tag.argument):
            raise EntityParseError("Invalid custom emoji identifier specified")
        entity = {"type": "custom_emoji", "custom_emoji_id": tag.argument}
    elif tag.name == "a":
        entity = _link_entity(tag.argument or out[tag.byte_offset :].decode("utf-8", "replace"))
    elif tag.name == "blockquote":
        entity = {"type": "expandable_blockquote" if tag.expandable else "blockquote"}
    elif tag.name == "pre" and same_range and last is not None and last["type"] == "code":
        # <pre><code class="language-x">: one pre entity carrying the language.
        language = last.pop("_language", "")
        last["type"] = "pre"
        if language:
            last["language"] = language
        entity = None
    elif tag.name == "code" and same_range and last is not None and last["type"] == "pre":
        if tag.argument:
            last["language"] = tag.argument
        entity = None
    elif tag.name == "code" and tag.argument:
        entity["_language"] = tag.argument
    if entity is not None:
        entities.append({"type": entity.pop("type"), "offset": offset, "length": length, **entity})


def _close_tag(
    data: bytes,
    begin: int,
    out: bytearray,
    utf16: int,
    stack: list[_OpenTag],
    entities: list[JSONDict],
) -> int:
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
    i = begin + 2
    while data[i] not in _SPACES and data[i] != _GT:
        i += 1
    end_name = data[begin + 2 : i].decode("utf-8", "replace")
    while data[i] != 0 and data[i] in _SPACES:
        i += 1
    if data[i] != _GT:
        raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
    tag = stack[-1]
    if end_name and end_name != tag.name:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {begin}, expected "</{tag.name}>", '
            f'found "</{end_name}>"'
        )
    if utf16 > tag.utf16_offset:
        _close_entity(tag, utf16, out, entities)
    stack.pop()
    return i + 1


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSONDict]]:
    """Parse Telegram HTML into plain text and entities, raising tdlib-worded errors.

    A port of tdlib's ``parse_html``, so byte offsets in messages match the real server.
    Real Telegram keeps a bare ``&`` (one that starts no entity) literally; with
    ``strict_ampersand`` (the default) the fake rejects it, because the Bot API docs require
    escaping and unescaped ``&`` usually means user data slipped in without ``html.escape``.
    """
    data = text.encode("utf-8") + b"\x00"
    size = len(data) - 1
    out = bytearray()
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[JSONDict] = []
    i = 0
    while i < size:
        c = data[i]
        if c == _AMP:
            code, end = _decode_html_entity(data, i)
            if code:
                out += chr(code).encode()
                utf16 += 2 if code > 0xFFFF else 1
                i = end
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Unescaped "&" at byte offset {i}; it must be written as "&amp;"'
                )
        if c != _LT:
            out.append(c)
            if c & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                utf16 += 2 if c >= 0xF0 else 1
            i += 1
            continue
        if data[i + 1] != _SLASH:
            i = _open_tag(data, i, out, utf16, stack)
        else:
            i = _close_tag(data, i, out, utf16, stack, entities)
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"'
        )
    for entity in entities:
        entity.pop("_language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return out.decode("utf-8", "replace"), entities


def strip_formatted(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Strip surrounding whitespace like Telegram does, shifting and clipping entities."""
    left = text.lstrip()
    shift = utf16_len(text) - utf16_len(left)
    stripped = left.rstrip()
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


_AUTO_ENTITIES = (
    ("url", re.compile(r"(?i)\bhttps?://[^\s<>\"]+")),
    (
        "bot_command",
        re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w@])"),
    ),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d_]\w*")),
)


def detect_entities(text: str) -> list[JSONDict]:
    """The entities a Telegram client attaches to typed text (commands, mentions, links)."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _AUTO_ENTITIES:
        found.extend((m.start(), m.end(), kind) for m in pattern.finditer(text))
    found.sort()
    entities: list[JSONDict] = []
    covered = 0
    for start, end, kind in found:
        if start < covered:
            continue  # inside an earlier entity, e.g. a path inside a URL
        covered = end
        offset = utf16_len(text[:start])
        entities.append({"type": kind, "offset": offset, "length": utf16_len(text[start:end])})
    return entities


# --------------------------------------------------------------------------------------------
# Request decoding


def _decode_field(name: str, value: Any) -> Any:
    if not isinstance(value, str) or name in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channel" or a file_id


def _parse_multipart(content_type: str, body: bytes) -> JSONDict:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise _bad_request("can't parse multipart/form-data body")
    params: JSONDict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            params[name] = UploadedFile(filename, part.get_content_type(), payload)
        else:
            params[name] = payload.decode(part.get_content_charset() or "utf-8")
    files = {name: value for name, value in params.items() if isinstance(value, UploadedFile)}
    for name, value in list(params.items()):
        # PTB uploads some files as attach://<part name>; resolve so tests see the file.
        if isinstance(value, str) and value.startswith("attach://"):
            params[name] = files.get(value.removeprefix("attach://"), value)
    return params


def parse_request_params(content_type: str, body: bytes, query: str = "") -> JSONDict:
    """Decode a Bot API request (query, form, multipart or JSON) into a dict of typed values."""
    raw: JSONDict = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    mime = content_type.split(";", 1)[0].strip().lower()
    try:
        if not body:
            pass
        elif mime == "application/json":
            decoded = json.loads(body)
            if not isinstance(decoded, dict):
                raise _bad_request("can't parse JSON object")
            raw.update(decoded)
        elif mime == "multipart/form-data":
            raw.update(_parse_multipart(content_type, body))
        else:
            raw.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad_request(f"can't parse request body: {exc}") from exc
    return {name: _decode_field(name, value) for name, value in raw.items()}


# --------------------------------------------------------------------------------------------
# Small helpers


def make_user(
    user_id: int = DEFAULT_USER["id"],
    first_name: str = DEFAULT_USER["first_name"],
    *,
    username: str | None = None,
    last_name: str | None = None,
    language_code: str | None = "en",
) -> JSONDict:
    """A Telegram User dict for a non-default test user."""
    user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        user["last_name"] = last_name
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def _now() -> int:
    return int(time.time())


def _same_chat(sent: Any, wanted: int | str) -> bool:
    return str(sent) == str(wanted)


def _int_param(params: JSONDict, name: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise _bad_request(f"{name} is empty")
    if isinstance(value, bool):
        raise _bad_request(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        raise _bad_request(f"invalid {name} specified") from None


def _number_param(params: JSONDict, name: str, default: float) -> float:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad_request(f"invalid {name} specified")
    try:
        return float(value)
    except ValueError:
        raise _bad_request(f"invalid {name} specified") from None


def _looks_like_url(url: str) -> bool:
    return bool(
        re.fullmatch(r"(?i)(?:https?|tg|ton)://\S+", url)
        or re.fullmatch(r"(?i)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:[:/?#]\S*)?", url)
    )


def _validate_inline_keyboard(markup: JSONDict) -> JSONDict:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request(
            'can\'t parse reply keyboard markup JSON object: Field "inline_keyboard" '
            "of the InlineKeyboardMarkup must be an Array of Arrays"
        )
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise _bad_request("REPLY_MARKUP_TOO_LONG")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [key for key in _BUTTON_ACTIONS if key in button]
            if not actions:
                raise _bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                size = len(data.encode("utf-8")) if isinstance(data, str) else 0
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad_request("BUTTON_DATA_INVALID")
            if "url" in button and not (
                isinstance(button["url"], str) and _looks_like_url(button["url"])
            ):
                raise _bad_request(
                    f"inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL"
                )
    return markup


def _validate_reply_markup(markup: Any) -> JSONDict | None:
    """Check a reply_markup like Telegram; return it when the sent Message would echo it.

    Only inline keyboards come back in Message.reply_markup; reply keyboards do not.
    """
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return _validate_inline_keyboard(markup)
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        return None
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return None
    raise _bad_request("can't parse reply keyboard markup JSON object")


def _refuse_inside_event_loop(name: str) -> None:
    """Blocking waits inside PTB's event loop would freeze the very bot we wait for."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"FakeBotAPI.{name}() blocks the thread; inside a running event loop use "
        f"`await fake.{name}_async(...)` so the application can keep working"
    )


def _as_message(obj: Any) -> JSONDict:
    """Accept a Message dict, an Update dict, an ApiCall of a send method or a PTB object."""
    if isinstance(obj, ApiCall):
        obj = obj.result
    if not isinstance(obj, Mapping) and hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    if isinstance(obj, Mapping):
        if "message_id" in obj:
            return dict(obj)
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            if isinstance(obj.get(key), Mapping):
                return dict(obj[key])
        if isinstance(obj.get("callback_query"), Mapping):
            return dict(obj["callback_query"]["message"])
    raise TypeError(f"expected a message, an update or a successful send ApiCall, got {obj!r}")


# --------------------------------------------------------------------------------------------
# HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    """Speaks HTTP/1.1 keep-alive like api.telegram.org, so httpx reuses connections."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes; avoid delayed-ACK stalls
    server: _Server

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:
            self.close_connection = True  # the client hung up (e.g. PTB cancelled a long poll)

    def do_POST(self) -> None:
        self._respond()

    def do_GET(self) -> None:
        self._respond()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the fake records every request itself."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                continue  # skip trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _respond(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        status, payload = fake._handle(self.path, self.headers.get("Content-Type", ""), body)
        try:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (e.g. a test's "\ud800") has no UTF-8 form; JSON still carries
            # it as a \u escape, which is how such text reaches a client.
            data = json.dumps(payload).encode("ascii")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if fake.stopping:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    """Thread per connection; tracks connections so stop() can cut idle keep-alives."""

    daemon_threads = True
    request_queue_size = 256  # many concurrent benchmark clients connect at once

    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup we neither need nor want.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"FakeBotAPI-conn-{client_address[1]}",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hanging up is routine, not a fake bug
        self.fake.server_errors.append(traceback.format_exc())

    def close_connections(self, timeout: float) -> None:
        """End every connection and join its thread, so no socket or thread outlives stop().

        Shutting down only the read side wakes idle keep-alive readers with EOF while a
        handler that is answering (e.g. a released long poll) can still finish its response.
        Whatever is still stuck at the deadline, e.g. writing to a client that stopped
        reading, is cut off completely.
        """
        with self._connections_lock:
            connections = list(self._connections.items())
        for how in (socket.SHUT_RD, socket.SHUT_RDWR):
            for sock, _ in connections:
                with contextlib.suppress(OSError):  # already closed by its own thread
                    sock.shutdown(how)
            deadline = time.monotonic() + timeout / 2
            for _, thread in connections:
                thread.join(max(0.0, deadline - time.monotonic()))
            connections = [(sock, thread) for sock, thread in connections if thread.is_alive()]
            if not connections:
                return
        names = ", ".join(thread.name for _, thread in connections)
        raise RuntimeError(f"FakeBotAPI: {names} did not stop within {timeout}s")


# --------------------------------------------------------------------------------------------
# The fake


class FakeBotAPI:
    """A Telegram Bot API lookalike on 127.0.0.1 for tests and throughput benchmarks.

    State lives on the instance and is guarded by separate locks (requests log, update queue,
    chats and messages, injected failures), so concurrent clients don't queue behind one lock.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        default_user: Mapping[str, Any] | None = None,
        strict_ampersand: bool = True,
    ) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123456
        self.default_user: JSONDict = {**DEFAULT_USER, **(default_user or {})}
        self.strict_ampersand = strict_ampersand
        self.server_errors: list[str] = []  # tracebacks of fake bugs; tests should assert empty

        self._lifecycle_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._serve_error: BaseException | None = None
        self._port = 0

        self._calls_cond = threading.Condition()
        self._calls: list[ApiCall] = []
        self._calls_by_method: dict[str, list[ApiCall]] = {}
        self._scan_from: dict[str, int] = {}
        self._seen: set[int] = set()
        self._call_seq = itertools.count(1)

        self._updates_cond = threading.Condition()
        self._updates: deque[JSONDict] = deque()
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] | None = None
        self._last_allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._waiting_pollers = 0

        self._state_lock = threading.Lock()
        self._chats: dict[int, JSONDict] = {}
        self._last_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._blocked: set[int] = set()
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._webhook: JSONDict | None = None
        self._open_callback_queries: set[str] = set()
        self._open_inline_queries: set[str] = set()
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)

        self._fail_lock = threading.Lock()
        self._failures: dict[str, deque[_Failure]] = {}

        handlers: dict[str, Callable[[JSONDict], Any]] = {
            "getMe": self._api_get_me,
            "logOut": self._api_true,
            "close": self._api_true,
            "getUpdates": self._api_get_updates,
            "setWebhook": self._api_set_webhook,
            "deleteWebhook": self._api_delete_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "sendMessage": self._api_send_message,
            "sendPhoto": self._api_send_photo,
            "sendDocument": self._api_send_document,
            "editMessageText": self._api_edit_message_text,
            "editMessageReplyMarkup": self._api_edit_message_reply_markup,
            "deleteMessage": self._api_delete_message,
            "sendChatAction": self._api_send_chat_action,
            "answerCallbackQuery": self._api_answer_callback_query,
            "answerInlineQuery": self._api_answer_inline_query,
            "setMyCommands": self._api_set_my_commands,
            "getMyCommands": self._api_get_my_commands,
            "deleteMyCommands": self._api_delete_my_commands,
        }
        self._methods = {name.lower(): (name, fn) for name, fn in handlers.items()}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeBotAPI:
        """Bind 127.0.0.1 on a free port and serve from a background thread."""
        with self._lifecycle_lock:
            if self._server is not None:
                raise RuntimeError("a FakeBotAPI instance can only be started once")
            server = _Server(self)
            self._wake = socket.socketpair()
            self._server = server
            self._port = int(server.server_address[1])
            self._thread = threading.Thread(
                target=self._serve,
                args=(server, self._wake[0]),
                name=f"FakeBotAPI-{self._port}",
                daemon=True,
            )
            self._thread.start()
        self._started.wait()  # set by _serve in a finally, so this cannot hang
        if self._serve_error is not None:
            self.stop()
            raise RuntimeError("FakeBotAPI failed to start") from self._serve_error
        return self

    def _serve(self, server: _Server, wake: socket.socket) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(server.socket, selectors.EVENT_READ, "accept")
                selector.register(wake, selectors.EVENT_READ, "wake")
                self._started.set()
                while True:
                    for key, _ in selector.select():
                        if key.data == "wake":
                            return
                        server.handle_request()  # the socket is readable: accepts at once
        except BaseException as exc:
            self._serve_error = exc
            raise
        finally:
            self._started.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Release long polls and waiters, close every socket and join every thread."""
        with self._lifecycle_lock:
            server, thread, wake = self._server, self._thread, self._wake
            if server is None or self._stopping.is_set():
                return
            self._stopping.set()
        with self._updates_cond:
            self._updates_cond.notify_all()
        with self._calls_cond:
            self._calls_cond.notify_all()
        try:
            if wake is not None:
                wake[1].send(b"x")
            if thread is not None:
                thread.join(timeout)
            server.close_connections(timeout)
        finally:
            server.server_close()
            if wake is not None:
                wake[0].close()
                wake[1].close()

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        """True once stop() began; handlers then close connections after answering."""
        return self._stopping.is_set()

    @property
    def port(self) -> int:
        """The ephemeral port the server is bound to."""
        if not self._port:
            raise RuntimeError("FakeBotAPI is not started; call start() or use `with`")
        return self._port

    @property
    def base_url(self) -> str:
        """What to pass as PTB's base_url; PTB appends the token and ``/method``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> JSONDict:
        """The getMe result."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _bot_sender(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }

    # ---------------------------------------------------------------- request dispatch

    def _handle(self, path: str, content_type: str, body: bytes) -> tuple[int, JSONDict]:
        """Answer one HTTP request and record it before the response leaves the server."""
        path, _, query = path.partition("?")
        if not path.startswith("/bot"):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token, _, method = path.removeprefix("/bot").partition("/")
        entry = self._methods.get(method.lower())
        name = entry[0] if entry else method
        params: JSONDict = {}
        try:
            params = parse_request_params(content_type, body, query)
            if token != self.token:
                raise BotAPIError(401, "Unauthorized")
            if entry is None:
                raise BotAPIError(404, "Not Found: method not found")
            self._raise_injected_failure(name)
            status, payload = 200, {"ok": True, "result": entry[1](params)}
        except BotAPIError as exc:
            status, payload = exc.error_code, exc.payload()
        except Exception:  # a fake bug must fail tests loudly, not look like a Telegram error
            self.server_errors.append(traceback.format_exc())
            status, payload = (
                500,
                {
                    "ok": False,
                    "error_code": 500,
                    "description": "Internal Server Error: FakeBotAPI bug, see server_errors",
                },
            )
        self._record(name, params, status, payload)
        return status, payload

    def _record(self, method: str, params: JSONDict, status: int, payload: JSONDict) -> None:
        with self._calls_cond:
            call = ApiCall(next(self._call_seq), method, params, status, payload)
            self._calls.append(call)
            self._calls_by_method.setdefault(method.lower(), []).append(call)
            self._calls_cond.notify_all()

    def _canonical(self, method: str) -> str:
        entry = self._methods.get(method.lower())
        if entry is None:
            known = ", ".join(sorted(name for name, _ in self._methods.values()))
            raise ValueError(f"FakeBotAPI does not implement {method!r}; it knows: {known}")
        return entry[0]

    # ---------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail like Telegram would.

        429 always carries ``parameters.retry_after`` (default 1) so PTB raises RetryAfter.
        """
        name = self._canonical(method)
        if times < 1:
            raise ValueError("times must be at least 1")
        parameters = None
        if error_code == 429 or retry_after is not None:
            retry_after = 1 if retry_after is None else retry_after
            parameters = {"retry_after": retry_after}
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if error_code == 429
                else _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
            )
        with self._fail_lock:
            self._failures.setdefault(name, deque()).append(
                _Failure(error_code, description, parameters, times)
            )

    def _raise_injected_failure(self, method: str) -> None:
        with self._fail_lock:
            queue = self._failures.get(method)
            if not queue:
                return
            failure = queue[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                queue.popleft()
        raise BotAPIError(failure.error_code, failure.description, failure.parameters)

    # ---------------------------------------------------------------- recorded requests

    def requests(self, method: str | None = None) -> list[ApiCall]:
        """Every request in the order it was answered (a long poll when it returns).

        Optionally only one method, case-insensitive. A call is recorded before its response
        is sent, so once PTB has a result the matching call is already visible here.
        """
        with self._calls_cond:
            if method is None:
                return list(self._calls)
            return list(self._calls_by_method.get(method.lower(), ()))

    def sent_messages(self, chat_id: int | str | None = None) -> list[ApiCall]:
        """Successful sendMessage calls, optionally to one chat; ``.result`` is the Message."""
        return [
            call
            for call in self.requests("sendMessage")
            if call.ok and (chat_id is None or _same_chat(call.params.get("chat_id"), chat_id))
        ]

    def clear(self) -> None:
        """Forget recorded requests (updates, chats and messages stay)."""
        with self._calls_cond:
            self._calls.clear()
            self._calls_by_method.clear()
            self._scan_from.clear()
            self._seen.clear()

    @property
    def allowed_updates(self) -> list[str] | None:
        """allowed_updates of the last getUpdates that sent it (None if none did)."""
        with self._updates_cond:
            return None if self._last_allowed_updates is None else list(self._last_allowed_updates)

    def wait_for(
        self, method: str, predicate: Predicate | None = None, timeout: float = 10.0
    ) -> ApiCall:
        """Return the oldest not-yet-returned call of ``method`` matching ``predicate(params)``.

        Blocks on a Condition until one arrives; each call is handed out once, so repeated
        waits walk through the calls in order. Raises TimeoutError listing what did arrive.
        Inside an event loop use :meth:`wait_for_async` instead.
        """
        _refuse_inside_event_loop("wait_for")
        return self._wait_for(method, predicate, timeout)

    async def wait_for_async(
        self,
        method: str,
        predicate: Predicate | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> ApiCall:
        """:meth:`wait_for` for async tests: waits in a worker thread, the loop keeps running.

        ``timeout`` is a parameter (not ``asyncio.timeout``) because cancelling the await
        could not stop the worker thread; the timeout bounds it.
        """
        return await asyncio.to_thread(self._wait_for, method, predicate, timeout)

    def wait_for_reply(self, chat_id: int | str | None = None, timeout: float = 10.0) -> ApiCall:
        """The next sendMessage to ``chat_id`` (default: the default user's private chat).

        Failed attempts count too (check ``.ok``): the bot did try to reply.
        """
        _refuse_inside_event_loop("wait_for_reply")
        return self._wait_for("sendMessage", self._chat_predicate(chat_id), timeout)

    async def wait_for_reply_async(
        self,
        chat_id: int | str | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> ApiCall:
        """:meth:`wait_for_reply` for async tests."""
        predicate = self._chat_predicate(chat_id)
        return await asyncio.to_thread(self._wait_for, "sendMessage", predicate, timeout)

    def _chat_predicate(self, chat_id: int | str | None) -> Predicate:
        wanted = self.default_user["id"] if chat_id is None else chat_id
        return lambda params: _same_chat(params.get("chat_id"), wanted)

    def _wait_for(self, method: str, predicate: Predicate | None, timeout: float) -> ApiCall:
        key = method.lower()
        deadline = time.monotonic() + timeout
        with self._calls_cond:
            while True:
                calls = self._calls_by_method.get(key, [])
                start = self._scan_from.get(key, 0)
                while start < len(calls) and calls[start].seq in self._seen:
                    start += 1
                self._scan_from[key] = start
                for call in calls[start:]:
                    if call.seq not in self._seen and (
                        predicate is None or predicate(call.params)
                    ):
                        self._seen.add(call.seq)
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    break
                self._calls_cond.wait(remaining)
            arrived = [call.method for call in self._calls]
        matching = " matching the predicate" if predicate else ""
        state = "the fake was stopped" if self._stopping.is_set() else f"{timeout}s passed"
        raise TimeoutError(
            f"FakeBotAPI: no new {method} request{matching} ({state}); "
            f"requests so far: {arrived[-30:]}"
        )

    def wait_for_poller(self, *, timeout: float = 10.0) -> None:
        """Block until a getUpdates long poll is waiting, i.e. the bot is ready for updates."""
        _refuse_inside_event_loop("wait_for_poller")
        self._wait_for_poller(timeout)

    async def wait_for_poller_async(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """:meth:`wait_for_poller` for async tests."""
        await asyncio.to_thread(self._wait_for_poller, timeout)

    def _wait_for_poller(self, timeout: float) -> None:
        with self._updates_cond:
            if (
                not self._updates_cond.wait_for(
                    lambda: self._waiting_pollers > 0 or self._stopping.is_set(), timeout
                )
                or self._stopping.is_set()
            ):
                raise TimeoutError(f"FakeBotAPI: no getUpdates long poll within {timeout}s")

    # ---------------------------------------------------------------- bot-side state

    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSONDict] | None:
        """Commands set for that scope and language, None if never set (or deleted)."""
        key = (json.dumps(dict(scope or {"type": "default"}), sort_keys=True), language_code)
        with self._state_lock:
            found = self._commands.get(key)
            return None if found is None else copy.deepcopy(found)

    @property
    def webhook(self) -> JSONDict | None:
        """The parameters of the last setWebhook, None when no webhook is set."""
        with self._state_lock:
            return None if self._webhook is None else dict(self._webhook)

    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        with self._updates_cond:
            return copy.deepcopy(list(self._updates))

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """The current state of a message (after edits), as the fake knows it."""
        with self._state_lock:
            found = self._messages.get((chat_id, message_id))
            return None if found is None else copy.deepcopy(found)

    def block_bot(self, user: Mapping[str, Any] | None = None) -> JSONDict:
        """The user blocks the bot: sends to them get 403 and a my_chat_member update arrives."""
        return self._set_blocked(user, blocked=True)

    def unblock_bot(self, user: Mapping[str, Any] | None = None) -> JSONDict:
        """The user restarts the bot: sends work again, a my_chat_member update arrives."""
        return self._set_blocked(user, blocked=False)

    def _set_blocked(self, user: Mapping[str, Any] | None, *, blocked: bool) -> JSONDict:
        sender = self._user(user, None)
        chat = self._chat_for(sender, None, "private")
        with self._state_lock:
            self._chats[chat["id"]] = chat
            if blocked:
                self._blocked.add(chat["id"])
            else:
                self._blocked.discard(chat["id"])
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        bot = self._bot_sender()
        member_update = {
            "chat": chat,
            "from": sender,
            "date": _now(),
            "old_chat_member": {"status": old, "user": bot}
            | ({"until_date": 0} if old == "kicked" else {}),
            "new_chat_member": {"status": new, "user": bot}
            | ({"until_date": 0} if new == "kicked" else {}),
        }
        return self._enqueue({"my_chat_member": member_update})

    # ---------------------------------------------------------------- queueing updates

    def send_raw_update(self, body: Mapping[str, Any]) -> JSONDict:
        """Queue an update exactly as given (plus an update_id), for shapes no helper builds.

        Nothing is checked: a test can deliver what a newer or odder Bot API might send,
        malformed updates included. Returns the queued update.
        """
        return self._enqueue(copy.deepcopy(dict(body)))

    def _enqueue(self, body: JSONDict) -> JSONDict:
        with self._updates_cond:
            update = {"update_id": next(self._update_ids), **body}
            self._updates.append(update)
            self._updates_cond.notify_all()
        return copy.deepcopy(update)

    def _user(self, user: Mapping[str, Any] | Any | None, language_code: str | None) -> JSONDict:
        if user is None:
            result = dict(self.default_user)
        else:
            if not isinstance(user, Mapping) and hasattr(user, "to_dict"):
                user = user.to_dict()
            override = dict(user)
            # A different id is a different person: don't inherit Tess's name and username.
            base = (
                self.default_user
                if override.get("id", self.default_user["id"]) == self.default_user["id"]
                else {"is_bot": False, "first_name": f"User{override['id']}"}
            )
            result = {**base, **override}
        result.setdefault("is_bot", False)
        if language_code is not None:
            result["language_code"] = language_code
        return result

    def _chat_for(
        self, user: JSONDict, chat: Mapping[str, Any] | int | None, chat_type: str
    ) -> JSONDict:
        if chat_type == "private":
            base: JSONDict = {"id": user["id"], "type": "private"}
            base.update({k: user[k] for k in ("first_name", "last_name", "username") if k in user})
        elif chat_type == "group":
            base = {"id": DEFAULT_GROUP_ID, "type": "group", "title": "Test Group"}
        elif chat_type == "supergroup":
            base = {"id": DEFAULT_SUPERGROUP_ID, "type": "supergroup", "title": "Test Supergroup"}
        else:
            raise ValueError(f"unsupported chat_type {chat_type!r}")
        if isinstance(chat, int):
            chat = {"id": chat}
        return {**base, **(chat or {})}

    def _next_message_id_locked(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _reply_target_locked(self, reply_to_message: Any) -> JSONDict:
        target = _as_message(reply_to_message)
        stored = self._messages.get((target["chat"]["id"], target["message_id"]), target)
        return {k: v for k, v in stored.items() if k != "reply_to_message"}

    def _incoming(
        self,
        content: JSONDict,
        *,
        user: Mapping[str, Any] | None,
        chat: Mapping[str, Any] | int | None,
        chat_type: str,
        language_code: str | None,
        reply_to_message: Any = None,
        forward_origin: Mapping[str, Any] | None = None,
        message_thread_id: int | None = None,
    ) -> JSONDict:
        sender = self._user(user, language_code)
        chat_obj = self._chat_for(sender, chat, chat_type)
        if message_thread_id is not None:
            chat_obj["is_forum"] = True
        with self._state_lock:
            self._chats[chat_obj["id"]] = chat_obj
            message: JSONDict = {
                "message_id": self._next_message_id_locked(chat_obj["id"]),
                "from": sender,
                "chat": chat_obj,
                "date": _now(),
            }
            if message_thread_id is not None:
                # A message in a forum topic, as Telegram sends it.
                message["message_thread_id"] = message_thread_id
                message["is_topic_message"] = True
            if forward_origin is not None:
                message["forward_origin"] = dict(forward_origin)
            if reply_to_message is not None:
                message["reply_to_message"] = self._reply_target_locked(reply_to_message)
            message.update(content)
            self._messages[(chat_obj["id"], message["message_id"])] = message
        return self._enqueue({"message": message})

    def send_text(
        self,
        text: str,
        *,
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        chat_type: str = "private",
        reply_to_message: Any = None,
        entities: Sequence[Mapping[str, Any]] | None = None,
        forward_origin: Mapping[str, Any] | None = None,
        language_code: str | None = None,
        message_thread_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> JSONDict:
        """Queue a text message update; entities default to what a client would detect.

        ``message_thread_id`` puts it in that topic of a forum supergroup; ``extra`` adds
        message fields no parameter covers (``via_bot``, for one).
        """
        content: JSONDict = {"text": text, **copy.deepcopy(dict(extra or {}))}
        found = detect_entities(text) if entities is None else [dict(e) for e in entities]
        if found:
            content["entities"] = found
        return self._incoming(
            content,
            user=user,
            chat=chat,
            chat_type=chat_type,
            language_code=language_code,
            reply_to_message=reply_to_message,
            forward_origin=forward_origin,
            message_thread_id=message_thread_id,
        )

    def send_command(
        self,
        command: str,
        args: str | None = None,
        *,
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        chat_type: str = "private",
        mention_bot: bool = False,
        language_code: str | None = None,
        message_thread_id: int | None = None,
    ) -> JSONDict:
        """Queue ``/command args`` with its bot_command entity (``/cmd@bot`` if mention_bot)."""
        head = command if command.startswith("/") else f"/{command}"
        if mention_bot:
            head += f"@{BOT_USERNAME}"
        text = f"{head} {args}" if args else head
        head_len = utf16_len(head)
        entities = [{"type": "bot_command", "offset": 0, "length": head_len}]
        entities += [e for e in detect_entities(text) if e["offset"] > head_len]
        return self.send_text(
            text,
            user=user,
            chat=chat,
            chat_type=chat_type,
            entities=entities,
            language_code=language_code,
            message_thread_id=message_thread_id,
        )

    def send_in_group(
        self,
        text: str,
        *,
        chat_type: str = "group",
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        mention_bot: bool = False,
        reply_to_message: Any = None,
        language_code: str | None = None,
        message_thread_id: int | None = None,
    ) -> JSONDict:
        """Queue a group/supergroup message; mention_bot prefixes ``@returnbot_test_bot``.

        ``message_thread_id`` (supergroups only) sends it in that forum topic.
        """
        if chat_type not in ("group", "supergroup"):
            raise ValueError("send_in_group is for chat_type 'group' or 'supergroup'")
        if message_thread_id is not None and chat_type != "supergroup":
            raise ValueError("forum topics exist only in supergroups")
        if mention_bot:
            text = f"@{BOT_USERNAME} {text}"
        return self.send_text(
            text,
            user=user,
            chat=chat,
            chat_type=chat_type,
            reply_to_message=reply_to_message,
            language_code=language_code,
            message_thread_id=message_thread_id,
        )

    def _file(self, prefix: str) -> JSONDict:
        with self._state_lock:
            number = next(self._file_ids)
        return {"file_id": f"{prefix}-file-{number}", "file_unique_id": f"{prefix}{number}"}

    def send_sticker(
        self,
        *,
        emoji: str = "👍",
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue a regular static sticker message."""
        sticker = {
            **self._file("sticker"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": 20480,
        }
        return self._incoming(
            {"sticker": sticker},
            user=user,
            chat=chat,
            chat_type=chat_type,
            language_code=language_code,
        )

    def send_photo(
        self,
        *,
        caption: str | None = None,
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue a photo message (two sizes, optional caption)."""
        base = self._file("photo")
        content: JSONDict = {
            "photo": [
                {**base, "file_id": base["file_id"] + "-s", "width": 90, "height": 60},
                {**base, "width": 1280, "height": 853, "file_size": 123456},
            ]
        }
        if caption is not None:
            content["caption"] = caption
            if found := detect_entities(caption):
                content["caption_entities"] = found
        return self._incoming(
            content, user=user, chat=chat, chat_type=chat_type, language_code=language_code
        )

    def send_voice(
        self,
        *,
        duration: int = 3,
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue a voice message."""
        voice = {
            **self._file("voice"),
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": 4096 * duration,
        }
        return self._incoming(
            {"voice": voice},
            user=user,
            chat=chat,
            chat_type=chat_type,
            language_code=language_code,
        )

    def send_location(
        self,
        latitude: float = 55.7558,
        longitude: float = 37.6173,
        *,
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue a location message."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._incoming(
            {"location": location},
            user=user,
            chat=chat,
            chat_type=chat_type,
            language_code=language_code,
        )

    def send_contact(
        self,
        phone_number: str = "+79990001122",
        first_name: str = "Tess",
        *,
        last_name: str | None = None,
        contact_user_id: int | None = None,
        user: Mapping[str, Any] | None = None,
        chat: Mapping[str, Any] | int | None = None,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue a shared contact message."""
        contact: JSONDict = {"phone_number": phone_number, "first_name": first_name}
        if last_name is not None:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._incoming(
            {"contact": contact},
            user=user,
            chat=chat,
            chat_type=chat_type,
            language_code=language_code,
        )

    def edit_text(
        self,
        original: Any,
        new_text: str,
        *,
        entities: Sequence[Mapping[str, Any]] | None = None,
    ) -> JSONDict:
        """Queue an edited_message update: the user edited an earlier text message."""
        target = _as_message(original)
        key = (target["chat"]["id"], target["message_id"])
        found = detect_entities(new_text) if entities is None else [dict(e) for e in entities]
        with self._state_lock:
            stored = self._messages.get(key, target)
            edited = {k: v for k, v in stored.items() if k != "entities"}
            edited.update(text=new_text, edit_date=_now())
            if found:
                edited["entities"] = found
            self._messages[key] = edited
        return self._enqueue({"edited_message": edited})

    def press_button(
        self,
        message: Any,
        callback_data: str,
        *,
        user: Mapping[str, Any] | None = None,
        language_code: str | None = None,
        check: bool = True,
    ) -> JSONDict:
        """Queue a callback_query as if the user pressed a button of ``message``.

        ``message`` may be a Message dict, an Update, or the ApiCall of the bot's send. With
        ``check`` the button must exist on the message's current keyboard, as in a real client.
        """
        target = _as_message(message)
        key = (target["chat"]["id"], target["message_id"])
        sender = self._user(user, language_code)
        with self._state_lock:
            stored = self._messages.get(key, target)
            query_id = str(5_000_000_000_000_000_000 + next(self._query_ids))
            self._open_callback_queries.add(query_id)
        if check:
            rows = (stored.get("reply_markup") or {}).get("inline_keyboard", [])
            present = [button.get("callback_data") for row in rows for button in row]
            if callback_data not in present:
                raise ValueError(
                    f"message {key} has no button with callback_data {callback_data!r}; "
                    f"buttons carry {present}"
                )
        callback_query = {
            "id": query_id,
            "from": sender,
            "message": stored,
            "chat_instance": str(abs(key[0]) * 7919 % 10**12),
            "data": callback_data,
        }
        return self._enqueue({"callback_query": callback_query})

    def inline_query(
        self,
        query: str,
        *,
        user: Mapping[str, Any] | None = None,
        offset: str = "",
        chat_type: str | None = "sender",
        language_code: str | None = None,
    ) -> JSONDict:
        """Queue an inline_query update; answerInlineQuery must then use its id."""
        sender = self._user(user, language_code)
        with self._state_lock:
            query_id = str(6_000_000_000_000_000_000 + next(self._query_ids))
            self._open_inline_queries.add(query_id)
        inline: JSONDict = {"id": query_id, "from": sender, "query": query, "offset": offset}
        if chat_type is not None:
            inline["chat_type"] = chat_type
        return self._enqueue({"inline_query": inline})

    # ---------------------------------------------------------------- Bot API methods

    def _api_true(self, params: JSONDict) -> bool:
        return True

    def _api_get_me(self, params: JSONDict) -> JSONDict:
        return self.bot_user

    def _api_get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(_number_param(params, "offset", 0))
        limit = min(max(int(_number_param(params, "limit", 100)), 1), 100)
        timeout = max(_number_param(params, "timeout", 0), 0.0)
        allowed = params.get("allowed_updates")
        with self._state_lock:
            webhook_active = self._webhook is not None
        if webhook_active:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        deadline = time.monotonic() + timeout
        with self._updates_cond:
            if isinstance(allowed, list):
                self._last_allowed_updates = list(allowed)
                self._allowed_updates = list(allowed) or None
            self._poll_generation += 1
            generation = self._poll_generation
            self._updates_cond.notify_all()  # an older waiting poll is now superseded
            while True:
                self._confirm_locked(offset)
                batch = self._deliverable_locked(limit)
                if batch or self._stopping.is_set():
                    return batch
                if generation != self._poll_generation:
                    raise BotAPIError(409, _DEFAULT_DESCRIPTIONS[409])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._waiting_pollers += 1
                self._updates_cond.notify_all()  # wake wait_for_poller and superseded polls
                try:
                    self._updates_cond.wait(remaining)
                finally:
                    self._waiting_pollers -= 1

    def _confirm_locked(self, offset: int) -> None:
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        elif offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()

    def _deliverable_locked(self, limit: int) -> list[JSONDict]:
        allowed = self._allowed_updates
        batch: list[JSONDict] = []
        kept: deque[JSONDict] = deque()
        for update in self._updates:
            kind = next(key for key in update if key != "update_id")
            wanted = kind in allowed if allowed is not None else kind not in _OPT_IN_UPDATES
            if not wanted:
                continue  # Telegram never delivers (nor keeps) updates the bot opted out of
            kept.append(update)
            if len(batch) < limit:
                batch.append(update)
        self._updates = kept
        return batch

    def _drop_pending(self) -> None:
        with self._updates_cond:
            self._updates.clear()

    def _api_set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url") or ""
        if url and not str(url).startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        with self._state_lock:
            self._webhook = dict(params) if url else None
        if params.get("drop_pending_updates") is True:
            self._drop_pending()
        return True

    def _api_delete_webhook(self, params: JSONDict) -> bool:
        with self._state_lock:
            self._webhook = None
        if params.get("drop_pending_updates") is True:
            self._drop_pending()
        return True

    def _api_get_webhook_info(self, params: JSONDict) -> JSONDict:
        with self._state_lock:
            webhook = dict(self._webhook or {})
        with self._updates_cond:
            pending = len(self._updates)
        info: JSONDict = {
            "url": webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }
        for name in ("max_connections", "ip_address", "allowed_updates"):
            if name in webhook:
                info[name] = webhook[name]
        return info

    def _resolve_chat(self, chat_id: Any) -> JSONDict:
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            with self._state_lock:
                for chat in self._chats.values():
                    username = str(chat.get("username", "")).lower()
                    if chat["type"] != "private" and username == chat_id[1:].lower():
                        return chat
            raise _bad_request("chat not found")
        try:
            numeric = _int_param({"chat_id": chat_id}, "chat_id")
        except BotAPIError:
            raise _bad_request("chat not found") from None
        with self._state_lock:
            chat = self._chats.get(numeric)
            if chat is None:
                if numeric > 0:
                    chat = {"id": numeric, "type": "private", "first_name": f"User{numeric}"}
                elif str(numeric).startswith("-100"):
                    chat = {"id": numeric, "type": "supergroup", "title": f"Chat {numeric}"}
                else:
                    chat = {"id": numeric, "type": "group", "title": f"Chat {numeric}"}
                self._chats[numeric] = chat
            return chat

    def _check_not_blocked_locked(self, chat: JSONDict) -> None:
        if chat["id"] in self._blocked:
            raise BotAPIError(403, "Forbidden: bot was blocked by the user")

    def _formatted(
        self,
        raw: Any,
        parse_mode: Any,
        entities: Any,
        *,
        limit: int,
        what: str,
        allow_empty: bool = False,
    ) -> tuple[str, list[JSONDict]]:
        """Turn text + parse_mode into Telegram's plain text and entities, or a 400."""
        if raw is None or raw == "":
            if allow_empty:
                return "", []
            raise _bad_request(f"{what} is empty")
        text = raw if isinstance(raw, str) else json.dumps(raw)
        mode = str(parse_mode or "").lower()
        if mode == "html":
            try:
                text, found = parse_html(text, strict_ampersand=self.strict_ampersand)
            except EntityParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        elif mode == "":
            if entities is not None and not isinstance(entities, list):
                raise _bad_request("can't parse entities JSON object")
            found = [dict(e) for e in entities or []]
        elif mode in ("markdown", "markdownv2"):
            found = []  # not parsed by the fake: text passes through unchanged
        else:
            raise _bad_request("unsupported parse_mode")
        text, found = strip_formatted(text, found)
        if not text and not allow_empty:
            raise _bad_request(f"{what} is empty")
        if len(text) > limit:
            raise _bad_request(
                "message is too long" if what == "message text" else f"{what} is too long"
            )
        return text, found

    def _reply_to_locked(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if reply is None:
            return None
        if not isinstance(reply, dict) or "message_id" not in reply:
            raise _bad_request("can't parse reply parameters JSON object")
        stored = self._messages.get((chat_id, _int_param(reply, "message_id")))
        if stored is None:
            if reply.get("allow_sending_without_reply") is True:
                return None
            raise _bad_request("message to be replied not found")
        return {k: v for k, v in stored.items() if k != "reply_to_message"}

    def _store_bot_message(self, chat: JSONDict, params: JSONDict, content: JSONDict) -> JSONDict:
        with self._state_lock:
            self._check_not_blocked_locked(chat)
            reply_to = self._reply_to_locked(chat["id"], params)
            message: JSONDict = {
                "message_id": self._next_message_id_locked(chat["id"]),
                "from": self._bot_sender(),
                "chat": chat,
                "date": _now(),
            }
            thread = params.get("message_thread_id")
            if thread is not None:
                if not chat.get("is_forum"):
                    raise _bad_request("message thread not found")
                message["message_thread_id"] = thread
                message["is_topic_message"] = True
            if reply_to is not None:
                message["reply_to_message"] = reply_to
            message.update(content)
            self._messages[(chat["id"], message["message_id"])] = message
            return message

    def _api_send_message(self, params: JSONDict) -> JSONDict:
        chat = self._resolve_chat(params.get("chat_id"))
        text, entities = self._formatted(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_MESSAGE_LENGTH,
            what="message text",
        )
        markup = _validate_reply_markup(params.get("reply_markup"))
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        if markup is not None:
            content["reply_markup"] = markup
        return self._store_bot_message(chat, params, content)

    def _media_message(self, params: JSONDict, field: str) -> tuple[JSONDict, JSONDict]:
        chat = self._resolve_chat(params.get("chat_id"))
        media = params.get(field)
        if media is None or media == "":
            raise _bad_request(f"there is no {field} in the request")
        caption, entities = self._formatted(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            limit=MAX_CAPTION_LENGTH,
            what="message caption",
            allow_empty=True,
        )
        markup = _validate_reply_markup(params.get("reply_markup"))
        content: JSONDict = {}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        if markup is not None:
            content["reply_markup"] = markup
        return chat, content

    def _api_send_photo(self, params: JSONDict) -> JSONDict:
        chat, content = self._media_message(params, "photo")
        base = self._file("photo")
        content["photo"] = [{**base, "width": 1280, "height": 853, "file_size": 123456}]
        return self._store_bot_message(chat, params, content)

    def _api_send_document(self, params: JSONDict) -> JSONDict:
        chat, content = self._media_message(params, "document")
        upload = params["document"]
        document = self._file("document")
        if isinstance(upload, UploadedFile):
            document.update(
                file_name=upload.filename,
                mime_type=upload.content_type,
                file_size=len(upload.data),
            )
        content["document"] = document
        return self._store_bot_message(chat, params, content)

    def _editable_locked(self, params: JSONDict) -> tuple[tuple[int, int], JSONDict]:
        key = (_int_param(params, "chat_id"), _int_param(params, "message_id"))
        stored = self._messages.get(key)
        if stored is None:
            raise _bad_request("message to edit not found")
        if stored.get("from", {}).get("id") != self.bot_id:
            raise _bad_request("message can't be edited")
        return key, stored

    def _api_edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        text, entities = self._formatted(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_MESSAGE_LENGTH,
            what="message text",
        )
        markup = _validate_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True  # messages sent via inline mode are not tracked
        with self._state_lock:
            key, stored = self._editable_locked(params)
            if "text" not in stored:
                raise _bad_request("there is no text in the message to edit")
            if (stored["text"], stored.get("entities", []), stored.get("reply_markup")) == (
                text,
                entities,
                markup,
            ):
                raise _bad_request(NOT_MODIFIED)
            edited = {k: v for k, v in stored.items() if k not in ("entities", "reply_markup")}
            edited.update(text=text, edit_date=_now())
            if entities:
                edited["entities"] = entities
            if markup is not None:
                edited["reply_markup"] = markup
            self._messages[key] = edited
            return edited

    def _api_edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        markup = _validate_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        with self._state_lock:
            key, stored = self._editable_locked(params)
            if stored.get("reply_markup") == markup:
                raise _bad_request(NOT_MODIFIED)
            edited = {k: v for k, v in stored.items() if k != "reply_markup"}
            edited["edit_date"] = _now()
            if markup is not None:
                edited["reply_markup"] = markup
            self._messages[key] = edited
            return edited

    def _api_delete_message(self, params: JSONDict) -> bool:
        key = (_int_param(params, "chat_id"), _int_param(params, "message_id"))
        with self._state_lock:
            if self._messages.pop(key, None) is None:
                raise _bad_request("message to delete not found")
        return True

    def _api_send_chat_action(self, params: JSONDict) -> bool:
        chat = self._resolve_chat(params.get("chat_id"))
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        with self._state_lock:
            self._check_not_blocked_locked(chat)
        return True

    def _api_answer_callback_query(self, params: JSONDict) -> bool:
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        query_id = str(params.get("callback_query_id") or "")
        with self._state_lock:
            if query_id not in self._open_callback_queries:
                raise _bad_request(QUERY_INVALID)
            self._open_callback_queries.discard(query_id)
        return True

    def _api_answer_inline_query(self, params: JSONDict) -> bool:
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad_request("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad_request("RESULTS_TOO_MUCH")
        seen_ids: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or not isinstance(result.get("type"), str):
                raise _bad_request("can't parse InlineQueryResult JSON object")
            result_id = str(result.get("id", ""))
            if not 1 <= len(result_id.encode()) <= 64:
                raise _bad_request("RESULT_ID_INVALID")
            if result_id in seen_ids:
                raise _bad_request("RESULT_ID_DUPLICATE")
            seen_ids.add(result_id)
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                self._formatted(
                    content["message_text"],
                    content.get("parse_mode"),
                    content.get("entities"),
                    limit=MAX_MESSAGE_LENGTH,
                    what="message text",
                )
            if "caption" in result:
                self._formatted(
                    result["caption"],
                    result.get("parse_mode"),
                    result.get("caption_entities"),
                    limit=MAX_CAPTION_LENGTH,
                    what="message caption",
                    allow_empty=True,
                )
            if "reply_markup" in result:
                _validate_inline_keyboard(result["reply_markup"])
        query_id = str(params.get("inline_query_id") or "")
        with self._state_lock:
            if query_id not in self._open_inline_queries:
                raise _bad_request(QUERY_INVALID)
            self._open_inline_queries.discard(query_id)
        return True

    def _commands_key(self, params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise _bad_request("can't parse BotCommandScope JSON object")
        language_code = params.get("language_code") or ""
        if language_code and not re.fullmatch(r"[a-z]{2}", str(language_code)):
            raise _bad_request("invalid language code specified")
        return json.dumps(scope, sort_keys=True), str(language_code)

    def _api_set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand JSON object")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        with self._state_lock:
            if commands:
                self._commands[key] = [
                    {"command": c["command"], "description": c["description"]} for c in commands
                ]
            else:
                self._commands.pop(key, None)
        return True

    def _api_get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params)
        with self._state_lock:
            return list(self._commands.get(key, []))

    def _api_delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params)
        with self._state_lock:
            self._commands.pop(key, None)
        return True
