"""Inline button presses: answers, topic navigation, language choice and feedback."""

from __future__ import annotations

import contextlib
import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.answers import ACTION_FEEDBACK, ACTION_LANG
from handlers.replies import bot_data, decode_action, edit_or_send, send_reply, user_lang

logger = logging.getLogger(__name__)


def _without_feedback(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    if markup is None:
        return None
    rows = [
        [b for b in row if not (b.callback_data or "").startswith(f"{ACTION_FEEDBACK}:")]
        for row in markup.inline_keyboard
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


async def _acknowledge(query: CallbackQuery, text: str | None = None, alert: bool = False) -> None:
    """Answer the press (stops the client's spinner); a refusal must not cancel the action.

    Telegram refuses to acknowledge a press older than about 15 seconds ("query is too
    old"): after downtime, every press queued meanwhile. The user still wants what the
    button does, so the handler carries on.
    """
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as exc:
        logger.info("could not acknowledge a button press (%s); carrying on", type(exc).__name__)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Carry out a button; old or forged buttons get "this button has expired"."""
    query = update.callback_query
    if query is None:
        return
    data = bot_data(context)
    raw = query.data if isinstance(query.data, str) else ""
    action, shown_lang = decode_action(raw)
    lang = shown_lang or user_lang(update, data)
    message = query.message
    is_feedback = action.startswith(f"{ACTION_FEEDBACK}:")
    # One vote per message. Nothing is awaited between this check and remember_vote below,
    # so two quick taps can't both count; forged data is rejected before the vote is used up.
    if (
        is_feedback
        and isinstance(message, Message)
        and (message.chat.id, message.message_id) in data.voted
    ):
        await _acknowledge(query, data.require().answers.text("feedback_thanks", lang).text)
        return
    reply = data.require().answers.press(action, lang=lang)
    if reply.kind == "expired":
        await _acknowledge(query, reply.text, alert=True)
        return
    if is_feedback:
        if isinstance(message, Message):
            data.remember_vote(message.chat.id, message.message_id)
        await _acknowledge(query, reply.text)
        if isinstance(message, Message):
            # A message too old to edit keeps its buttons; the vote still counts once.
            with contextlib.suppress(BadRequest):
                await message.edit_reply_markup(_without_feedback(message.reply_markup))
        return
    await _acknowledge(query)
    if action.startswith(f"{ACTION_LANG}:"):
        if update.effective_chat is not None:
            data.chat_langs[update.effective_chat.id] = reply.lang
        await edit_or_send(update, context, message, reply)
    elif reply.kind in {"topics", "topic"}:
        await edit_or_send(update, context, message, reply)
    else:
        await send_reply(update, context, reply)
