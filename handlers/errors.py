"""The one error handler: log without user data, apologize in the chat when there is one."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from handlers.replies import bot_data, topic_of, user_lang

logger = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the exception (never the update: it holds ids and text) and apologize."""
    logger.error(
        "error while handling an update: %s", type(context.error).__name__, exc_info=context.error
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    data = bot_data(context)
    if data.require().answers is None:
        return
    try:
        text = data.require().answers.text("error", user_lang(update, data)).text
        await context.bot.send_message(
            update.effective_chat.id, text, message_thread_id=topic_of(update.effective_message)
        )
    except TelegramError as exc:
        logger.warning("could not apologize in the chat: %s", type(exc).__name__)
