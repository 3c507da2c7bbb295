"""The public commands: /start (with deep links), /help, /topics, /sources, /lang."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers.questions import throttle_allows
from handlers.replies import bot_data, send_reply, user_lang


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with the topic keyboard; `/start <entry-id>` opens that entry."""
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    lang = user_lang(update, data)
    if context.args:
        reply = data.require().answers.open_entry(context.args[0], lang)
        if reply is not None:
            await send_reply(update, context, reply)
            return
    await send_reply(update, context, data.require().answers.greeting(lang))


async def show_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask and what the bot keeps."""
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    await send_reply(update, context, data.require().answers.text("help", user_lang(update, data)))


async def show_topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the topic keyboard."""
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    await send_reply(update, context, data.require().answers.topics(user_lang(update, data)))


async def show_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot knows and where it comes from."""
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    await send_reply(update, context, data.require().answers.sources(user_lang(update, data)))


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer English or Russian for this chat (kept in memory only)."""
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    await send_reply(
        update, context, data.require().answers.language_choice(user_lang(update, data))
    )


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a command we don't have (admin commands look like this to non-admins)."""
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        return
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    await send_reply(
        update, context, data.require().answers.text("unknown_command", user_lang(update, data))
    )
