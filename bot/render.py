"""Show a `Reply`: as Telegram HTML (escaped, blockquote, split to 4096) or as plain text.

Every string that reaches HTML goes through `html.escape` here, whether it came from the
knowledge base or from a user, so neither can inject markup.
"""

from __future__ import annotations

import html

from bot.answers import Button, Reply

TELEGRAM_LIMIT = 4096


def _utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def html_blocks(reply: Reply) -> list[str]:
    """Return the reply as balanced HTML blocks (paragraphs), never cut inside a tag."""
    esc = html.escape
    blocks: list[str] = []
    if reply.heading:
        blocks.append(f"<b>{esc(reply.heading)}</b>")
    blocks.extend(esc(part) for part in reply.text.split("\n\n") if part.strip())
    if reply.quote is not None:
        note = f" {esc(reply.quote.note)}" if reply.quote.note else ""
        blocks.append(
            f"<blockquote>{esc(reply.quote.text)}\n<i>{esc(reply.quote.by)}</i>{note}</blockquote>"
        )
    if reply.attribution:
        blocks.append("<i>" + "\n".join(esc(line) for line in reply.attribution) + "</i>")
    return blocks


def _split_plain(text: str, limit: int) -> list[str]:
    """Split an over-long block of escaped text at line, then word boundaries."""
    pieces: list[str] = []
    current = ""
    for token in text.replace("\n", "\n ").split(" "):
        candidate = f"{current} {token}" if current else token
        if _utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while _utf16_len(token) > limit:  # one giant "word": cut it, avoiding entities
            cut = limit
            amp = token.rfind("&", 0, cut)
            if amp != -1 and ";" not in token[amp:cut]:
                cut = amp
            pieces.append(token[:cut])
            token = token[cut:]
        current = token
    if current:
        pieces.append(current)
    return pieces


def to_html(reply: Reply, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Render as one or more Telegram HTML messages, each within `limit`."""
    messages: list[str] = []
    current = ""
    for block in html_blocks(reply):
        pieces = [block] if _utf16_len(block) <= limit else _split_plain(block, limit)
        for piece in pieces:
            candidate = f"{current}\n\n{piece}" if current else piece
            if _utf16_len(candidate) <= limit:
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
