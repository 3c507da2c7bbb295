"""The answer core: a question or a button press becomes a `Reply`, as plain data.

The Telegram handlers, the inline mode, the local terminal chat and `returnbot ask` all
go through here, so they can never disagree. Nothing here knows about Telegram or HTML.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

from bot.knowledge import LANGS, Entry, KnowledgeBase, Lang
from bot.matcher import MatchResult
from bot.runtime import KnowledgeRuntime, Snapshot
from bot.storage import BackgroundStorage, Storage

logger = logging.getLogger(__name__)

ReplyKind = Literal["answer", "clarify", "unknown", "info", "topics", "topic", "expired"]

# Callback data: a short action code and an id, always well within Telegram's 64 bytes.
MAX_QUESTION_CHARS = 4096  # Telegram's limit for a message
ACTION_ENTRY = "a"  # a:<entry-id>        open an entry
ACTION_TOPIC = "t"  # t:<topic-id>        list a topic's entries
ACTION_TOPICS = "top"  # top              back to the topic list
ACTION_LANG = "l"  # l:<en|ru>            set the chat's language
ACTION_FEEDBACK = "f"  # f:<+|->:<entry-id>  helpful or not


@dataclass(frozen=True)
class Button:
    """An inline button: a label and the action it triggers."""

    label: str
    action: str


@dataclass(frozen=True)
class QuoteBlock:
    """A quote shown as a block: text, who said it, and whether it is a translation."""

    text: str
    by: str
    note: str | None = None


@dataclass(frozen=True)
class Reply:
    """What to say, independent of how it is shown (Telegram HTML or plain text)."""

    kind: ReplyKind
    lang: Lang
    text: str
    quote: QuoteBlock | None = None
    attribution: tuple[str, ...] = ()
    heading: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    entry_id: str | None = None
    match: MatchResult | None = field(default=None, compare=False)


def lang_from_code(code: str | None) -> Lang | None:
    """Map a Telegram language_code ("ru", "ru-RU", "en-GB") to a language we speak."""
    if not code:
        return None
    base = code.split("-")[0].lower()
    if base in LANGS:
        return base  # type: ignore[return-value]
    # Russian-speaking users of neighbouring locales usually prefer Russian.
    return "ru" if base in {"uk", "be", "kk", "ky", "uz", "hy", "ka", "az", "tg"} else None


class Answers:
    """Turns questions and button actions into replies from the current snapshot."""

    def __init__(
        self, runtime: KnowledgeRuntime, storage: Storage | BackgroundStorage | None = None
    ) -> None:
        self.runtime = runtime
        self.storage = storage
        # Entry replies are static per knowledge base: built once per (entry, language), for
        # the KB object they were built from; a reload brings a new KB and a fresh cache.
        self._entry_cache: tuple[KnowledgeBase | None, dict[tuple[str, Lang], Reply]] = (None, {})

    def _entry_reply(self, kb: KnowledgeBase, entry: Entry, lang: Lang) -> Reply:
        """entry_reply (with feedback buttons), cached for this knowledge base."""
        cached_kb, cache = self._entry_cache
        if cached_kb is not kb:
            cache = {}
            self._entry_cache = (kb, cache)
        reply = cache.get((entry.id, lang))
        if reply is None:
            reply = cache[(entry.id, lang)] = entry_reply(kb, entry, lang)
        return reply

    # -- questions ------------------------------------------------------------------------

    def ask(
        self,
        text: str,
        *,
        hint: Lang | None = None,
        chat_lang: Lang | None = None,
        record: bool = True,
    ) -> Reply:
        """Answer one question; unknown and clarify are logged as gaps, without identity.

        Only the first MAX_QUESTION_CHARS count, as in Telegram, which never delivers more:
        the local chat and `returnbot ask` read whatever a line holds, and matching time
        grows faster than the length of a word (a 100,000-letter line took minutes).
        """
        text = text[:MAX_QUESTION_CHARS]
        snapshot = self.runtime.current
        result = snapshot.matcher.match(text, hint or chat_lang)
        lang: Lang = chat_lang or result.lang
        small_talk = result.small_talk
        if record and self.storage is not None:
            self.storage.record_question(
                lang=result.lang,
                outcome=result.outcome,
                entry_id=result.entry_id,
                score=result.score,
                # A greeting is not a gap in the knowledge base: count it, don't keep it.
                text=text if result.outcome != "answer" and not small_talk else None,
            )
        if small_talk:
            return Reply(
                "unknown",
                lang,
                snapshot.kb.ui.text("small_talk", lang),
                buttons=topic_buttons(snapshot.kb, lang),
                match=result,
            )
        return self.reply_for(snapshot, result, lang)

    def reply_for(self, snapshot: Snapshot, result: MatchResult, lang: Lang) -> Reply:
        """Render a match decision as a reply in `lang`."""
        kb = snapshot.kb
        if result.outcome == "answer" and result.entry_id is not None:
            entry = kb.entry(result.entry_id)
            if entry is not None:
                return replace(self._entry_reply(kb, entry, lang), match=result)
        if result.outcome == "clarify":
            buttons = tuple(
                (Button(entry.title.get(lang), f"{ACTION_ENTRY}:{entry.id}"),)
                for candidate in result.candidates
                if (entry := kb.entry(candidate.entry_id)) is not None
            )
            return Reply(
                "clarify", lang, kb.ui.text("clarify", lang), buttons=buttons, match=result
            )
        return Reply(
            "unknown",
            lang,
            kb.ui.text("unknown", lang),
            buttons=((Button(kb.ui.text("topics_button", lang), ACTION_TOPICS),),),
            match=result,
        )

    # -- buttons --------------------------------------------------------------------------

    def press(self, action: str, *, lang: Lang) -> Reply:
        """Carry out a button's action; stale or forged data gives an "expired" reply."""
        kb = self.runtime.current.kb
        code, _, rest = action.partition(":")
        if code == ACTION_ENTRY and (entry := kb.entry(rest)) is not None:
            return self._entry_reply(kb, entry, lang)
        if code == ACTION_TOPIC and kb.topic(rest) is not None:
            return topic_reply(kb, rest, lang)
        if action == ACTION_TOPICS:
            return topics_reply(kb, lang)
        if code == ACTION_LANG and rest in LANGS:
            chosen: Lang = rest  # type: ignore[assignment]
            return Reply("info", chosen, kb.ui.text("lang_set", chosen))
        if code == ACTION_FEEDBACK:
            sign, _, entry_id = rest.partition(":")
            if sign in {"+", "-"} and kb.entry(entry_id) is not None:
                if self.storage is not None:
                    self.storage.record_feedback(entry_id, helpful=sign == "+")
                return Reply("info", lang, kb.ui.text("feedback_thanks", lang), entry_id=entry_id)
        return Reply("expired", lang, kb.ui.text("expired_button", lang))

    def open_entry(self, entry_id: str, lang: Lang) -> Reply | None:
        """Open an entry by id (deep links); None when it does not exist."""
        kb = self.runtime.current.kb
        entry = kb.entry(entry_id)
        return self._entry_reply(kb, entry, lang) if entry is not None else None

    # -- interface texts ------------------------------------------------------------------

    def text(self, name: str, lang: Lang) -> Reply:
        """A plain interface text (greeting, help, not-text, slow-down…)."""
        return Reply("info", lang, self.runtime.current.kb.ui.text(name, lang))

    def greeting(self, lang: Lang) -> Reply:
        """The /start greeting with the topic keyboard."""
        kb = self.runtime.current.kb
        return Reply(
            "topics", lang, kb.ui.text("start_greeting", lang), buttons=topic_buttons(kb, lang)
        )

    def topics(self, lang: Lang) -> Reply:
        """The /topics keyboard."""
        return topics_reply(self.runtime.current.kb, lang)

    def sources(self, lang: Lang) -> Reply:
        """What the bot knows and where from (/sources)."""
        kb = self.runtime.current.kb
        lines = []

        def shown(value: str) -> str:
            # sources.yaml writes "unknown" where the text does not say; show it in `lang`.
            return kb.ui.text("not_stated", lang) if value == "unknown" else value

        for loaded in kb.sources.values():
            meta = loaded.meta
            lines.append(
                kb.ui.text(
                    "source_details",
                    lang,
                    title=meta.title.get(lang),
                    kind=meta.kind.get(lang),
                    language=kb.ui.text(f"language_{meta.language}", lang),
                    author=shown(meta.author),
                    outlet=shown(meta.outlet),
                    published=shown(meta.published),
                )
            )
            lines.append(meta.description.get(lang))
        return Reply(
            "info",
            lang,
            "\n\n".join(lines),
            heading=kb.ui.text("sources_intro", lang),
            buttons=topic_buttons(kb, lang),
        )

    def language_choice(self, lang: Lang) -> Reply:
        """The /lang prompt with one button per language."""
        kb = self.runtime.current.kb
        buttons = (
            (Button("English", f"{ACTION_LANG}:en"), Button("Русский", f"{ACTION_LANG}:ru")),
        )
        return Reply("info", lang, kb.ui.text("lang_prompt", lang), buttons=buttons)

    def search(self, text: str, *, hint: Lang | None = None, limit: int = 10) -> list[Reply]:
        """Inline mode: the entries that plausibly answer `text`, as full replies."""
        snapshot = self.runtime.current
        lang = snapshot.matcher.detect_language(text, hint)
        replies = []
        for candidate in snapshot.matcher.search(text, lang, limit=limit):
            entry = snapshot.kb.entry(candidate.entry_id)
            if entry is not None:
                replies.append(entry_reply(snapshot.kb, entry, lang, feedback=False))
        return replies


