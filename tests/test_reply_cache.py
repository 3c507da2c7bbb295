"""The caches of entry replies (Answers) and of rendered replies (handlers.replies).

Entry answers are static, so both are built once; a reload of the knowledge base must never
serve a stale cached reply.
"""

import json
from pathlib import Path

from kb_edits import MARKER, about_entry, apply_edit, copy_knowledge

from bot.answers import Answers, entry_reply
from bot.render import to_html
from bot.runtime import KnowledgeRuntime
from handlers.replies import keyboard, rendered


def test_cached_entry_reply_is_the_uncached_one_with_the_match(tmp_path: Path) -> None:
    runtime = KnowledgeRuntime.load(copy_knowledge(tmp_path / "kb"))
    answers = Answers(runtime)
    entry_id, question = about_entry(tmp_path / "kb")
    first = answers.ask(question, hint="en")
    second = answers.ask(question, hint="en")
    assert first.entry_id == entry_id
    assert (
        first
        == second
        == entry_reply(runtime.current.kb, runtime.current.kb.entry(entry_id), "en")
    )
    assert first.match is not None
    assert answers.press(f"a:{entry_id}", lang="en") == first
    assert answers.open_entry(entry_id, "ru") == entry_reply(
        runtime.current.kb, runtime.current.kb.entry(entry_id), "ru"
    )


def test_a_reload_is_never_served_a_stale_reply(tmp_path: Path) -> None:
    kb_dir = copy_knowledge(tmp_path / "kb")
    runtime = KnowledgeRuntime.load(kb_dir)
    answers = Answers(runtime)
    entry_id, question = about_entry(kb_dir)
    before = answers.ask(question, hint="en")
    chunks_before = rendered(before).chunks
    assert MARKER not in before.text
    apply_edit(kb_dir)
    assert runtime.reload().ok
    after = answers.ask(question, hint="en")
    assert after.entry_id == entry_id
    assert MARKER in after.text
    assert MARKER in answers.press(f"a:{entry_id}", lang="en").text
    assert MARKER in answers.open_entry(entry_id, "en").text
    chunks_after = rendered(after).chunks
    assert any(MARKER in chunk for chunk in chunks_after)
    assert not any(MARKER in chunk for chunk in chunks_before)


def test_rendered_is_to_html_and_keyboard(tmp_path: Path) -> None:
    runtime = KnowledgeRuntime.load(copy_knowledge(tmp_path / "kb"))
    answers = Answers(runtime)
    for reply in (
        answers.ask("why are russians who left coming back?", hint="en", record=False),
        answers.ask("zzzz qqqq", hint="en", record=False),
        answers.topics("ru"),
    ):
        chunks, markup, markup_json = rendered(reply)
        assert chunks == to_html(reply)
        assert markup == keyboard(reply)
        assert markup is None or markup.to_dict() == keyboard(reply).to_dict()
        assert rendered(reply).markup is markup  # built once
        # The JSON text sent is the keyboard object's, as PTB would have serialized it.
        assert markup_json == (None if markup is None else json.dumps(markup.to_dict()))
