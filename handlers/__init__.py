"""Thin python-telegram-bot adapters: one module per kind of update.

`register_handlers` is the only place that adds handlers, in the order they are tried.
"""

from __future__ import annotations

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from handlers.admin import gaps_command, kb_command, reload_command, stats_command
from handlers.callbacks import on_button
from handlers.commands import (
    choose_language,
    show_help,
    show_sources,
    show_topics,
    start,
    unknown_command,
)
from handlers.errors import on_error
from handlers.inline import answer_inline_query
from handlers.questions import answer_question, ask_for_text

# Anything a person might send that is not text we can read as a question.
NON_TEXT = (
    filters.Sticker.ALL
    | filters.PHOTO
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Document.ALL
    | filters.LOCATION
    | filters.VENUE
    | filters.CONTACT
    | filters.POLL
    | filters.Dice.ALL
    | filters.STORY
)


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Add every handler. Order matters: the first matching handler in group 0 wins."""
    # Public commands (edited commands count again, like edited questions).
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", show_help))
    application.add_handler(CommandHandler("topics", show_topics))
    application.add_handler(CommandHandler("sources", show_sources))
    application.add_handler(CommandHandler("lang", choose_language))
    # Admin commands check the sender themselves and otherwise act as unknown commands.
    application.add_handler(CommandHandler("reload", reload_command))
    application.add_handler(CommandHandler("gaps", gaps_command))
    application.add_handler(CommandHandler("stats", stats_command))
    application.add_handler(CommandHandler("kb", kb_command))
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    # Questions: private chats always, groups only when the bot is addressed.
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, answer_question))
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE & NON_TEXT, ask_for_text))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(InlineQueryHandler(answer_inline_query))
    application.add_error_handler(on_error)
