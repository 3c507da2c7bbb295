"""Send a `Reply` to Telegram: HTML chunks, inline keyboards, language-tagged callback data."""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MaybeInaccessibleMessage,
    Message,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes

from bot.answers import Reply, lang_from_code
from bot.app import BotData, ReturnBot, bot_data
from bot.knowledge import LANGS, Lang
from bot.render import to_html

logger = logging.getLogger(__name__)

CALLBACK_LIMIT = 64  # bytes, Telegram's limit for callback data


def encode_action(action: str, lang: Lang) -> str:
    """Callback data: the action plus the language the buttons were shown in."""
    data = f"{action}|{lang}"
    if len(data.encode()) > CALLBACK_LIMIT:  # ids are capped at 40 characters; never happens
        raise ValueError("callback data over 64 bytes")
    return data


def decode_action(data: str) -> tuple[str, Lang | None]:
    """Split callback data into action and language; anything odd yields no language."""
    action, _, lang = data.rpartition("|")
    if not action:
        return data, None
    return action, lang if lang in LANGS else None  # type: ignore[return-value]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, callback_data=encode_action(b.action, reply.lang))
                for b in row
            ]
            for row in reply.buttons
        ]
    )


class Rendered(NamedTuple):
    """A reply as sent: HTML chunks, the keyboard, and the keyboard's JSON text."""

    chunks: list[str]
    markup: InlineKeyboardMarkup | None
    markup_json: str | None


_RENDERED_MAX = 4096
_rendered: dict[Reply, Rendered] = {}


def rendered(reply: Reply) -> Rendered:
    """The reply's HTML chunks and keyboard (object and JSON), built once per distinct reply.

    Entry answers are static, so most replies repeat. The cache is keyed by the reply's whole
    content (Reply is a frozen, hashable value; the match details do not take part), so a
    reload that changes an answer yields a different key: a stale reply is impossible. The
    returned list and keyboard are shared: callers must not modify them.
    """
    cached = _rendered.get(reply)
    if cached is None:
        markup = keyboard(reply)
        # Exactly what PTB would send for the markup object (RequestParameter.json_value).
        markup_json = json.dumps(markup.to_dict()) if markup is not None else None
        cached = Rendered(to_html(reply), markup, markup_json)
        if len(_rendered) >= _RENDERED_MAX:
            _rendered.clear()
        _rendered[reply] = cached
    return cached


def user_lang(update: Update, data: BotData) -> Lang:
    """The language for interface texts: the chat's /lang choice, else the user's client."""
    user = update.effective_user
    return (
        chat_choice(update, data) or lang_from_code(user.language_code if user else None) or "en"
    )


def chat_choice(update: Update, data: BotData) -> Lang | None:
    """The language chosen with /lang in this chat, if any."""
    chat = update.effective_chat
    return data.chat_langs.get(chat.id) if chat is not None else None  # type: ignore[return-value]


def topic_of(message: MaybeInaccessibleMessage | None) -> int | None:
    """The forum topic a message is in, so the answer goes there and not to "General".

    Only a topic message's thread id may be sent back (PTB's rule too): in a group without
    topics, message_thread_id names a reply chain, and Telegram refuses it as a target.
    """
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None


async def send_reply(
    update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply, *, quote: bool = False
) -> None:
    """Send a reply (split to 4096), keyboard on the last part; a blocked chat is not an error.

    Sent with ReturnBot.send_text: Telegram's answer is not parsed into a Message (nothing
    here reads it), and the keyboard goes as the JSON text cached with the rendered reply.
    """
    chat = update.effective_chat
    if chat is None:
        return
    bot = context.bot
    if not isinstance(bot, ReturnBot):  # pragma: no cover - wiring error
        raise TypeError("context.bot is not a ReturnBot; was the app built by build_application?")
    message = update.effective_message
    parameters = (
        ReplyParameters(message.message_id, allow_sending_without_reply=True)
        if quote and message is not None
        else None
    )
    thread = topic_of(message)
    chunks, _, markup_json = rendered(reply)
    last = len(chunks) - 1
    try:
        for index, chunk in enumerate(chunks):
            await bot.send_text(
                chat.id,
                chunk,
                keyboard_json=markup_json if index == last else None,
                reply_parameters=parameters if index == 0 else None,
                message_thread_id=thread,
            )
    except Forbidden:
        logger.info("a user has blocked the bot or left; reply dropped")


async def edit_or_send(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    message: MaybeInaccessibleMessage | None,
    reply: Reply,
) -> None:
    """Replace a navigation message in place; fall back to a new message if that fails."""
    chunks, markup, _ = rendered(reply)
    if isinstance(message, Message) and len(chunks) == 1:
        try:
            await message.edit_text(chunks[0], reply_markup=markup)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            logger.info("could not edit a message (%s); sending a new one", type(exc).__name__)
    await send_reply(update, context, reply)


__all__ = [
    "Rendered",
    "bot_data",
    "chat_choice",
    "decode_action",
    "edit_or_send",
    "encode_action",
    "keyboard",
    "rendered",
    "send_reply",
    "topic_of",
    "user_lang",
]
