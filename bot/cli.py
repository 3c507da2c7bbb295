"""The `returnbot` command: run the bot, chat locally, ask once, and moderators' kb tools."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bot.knowledge import KnowledgeBase, KnowledgeLoadError, load_knowledge
from bot.knowledge.models import EntriesFile

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _load_or_report(root: Path) -> KnowledgeBase | None:
    """Load the knowledge base, printing `file:line: message` for each problem."""
    try:
        return load_knowledge(root)
    except KnowledgeLoadError as exc:
        base = Path.cwd()
        for error in exc.errors:
            _out(error.format(base))
        _out(f"{len(exc.errors)} problem(s); the knowledge base was not loaded")
        return None


def _knowledge_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--knowledge", type=Path, default=None, help="knowledge folder (default: the shipped one)"
    )


def _knowledge_dir(args: argparse.Namespace) -> Path:
    if args.knowledge is not None:
        return args.knowledge
    from bot.settings import SettingsError, load_settings

    try:
        return load_settings().knowledge_dir
    except SettingsError:
        from bot.knowledge import default_knowledge_dir

        return default_knowledge_dir()


def cmd_kb_check(args: argparse.Namespace) -> int:
    """Validate and verify the knowledge base; exit 1 on any problem."""
    started = time.perf_counter()
    kb = _load_or_report(_knowledge_dir(args))
    if kb is None:
        return EXIT_PROBLEMS
    s = kb.stats
    elapsed = (time.perf_counter() - started) * 1000
    _out(
        f"ok: {s.entries} entries, questions {s.questions_en} en / {s.questions_ru} ru, "
        f"{s.quotes_verified} quotes verified, {s.figures_verified} figures verified, "
        f"{s.evidence_verified} evidence spans verified against the source "
        f"(version {kb.version}, {elapsed:.0f} ms)"
    )
    return EXIT_OK


def entries_schema() -> dict[str, object]:
    """Return the JSON Schema moderators' editors validate entries files against."""
    schema = EntriesFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "returnbot knowledge entries file"
    return schema


def cmd_kb_schema(args: argparse.Namespace) -> int:
    """Write the entries JSON Schema (to stdout or a file)."""
    text = json.dumps(entries_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        _out(f"wrote {args.output}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Describe every subcommand; `returnbot` alone runs the bot or the local chat."""
    parser = argparse.ArgumentParser(
        prog="returnbot",
        description="Answers questions about the return migration of Russians, from a verified "
        "knowledge base. Without a subcommand: the Telegram bot when a token is configured, "
        "otherwise the local chat.",
    )
    commands = parser.add_subparsers(dest="command")

    kb = commands.add_parser("kb", help="knowledge-base tools for moderators")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_commands.add_parser("check", help="validate and verify the knowledge base")
    _knowledge_arg(check)
    check.set_defaults(handler=cmd_kb_check)
    schema = kb_commands.add_parser("schema", help="write the JSON Schema of entries files")
    schema.add_argument("--output", "-o", type=Path, default=None)
    schema.set_defaults(handler=cmd_kb_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `returnbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