def topic_buttons(kb: KnowledgeBase, lang: Lang) -> tuple[tuple[Button, ...], ...]:
    """One button per topic, two per row (fits phone screens)."""
    buttons = [Button(t.title.get(lang), f"{ACTION_TOPIC}:{t.id}") for t in kb.topics]
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


def topics_reply(kb: KnowledgeBase, lang: Lang) -> Reply:
    """The topic list."""
    return Reply("topics", lang, kb.ui.text("topics_title", lang), buttons=topic_buttons(kb, lang))


def topic_reply(kb: KnowledgeBase, topic_id: str, lang: Lang) -> Reply:
    """The entries of one topic, with a way back."""
    topic = kb.topic(topic_id)
    title = topic.title.get(lang) if topic else topic_id
    rows = [
        (Button(e.title.get(lang), f"{ACTION_ENTRY}:{e.id}"),) for e in kb.entries_in(topic_id)
    ]
    rows.append((Button(kb.ui.text("back", lang), ACTION_TOPICS),))
    return Reply(
        "topic", lang, kb.ui.text("topic_questions", lang, topic=title), buttons=tuple(rows)
    )


def entry_reply(kb: KnowledgeBase, entry: Entry, lang: Lang, *, feedback: bool = True) -> Reply:
    """An entry's answer with its quote, attribution, related questions and feedback buttons."""
    ui = kb.ui
    quote = None
    if entry.quote is not None:
        by = ui.text(
            "quote_by",
            lang,
            speaker=entry.quote.speaker.get(lang),
            role=entry.quote.speaker_role.get(lang),
        )
        if lang == "ru":
            quote = QuoteBlock(
                entry.quote.translation_ru, by, ui.text("translated_quote_note", lang)
            )
        else:
            quote = QuoteBlock(entry.quote.text, by)
    attribution: list[str] = []
    loaded = kb.source_of(entry)
    if loaded is not None and entry.evidence:
        paragraphs = ", ".join(str(n) for n in sorted({e.paragraph for e in entry.evidence}))
        attribution.append(
            ui.text("source_line", lang, source=loaded.meta.title.get(lang), paragraph=paragraphs)
        )
    if entry.figure is not None:
        attribution.append(
            ui.text("claim_line", lang, claimed_by=entry.figure.claimed_by.get(lang))
        )
    rows: list[tuple[Button, ...]] = [
        (Button(related.title.get(lang), f"{ACTION_ENTRY}:{related.id}"),)
        for related_id in entry.related
        if (related := kb.entry(related_id)) is not None
    ]
    if feedback:
        rows.append(
            (
                Button(ui.text("feedback_up", lang), f"{ACTION_FEEDBACK}:+:{entry.id}"),
                Button(ui.text("feedback_down", lang), f"{ACTION_FEEDBACK}:-:{entry.id}"),
            )
        )
    return Reply(
        "answer",
        lang,
        entry.answer.get(lang),
        quote=quote,
        attribution=tuple(attribution),
        heading=entry.title.get(lang),
        buttons=tuple(rows),
        entry_id=entry.id,
    )
