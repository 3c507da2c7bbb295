"""Inline mode: `@bot question` in any chat offers matching answers as articles."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.ext import ContextTypes

from bot.answers import Reply, lang_from_code
from bot.render import to_html
from handlers.replies import bot_data

MAX_RESULTS = 10
_DESCRIPTION = 120


def _open_in_bot(username: str | None, entry_id: str | None) -> InlineKeyboardMarkup | None:
    if not username or not entry_id:
        return None
    url = f"https://t.me/{username}?start={entry_id}"
    return InlineKeyboardMarkup([[InlineKeyboardButton("↗", url=url)]])


def _article(
    result_id: str,
    title: str,
    reply: Reply,
    username: str | None,
    description: str | None = None,
) -> InlineQueryResultArticle:
    """An inline result carrying `reply`; the description defaults to the reply's start."""
    if description is None:
        description = (
            reply.text if len(reply.text) <= _DESCRIPTION else reply.text[: _DESCRIPTION - 1] + "…"
        )
    return InlineQueryResultArticle(
        id=result_id,
        title=title,
        description=description,
        input_message_content=InputTextMessageContent(to_html(reply)[0]),
        reply_markup=_open_in_bot(username, reply.entry_id),
    )


async def answer_inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer up to 10 entries for the query, or the topics for an empty query."""
    query = update.inline_query
    if query is None:
        return
    if query.offset:
        # Every result goes in the first page (no next_offset is ever given), so a request
        # for a next page must get nothing, or the client would list them all twice.
        await query.answer([], cache_time=60, is_personal=False)
        return
    data = bot_data(context)
    kb = data.require().runtime.current.kb
    hint = lang_from_code(query.from_user.language_code) or "en"
    text = query.query.strip()
    username = context.bot.username
    results = []
    if not text:
        for topic in kb.topics:
            entries = kb.entries_in(topic.id)
            reply = Reply(
                "topic",
                hint,
                "\n".join(f"• {e.title.get(hint)}" for e in entries),
                heading=topic.title.get(hint),
            )
            description = kb.ui.text("inline_topic_description", hint)
            results.append(
                _article(f"t-{topic.id}", topic.title.get(hint), reply, username, description)
            )
    else:
        for reply in data.require().answers.search(text, hint=hint, limit=MAX_RESULTS):
            results.append(_article(reply.entry_id or "x", reply.heading or "", reply, username))
        if not results:
            lang = data.require().runtime.current.matcher.detect_language(text, hint)
            unknown = data.require().answers.text("unknown", lang)
            results.append(_article("unknown", kb.ui.text("inline_empty", lang), unknown, None))
    await query.answer(results[:MAX_RESULTS], cache_time=60, is_personal=False)
