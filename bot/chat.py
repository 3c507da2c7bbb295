"""The local terminal chat: the same answer core and texts as Telegram, buttons as numbers.

It is what `make run` starts when no token is configured, so anyone can try the bot on
a fresh machine without Telegram.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.answers import Answers, Button, Reply
from bot.knowledge import Lang
from bot.render import buttons_of, to_plain

QUIT_COMMANDS = {"/quit", "/exit", "/q", "quit", "exit"}


class LocalChat:
    """One terminal conversation: remembers the last buttons and the chosen language."""

    def __init__(self, answers: Answers, lang: Lang | None = None) -> None:
        self.answers = answers
        self.lang: Lang | None = lang
        self.buttons: list[Button] = []

    def _ui_lang(self) -> Lang:
        return self.lang or "en"

    def intro(self) -> str:
        """The greeting shown when the chat starts."""
        return self.answers.runtime.current.kb.ui.text("chat_intro", self._ui_lang())

    def handle(self, line: str) -> str | None:
        """Answer one typed line; None means the user wants to leave."""
        text = line.strip()
        if not text:
            return ""
        if text.lower() in QUIT_COMMANDS:
            return None
        if text.isdigit() and self.buttons:
            number = int(text)
            if 1 <= number <= len(self.buttons):
                return self._show(self._press(self.buttons[number - 1].action))
        command = text.split()[0].lower() if text.startswith("/") else None
        lang = self._ui_lang()
        if command == "/start":
            return self._show(self.answers.greeting(lang))
        if command == "/help":
            return self._show(self.answers.text("help", lang))
        if command == "/topics":
            return self._show(self.answers.topics(lang))
        if command == "/sources":
            return self._show(self.answers.sources(lang))
        if command == "/lang":
            return self._show(self.answers.language_choice(lang))
        if command is not None:
            return self._show(self.answers.text("unknown_command", lang))
        return self._show(self.answers.ask(text, chat_lang=self.lang, record=False))

    def _press(self, action: str) -> Reply:
        reply = self.answers.press(action, lang=self._ui_lang())
        if action.startswith("l:"):
            self.lang = reply.lang
        return reply

    def _show(self, reply: Reply) -> str:
        self.buttons = buttons_of(reply)
        text = to_plain(reply)
        if self.buttons:
            text += "\n" + self.answers.runtime.current.kb.ui.text("chat_choose", reply.lang)
        return text


def run_chat(
    chat: LocalChat, lines: Iterable[str], write: Callable[[str], None], prompt: str = "> "
) -> None:
    """Drive a chat from an iterable of lines (stdin, or a list in tests)."""
    write(chat.intro() + "\n")
    write(prompt)
    for line in lines:
        answer = chat.handle(line)
        if answer is None:
            break
        if answer:
            write(answer + "\n\n")
        write(prompt)
    write("\n")
