"""Admin commands (/reload, /gaps, /stats, /kb): only for RETURNBOT_ADMIN_IDS, in private.

For anyone else, in a group, or when forwarded, they behave exactly like unknown commands
and reveal nothing.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import ContextTypes

from bot.app import BotData, reload_knowledge
from bot.gaps import cluster_gaps
from bot.knowledge import Lang
from bot.render import TELEGRAM_LIMIT, utf16_len
from handlers.commands import unknown_command
from handlers.replies import bot_data, user_lang

MAX_ERRORS_SHOWN = 15
MAX_ERROR_CHARS = 500  # of one error line; keeps every line far below a message


def _is_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    data = bot_data(context)
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    return (
        user is not None
        and chat is not None
        and message is not None
        and chat.type == chat.PRIVATE
        and message.forward_origin is None
        and user.id in data.require().settings.admin_ids
    )


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def admin_only(handler: Handler) -> Handler:
    """Run `handler` for an admin in a private chat; anyone else gets "unknown command"."""

    @functools.wraps(handler)
    async def gated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if _is_admin(update, context):
            await handler(update, context)
        else:
            await unknown_command(update, context)

    return gated


async def _storage_works(update: Update, data: BotData, lang: Lang) -> bool:
    """Tell the admin when storage is down (answers still work); True when it is up."""
    if data.require().storage.healthy:
        return True
    ui = data.require().runtime.current.kb.ui
    await _send(update, html.escape(ui.text("storage_unavailable", lang)))
    return False


async def _send(update: Update, *lines: str) -> None:
    """Send lines of balanced HTML, in as many messages as needed; a line is never cut.

    Cutting the joined text instead could end a message inside a tag or an entity, which
    Telegram refuses (and would lose whatever followed the cut).
    """
    message = update.effective_message
    if message is None:
        return
    chunk = ""
    for line in lines:
        candidate = f"{chunk}\n{line}" if chunk else line
        if chunk and utf16_len(candidate) > TELEGRAM_LIMIT:
            await message.reply_text(chunk, do_quote=False)
            candidate = line
        chunk = candidate
    if chunk:
        await message.reply_text(chunk, do_quote=False)


@admin_only
async def reload_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reload the knowledge base; report the version, or the errors that kept the old one."""
    data = bot_data(context)
    lang = user_lang(update, data)
    result = await reload_knowledge(context.application, "/reload by an admin")
    ui = result.snapshot.kb.ui
    if result.ok:
        kb = result.snapshot.kb
        text = ui.text("reload_ok", lang, version=str(kb.version), entries=kb.stats.entries)
        await _send(update, html.escape(text))
        return
    root = data.require().runtime.root.parent
    lines = [
        f"<code>{html.escape(e.format(root)[:MAX_ERROR_CHARS])}</code>"
        for e in result.errors[:MAX_ERRORS_SHOWN]
    ]
    more = len(result.errors) - MAX_ERRORS_SHOWN
    if more > 0:
        lines.append(f"… +{more}")
    await _send(update, html.escape(ui.text("reload_failed", lang)), *lines)


@admin_only
async def gaps_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the most frequent unanswered questions, grouped, each with its nearest entry."""
    data = bot_data(context)
    lang = user_lang(update, data)
    ui = data.require().runtime.current.kb.ui
    limit = 10
    if context.args and context.args[0].isdigit():
        limit = max(1, min(50, int(context.args[0])))
    if not await _storage_works(update, data, lang):
        return
    clusters = cluster_gaps(data.require().storage.gaps())[:limit]
    if not clusters:
        await _send(update, html.escape(ui.text("gaps_empty", lang)))
        return
    lines = [f"<b>{html.escape(ui.text('gaps_title', lang))}</b>"]
    for cluster in clusters:
        nearest = cluster.nearest_entry or "—"
        lines.append(
            f"{cluster.count}× [{cluster.lang}] {html.escape(cluster.example)} → "
            f"<code>{html.escape(nearest)}</code> ({cluster.best_score:.0f})"
        )
    await _send(update, *lines)


@admin_only
async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the last 7 days: questions, answered/clarify/unknown shares, top entries, feedback."""
    data = bot_data(context)
    lang = user_lang(update, data)
    ui = data.require().runtime.current.kb.ui
    if not await _storage_works(update, data, lang):
        return
    stats = data.require().storage.stats(days=7)

    def counts(questions: int, answered: int, clarify: int, unknown: int) -> str:
        total = max(questions, 1)
        return html.escape(
            ui.text(
                "stats_counts",
                lang,
                questions=questions,
                answered=answered,
                answered_share=round(100 * answered / total),
                clarify=clarify,
                clarify_share=round(100 * clarify / total),
                unknown=unknown,
                unknown_share=round(100 * unknown / total),
            )
        )

    lines = [
        f"<b>{html.escape(ui.text('stats_title', lang, days=stats.days))}</b>",
        counts(stats.questions, stats.answered, stats.clarify, stats.unknown),
    ]
    for code, by_lang in sorted(stats.by_lang.items()):
        numbers = [by_lang.get(k, 0) for k in ("questions", "answered", "clarify", "unknown")]
        lines.append(f"{html.escape(code)}: {counts(*numbers)}")
    for entry_id, count in stats.top_entries[:5]:
        up, down = stats.feedback.get(entry_id, (0, 0))
        lines.append(
            html.escape(
                ui.text("stats_entry", lang, entry=entry_id, count=count, up=up, down=down)
            )
        )
    await _send(update, *lines)


@admin_only
async def kb_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show which knowledge base serves: version, counts, when it was loaded."""
    data = bot_data(context)
    kb = data.require().runtime.current.kb
    text = kb.ui.text(
        "kb_info",
        user_lang(update, data),
        version=str(kb.version),
        entries=kb.stats.entries,
        questions_en=kb.stats.questions_en,
        questions_ru=kb.stats.questions_ru,
        loaded_at=kb.loaded_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
    await _send(update, html.escape(text))
