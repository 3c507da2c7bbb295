"""The `returnbot` command as people run it: a subprocess with a clean environment.

Nothing here imports the CLI: what is checked is what a shell sees (exit code, stdout lines,
stderr lines), so argument parsing, settings, printing and encodings are all covered.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_process import REPO, run_cli
from kb_edits import apply_break, copy_knowledge

from bot.knowledge import KnowledgeBase, default_knowledge_dir, load_knowledge
from bot.knowledge.models import Entry

THRESHOLDS = REPO / "tests" / "eval" / "thresholds.yaml"
TOKEN = "7350123:AAF-cliTestToken_aBcDeFgHiJkLmNoPqRs"  # noqa: S105 - never reaches Telegram
ASK_KEYS = {
    "outcome",
    "entry",
    "score",
    "lang",
    "answer",
    "quote",
    "source",
    "candidates",
    "matched_question",
}
OUT_OF_SCOPE = "How do I bake sourdough bread at home?"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    """The shipped knowledge base, which the commands use when not told otherwise."""
    return load_knowledge(default_knowledge_dir())


def first_entry(kb: KnowledgeBase, **wanted: Any) -> Entry:
    for entry in kb.entries:
        if (
            (wanted.get("quote") is None or (entry.quote is not None) == wanted["quote"])
            and (not wanted.get("sourced") or entry.source is not None)
            and (not wanted.get("related") or entry.related)
        ):
            return entry
    pytest.fail(f"the knowledge base has no entry with {wanted}")


def only_json_line(stdout: str) -> dict[str, Any]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def assert_answers_entry(result: dict[str, Any], entry: Entry, lang: str) -> None:
    assert set(result) == ASK_KEYS
    assert result["outcome"] == "answer"
    assert result["entry"] == entry.id
    assert result["lang"] == lang
    assert result["answer"] == entry.answer.get(lang)
    assert isinstance(result["score"], float)
    assert 0 <= result["score"] <= 100
    assert isinstance(result["matched_question"], str)
    assert result["matched_question"]
    assert result["candidates"]
    assert result["candidates"][0]["entry"] == entry.id
    assert all(set(c) == {"entry", "score", "question"} for c in result["candidates"])


# --------------------------------------------------------------------------------------------
# returnbot ask


def test_ask_json_answers_an_english_question(kb: KnowledgeBase, tmp_path: Path) -> None:
    entry = first_entry(kb, quote=False, sourced=True)
    done = run_cli("ask", entry.questions.en[0], "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = only_json_line(done.stdout)
    assert_answers_entry(result, entry, "en")
    assert result["quote"] is None
    assert result["source"]["id"] == entry.source
    assert result["source"]["paragraphs"] == sorted({e.paragraph for e in entry.evidence})


def test_ask_json_refuses_an_out_of_scope_question(tmp_path: Path) -> None:
    done = run_cli("ask", OUT_OF_SCOPE, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = only_json_line(done.stdout)
    assert set(result) == ASK_KEYS
    assert result["outcome"] == "unknown"
    assert result["entry"] is None
    assert result["answer"] is None
    assert result["quote"] is None
    assert result["source"] is None
    assert result["matched_question"] is None
    assert result["lang"] == "en"


def test_ask_json_answers_in_russian(kb: KnowledgeBase, tmp_path: Path) -> None:
    entry = first_entry(kb, quote=False, sourced=True)
    done = run_cli("ask", entry.questions.ru[0], "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_answers_entry(only_json_line(done.stdout), entry, "ru")


def test_ask_json_carries_the_quote_of_a_quote_entry(kb: KnowledgeBase, tmp_path: Path) -> None:
    entry = first_entry(kb, quote=True)
    assert entry.quote is not None
    done = run_cli("ask", entry.questions.en[0], "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = only_json_line(done.stdout)
    assert_answers_entry(result, entry, "en")
    assert result["quote"] == {
        "text": entry.quote.text,
        "speaker": entry.quote.speaker.get("en"),
        "speaker_role": entry.quote.speaker_role.get("en"),
        "translation_ru": entry.quote.translation_ru,
    }


def test_ask_without_a_question_answers_each_stdin_line_as_json(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    plain = first_entry(kb, quote=False, sourced=True)
    quoted = first_entry(kb, quote=True)
    lines = [plain.questions.en[0], "", "   ", plain.questions.ru[0], OUT_OF_SCOPE]
    lines.append(quoted.questions.en[0])
    done = run_cli("ask", cwd=tmp_path, stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["entry"], r["lang"]) for r in results] == [
        (plain.id, "en"),
        (plain.id, "ru"),
        (None, "en"),
        (quoted.id, "en"),
    ]
    assert all(set(r) == ASK_KEYS for r in results)
    assert results[3]["quote"]["text"] == quoted.quote.text  # type: ignore[union-attr]


# A UTF-8 locale that decodes stdin strictly, as a desktop's en_US.UTF-8 does (C and C.UTF-8
# are lenient, so the default environment of a test run would hide the problem).
STRICT_UTF8 = {"PYTHONIOENCODING": "utf-8:strict"}


def test_ask_survives_undecodable_bytes_and_a_huge_line(kb: KnowledgeBase, tmp_path: Path) -> None:
    entry = first_entry(kb, quote=False, sourced=True)
    question = entry.questions.en[0].encode()
    stdin = b"\n".join([question, b"caf\xe9 \xff\xfe?", b"a" * 100_000, b"", question]) + b"\n"
    done = run_cli("ask", cwd=tmp_path, stdin=stdin, env=STRICT_UTF8)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["entry"] for r in results] == [entry.id, None, None, entry.id]


def test_chat_survives_undecodable_bytes(kb: KnowledgeBase, tmp_path: Path) -> None:
    entry = first_entry(kb, quote=False, sourced=True)
    stdin = b"\xff\xfe \xc3(\n" + entry.questions.en[0].encode() + b"\n"
    done = run_cli("chat", cwd=tmp_path, stdin=stdin, env=STRICT_UTF8)
    assert done.returncode == 0, done.stderr
    assert entry.answer.get("en") in done.stdout
    assert done.stderr == ""


# --------------------------------------------------------------------------------------------
# returnbot chat, and plain `returnbot` without a token


def test_chat_driven_through_stdin(kb: KnowledgeBase, tmp_path: Path) -> None:
    entry = first_entry(kb, related=True, quote=False)
    after_quit = first_entry(kb, quote=True)
    lines = [entry.questions.en[0], "1", "/lang", "/quit", after_quit.questions.en[0]]
    done = run_cli("chat", cwd=tmp_path, stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    intro = kb.ui.text("chat_intro", "en")
    assert out.startswith(" ".join(intro.split()))
    answer = out.index(entry.answer.get("en"))
    related = out.index(kb.entry(entry.related[0]).answer.get("en"), answer)  # button 1
    assert "Русский" in out[related:]  # the /lang choice
    assert after_quit.answer.get("en") not in out  # nothing is read after /quit
    assert "> " not in out  # no prompts when stdin is not a terminal
    assert done.stderr == ""


def test_plain_returnbot_without_a_token_starts_the_local_chat(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    done = run_cli(cwd=tmp_path)  # stdin closed: the chat ends at once
    assert done.returncode == 0, done.stderr
    assert " ".join(kb.ui.text("chat_intro", "en").split()) in done.stdout
    assert done.stderr == ""


# --------------------------------------------------------------------------------------------
# returnbot run: configuration problems are one line, exit code 2, nothing echoed


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_run_without_a_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_cli("run", cwd=tmp_path)
    assert done.returncode == 2
    assert "RETURNBOT_TOKEN" in one_line(done.stderr)
    assert done.stdout == ""


@pytest.mark.parametrize(
    "token",
    ["12345:tooShortSecret", "notanumber:AAF-cliTestToken_aBcDeFgHiJkLmNoPqRs", "  "],
    ids=["short-secret", "no-bot-id", "blank"],
)
def test_run_with_a_malformed_token_does_not_echo_it(tmp_path: Path, token: str) -> None:
    done = run_cli("run", cwd=tmp_path, env={"RETURNBOT_TOKEN": token})
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "RETURNBOT_TOKEN" in line
    if token.strip():
        assert token.partition(":")[2] not in done.stderr
        assert token.partition(":")[0] not in done.stderr


def test_run_with_a_misspelt_setting_suggests_the_right_one(tmp_path: Path) -> None:
    done = run_cli("run", cwd=tmp_path, env={"RETURNBOT_TOKN": TOKEN})
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "did you mean RETURNBOT_TOKEN" in line
    assert TOKEN.partition(":")[2] not in done.stderr  # a misplaced token is still a token


def test_run_with_a_broken_knowledge_base_names_file_and_line(tmp_path: Path) -> None:
    broken = copy_knowledge(tmp_path / "knowledge")
    line = apply_break(broken)
    env = {
        "RETURNBOT_TOKEN": TOKEN,
        "RETURNBOT_KNOWLEDGE_DIR": str(broken),
        "RETURNBOT_BOT_API_URL": "http://127.0.0.1:9/bot",  # never reached
    }
    done = run_cli("run", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert re.search(rf"^knowledge/entries/about\.yaml:{line}: ", done.stderr, re.M)
    assert "not starting" in done.stderr
    assert "Traceback" not in done.stderr
    assert TOKEN.partition(":")[2] not in done.stdout + done.stderr

    check = run_cli("kb", "check", "--knowledge", str(broken), cwd=tmp_path)
    assert check.returncode == 1
    assert f"knowledge/entries/about.yaml:{line}: " in check.stdout


# --------------------------------------------------------------------------------------------
# returnbot kb test


def test_kb_test_reports_per_language_and_obeys_the_thresholds(tmp_path: Path) -> None:
    done = run_cli("kb", "test", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    out = done.stdout
    sections = re.findall(r"^== (\S+): \d+ questions$", out, re.M)
    assert "leave-one-out" in sections
    for lang in ("en", "ru"):
        assert len(re.findall(rf"^  {lang}: answered correctly +[\d.]+%", out, re.M)) == len(
            sections
        )
    below = re.findall(r"BELOW THRESHOLD: (\w+) = ([\d.]+) \(threshold ([\d.]+)\)", out)
    floors = yaml.safe_load(THRESHOLDS.read_text(encoding="utf-8")) if THRESHOLDS.exists() else {}
    known = {(metric, bound) for split in floors.values() for metric, bound in split.items()}
    assert all((metric, float(bound)) in known for metric, _, bound in below), below
    if done.returncode == 0:
        assert not below
        assert out.rstrip().endswith("kb test passed")
    else:
        assert below
        assert "kb test failed" in out
