"""Questions typed as text: private chats always, groups only when addressed to the bot."""

from __future__ import annotations

from telegram import Message, MessageEntity, Update
from telegram.ext import ContextTypes

from bot.answers import lang_from_code
from handlers.replies import bot_data, chat_choice, send_reply, user_lang


def _addressed_to_bot(message: Message, bot_id: int, username: str | None) -> bool:
    """In groups, answer only mentions of the bot and replies to its own messages."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return True
    if not username:
        return False
    mention = f"@{username}".casefold()
    entities = message.parse_entities([MessageEntity.MENTION])
    return any(text.casefold() == mention for text in entities.values())


def _without_mention(text: str, username: str | None) -> str:
    if not username:
        return text
    return " ".join(w for w in text.split() if w.casefold() != f"@{username}".casefold())


async def throttle_allows(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Apply the per-user throttle; the first message over the limit gets one "slow down"."""
    data = bot_data(context)
    user = update.effective_user
    key = (
        user.id if user is not None else (update.effective_chat.id if update.effective_chat else 0)
    )
    verdict = data.throttle.check(key)
    if verdict == "warn":
        await send_reply(
            update, context, data.require().answers.text("slow_down", user_lang(update, data))
        )
    return verdict == "ok"


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text question (edits are answered again: people edit to fix typos)."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or not message.text:
        return
    if message.via_bot is not None and message.via_bot.id == context.bot.id:
        return  # an answer the user chose in our inline mode: already answered
    text = message.text
    in_group = chat.type != chat.PRIVATE
    if in_group:
        if not _addressed_to_bot(message, context.bot.id, context.bot.username):
            return
        text = _without_mention(text, context.bot.username)
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    if not text.strip():  # only "@bot": a hello, not a question (and no empty gap to store)
        reply = data.require().answers.greeting(user_lang(update, data))
        await send_reply(update, context, reply, quote=in_group)
        return
    user = update.effective_user
    reply = data.require().answers.ask(
        text,
        hint=lang_from_code(user.language_code if user else None),
        chat_lang=chat_choice(update, data),
    )
    await send_reply(update, context, reply, quote=in_group)


async def ask_for_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for a text question when a sticker, photo, voice note or the like arrives."""
    if not await throttle_allows(update, context):
        return
    data = bot_data(context)
    await send_reply(
        update, context, data.require().answers.text("not_text", user_lang(update, data))
    )
