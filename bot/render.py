"""Show a `Reply`: as Telegram HTML (escaped, blockquote, split to 4096) or as plain text.

Every string that reaches HTML goes through `html.escape` here, whether it came from the
knowledge base or from a user, so neither can inject markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from bot.answers import Button, Reply

TELEGRAM_LIMIT = 4096


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Block:
    """One paragraph of HTML: escaped text inside balanced markup.

    Kept in parts so an over-long block can be cut inside `body` and each piece re-wrapped
    in `start`/`end`: a cut never leaves a tag open. `tail` is short balanced markup that
    belongs after the body in the last piece only (the author line of a quote).
    """

    body: str
    start: str = ""
    tail: str = ""
    end: str = ""

    @property
    def html(self) -> str:
        return f"{self.start}{self.body}{self.tail}{self.end}"

    def pieces(self, limit: int) -> list[str]:
        """The block as one or more pieces of valid HTML, each within `limit`."""
        if utf16_len(self.html) <= limit:
            return [self.html]
        # Keep at least half a message for the text, however long the markup (it is short).
        budget = max(limit - utf16_len(self.start + self.tail + self.end), limit // 2)
        parts = _split_plain(self.body, budget)
        last = len(parts) - 1
        return [
            f"{self.start}{part}{self.tail if i == last else ''}{self.end}"
            for i, part in enumerate(parts)
        ]


def _blocks(reply: Reply) -> list[_Block]:
    esc = html.escape
    blocks: list[_Block] = []
    if reply.heading:
        blocks.append(_Block(esc(reply.heading), "<b>", end="</b>"))
    blocks.extend(_Block(esc(part)) for part in reply.text.split("\n\n") if part.strip())
    if reply.quote is not None:
        note = f" {esc(reply.quote.note)}" if reply.quote.note else ""
        tail = f"\n<i>{esc(reply.quote.by)}</i>{note}"
        blocks.append(_Block(esc(reply.quote.text), "<blockquote>", tail, "</blockquote>"))
    if reply.attribution:
        body = "\n".join(esc(line) for line in reply.attribution)
        blocks.append(_Block(body, "<i>", end="</i>"))
    return blocks


def html_blocks(reply: Reply) -> list[str]:
    """Return the reply as balanced HTML blocks (paragraphs), never cut inside a tag."""
    return [block.html for block in _blocks(reply)]


def _cut_word(word: str, limit: int) -> list[str]:
    """Cut one over-long "word" of escaped text by UTF-16 length, never inside `&...;`."""
    pieces: list[str] = []
    while utf16_len(word) > limit:
        cut, size = 0, 0
        for char in word:
            size += 2 if ord(char) > 0xFFFF else 1
            if size > limit:
                break
            cut += 1
        amp = word.rfind("&", 0, cut)
        if amp > 0 and ";" not in word[amp:cut]:
            cut = amp  # the cut would split an entity such as &amp;: cut before it
        cut = max(cut, 1)  # absurdly small limits: at least make progress
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word] if word else pieces


def _pack(tokens: list[str], limit: int) -> list[str]:
    """Greedily join tokens (each carrying its trailing separator) into pieces within limit."""
    pieces: list[str] = []
    current = ""
    for token in tokens:
        if utf16_len(current + token.rstrip()) <= limit:
            current += token
            continue
        if current.strip():
            pieces.append(current.rstrip())
        current = token
    if current.strip():
        pieces.append(current.rstrip())
    return pieces


def _split_plain(text: str, limit: int) -> list[str]:
    """Split an over-long block of escaped text at line, then word boundaries.

    A word longer than a whole piece is cut anywhere outside an entity. Separators at a cut
    are dropped; all others are kept exactly as they were.
    """
    tokens: list[str] = []
    for line in re.split(r"(?<=\n)", text):
        if utf16_len(line.rstrip()) <= limit:
            tokens.append(line)
            continue
        for word in re.split(r"(?<= )", line):
            if utf16_len(word.rstrip()) <= limit:
                tokens.append(word)
            else:
                tokens.extend(_cut_word(word, limit))
    return _pack(tokens, limit)


def to_html(reply: Reply, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Render as one or more Telegram HTML messages, each within `limit`.

    Blocks are joined by blank lines and a message is closed before a block that no longer
    fits; only a block longer than a whole message is cut, inside its own markup.
    """
    messages: list[str] = []
    current = ""
    for block in _blocks(reply):
        for piece in block.pieces(limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if utf16_len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages or [html.escape(reply.text) or "…"]


def buttons_of(reply: Reply) -> list[Button]:
    """All buttons of a reply, in reading order (the local chat numbers them)."""
    return [button for row in reply.buttons for button in row]


def to_plain(reply: Reply, *, numbered: bool = True) -> str:
    """Render as plain text for a terminal; buttons become numbered choices."""
    lines: list[str] = []
    if reply.heading:
        lines += [reply.heading.upper(), ""]
    lines.append(reply.text)
    if reply.quote is not None:
        lines.append("")
        lines += [f"  > {line}" for line in reply.quote.text.splitlines()]
        note = f" {reply.quote.note}" if reply.quote.note else ""
        lines.append(f"  {reply.quote.by}{note}")
    if reply.attribution:
        lines.append("")
        lines += list(reply.attribution)
    buttons = buttons_of(reply)
    if buttons and numbered:
        lines.append("")
        lines += [f"  [{i}] {button.label}" for i, button in enumerate(buttons, start=1)]
    return "\n".join(lines)
