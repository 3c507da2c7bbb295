"""The `returnbot` command: run the bot, chat locally, ask once, and moderators' kb tools."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot.answers import Answers, Reply
from bot.chat import LocalChat, run_chat
from bot.evaluation import check_thresholds, evaluate, leave_one_out, load_cases
from bot.gaps import GapCluster, cluster_gaps, suggestion
from bot.knowledge import LANGS, KnowledgeBase, KnowledgeLoadError, load_knowledge
from bot.knowledge.models import EntriesFile
from bot.render import to_plain
from bot.runtime import KnowledgeRuntime, Snapshot, build_snapshot
from bot.settings import Settings
from bot.storage import Storage

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _print_problems(exc: KnowledgeLoadError, write: Callable[[str], None], summary: str) -> None:
    """Print each problem as `file:line: message` (paths relative to here), then `summary`."""
    base = Path.cwd()
    for error in exc.errors:
        write(error.format(base))
    write(summary.format(count=len(exc.errors)))


_NOT_LOADED = "{count} problem(s); the knowledge base was not loaded"


def _load_or_report(root: Path) -> KnowledgeBase | None:
    """Load the knowledge base, printing `file:line: message` for each problem."""
    try:
        return load_knowledge(root)
    except KnowledgeLoadError as exc:
        _print_problems(exc, _out, _NOT_LOADED)
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
        f"{s.not_in_source} not-in-source questions, "
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


def _snapshot(args: argparse.Namespace) -> Snapshot | None:
    root = _knowledge_dir(args)
    try:
        return build_snapshot(root)
    except KnowledgeLoadError as exc:
        _print_problems(exc, _err, _NOT_LOADED)
        return None


def result_json(answers: Answers, reply: Reply) -> dict[str, object]:
    """The machine-readable form of one answer (`returnbot ask --json`)."""
    kb = answers.runtime.current.kb
    match = reply.match
    entry = kb.entry(reply.entry_id) if reply.kind == "answer" and reply.entry_id else None
    quote = None
    source = None
    if entry is not None and entry.quote is not None:
        quote = {
            "text": entry.quote.text,
            "speaker": entry.quote.speaker.get(reply.lang),
            "speaker_role": entry.quote.speaker_role.get(reply.lang),
            "translation_ru": entry.quote.translation_ru,
        }
    if entry is not None and (loaded := kb.source_of(entry)) is not None:
        source = {
            "id": loaded.meta.id,
            "title": loaded.meta.title.get(reply.lang),
            "paragraphs": sorted({e.paragraph for e in entry.evidence}),
            "claimed_by": entry.figure.claimed_by.get(reply.lang) if entry.figure else None,
        }
    return {
        "outcome": match.outcome if match else reply.kind,
        "entry": entry.id if entry else None,
        "score": match.score if match else 0.0,
        "lang": reply.lang,
        "answer": entry.answer.get(reply.lang) if entry else None,
        "quote": quote,
        "source": source,
        "matched_question": match.question if match and entry else None,
        "candidates": [
            {"entry": c.entry_id, "score": c.score, "question": c.question}
            for c in (match.candidates if match else ())
        ],
    }


def _forgiving_stdin() -> None:
    """Read undecodable bytes on stdin as U+FFFD instead of dying with a traceback.

    Under a UTF-8 locale Python decodes stdin strictly: one Latin-1 or binary byte in a
    piped file (or a terminal in another encoding) ended `ask` and `chat` mid-stream.
    """
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question, or one per stdin line as JSON lines (batch mode)."""
    snapshot = _snapshot(args)
    if snapshot is None:
        return EXIT_PROBLEMS
    answers = Answers(KnowledgeRuntime(snapshot.kb.root, snapshot))
    if args.question:
        reply = answers.ask(" ".join(args.question), hint=args.lang, record=False)
        if args.json:
            _out(json.dumps(result_json(answers, reply), ensure_ascii=False))
        else:
            _out(to_plain(reply, numbered=False))
        return EXIT_OK
    _forgiving_stdin()
    for line in sys.stdin:
        question = line.rstrip("\n")
        if not question.strip():
            continue
        reply = answers.ask(question, hint=args.lang, record=False)
        sys.stdout.write(json.dumps(result_json(answers, reply), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return EXIT_OK


def cmd_chat(args: argparse.Namespace) -> int:
    """Start the local terminal chat on the same answer core as Telegram."""
    snapshot = _snapshot(args)
    if snapshot is None:
        return EXIT_PROBLEMS
    answers = Answers(KnowledgeRuntime(snapshot.kb.root, snapshot))
    chat = LocalChat(answers, lang=args.lang)
    interactive = sys.stdin.isatty()
    _forgiving_stdin()
    run_chat(chat, sys.stdin, _write, prompt="> " if interactive else "")
    return EXIT_OK


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _repo_eval_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "tests" / "eval"


def _percent(value: float) -> str:
    return f"{100 * value:5.1f}%"


def cmd_kb_test(args: argparse.Namespace) -> int:
    """Leave-one-out over stored questions plus the labelled eval set, against thresholds."""
    snapshot = _snapshot(args)
    if snapshot is None:
        return EXIT_PROBLEMS
    eval_dir: Path = args.eval or _repo_eval_dir()
    thresholds_file = eval_dir / "thresholds.yaml"
    thresholds: dict[str, dict[str, float]] = {}
    if thresholds_file.is_file():
        thresholds = yaml.safe_load(thresholds_file.read_text(encoding="utf-8")) or {}
    reports = [leave_one_out(snapshot.matcher)]
    for split in ("dev", "test", "test2", "test3", "test4"):
        path = eval_dir / f"{split}.yaml"
        if path.is_file():
            reports.append(evaluate(snapshot.matcher, load_cases(path), split))
        else:
            _out(f"note: {path} not found; evaluation split '{split}' skipped")
    failed = False
    for report in reports:
        figures = report.metrics()
        _out(f"== {report.name}: {len(report.outcomes)} questions")
        for lang in LANGS:
            cases = report.in_scope(lang)
            if cases:
                _out(
                    f"  {lang}: answered correctly {_percent(figures[f'{lang}_accuracy'])}, "
                    f"top-1 {_percent(figures[f'{lang}_top1'])} of {len(cases)}"
                )
        for style in ("out-of-scope", "near-miss"):
            cases = report.refusals(style)
            if cases:
                key = "out_of_scope_refused" if style == "out-of-scope" else "near_miss_refused"
                _out(f"  {style} refused {_percent(figures[key])} of {len(cases)}")
        _out(
            f"  wrong answers {_percent(figures['wrong_answer_rate'])}, "
            f"language detected {_percent(figures['language_accuracy'])}"
        )
        confusions = report.confusions(args.confusions)
        if confusions:
            _out("  confusions (expected -> got: count):")
            for expected, got, count in confusions:
                _out(f"    {expected} -> {got}: {count}")
        if args.verbose:
            _out(
                "  by language/style (right of all): "
                + ", ".join(
                    f"{style} {right}/{total}"
                    for style, (right, total) in report.by_style().items()
                )
            )
            for outcome in report.outcomes:
                if not outcome.correct:
                    case = outcome.case
                    _out(
                        f"    MISS [{case.lang}/{case.style}] {case.question!r}"
                        f" expected {outcome.case.expect}, got {outcome.got}"
                        f" ({outcome.result.score}; {outcome.result.question!r})"
                    )
        for metric, value, bound in check_thresholds(figures, thresholds.get(report.name, {})):
            failed = True
            _out(f"  BELOW THRESHOLD: {metric} = {value:.3f} (threshold {bound})")
    if failed:
        _out("kb test failed: matching is below the thresholds in tests/eval/thresholds.yaml")
        return EXIT_PROBLEMS
    _out("kb test passed")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:  # noqa: ARG001 - every handler takes args
    """Run the Telegram bot; configuration problems are one line and exit code 2."""
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        _err(f"returnbot: {exc}")
        return EXIT_USAGE
    if settings.token is None:
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if credentials:
            _err(
                f"returnbot: no token: the file returnbot_token is missing in {credentials} "
                "(RETURNBOT_TOKEN is ignored when a credentials directory is set)"
            )
        else:
            _err(
                "returnbot: no token: set RETURNBOT_TOKEN, or the file returnbot_token in "
                "$CREDENTIALS_DIRECTORY (try `returnbot chat` to talk to the bot locally)"
            )
        return EXIT_USAGE
    if settings.webhook_url and importlib.util.find_spec("tornado") is None:
        _err(
            "returnbot: RETURNBOT_WEBHOOK_URL needs the webhook extra: "
            "pip install 'returnbot[webhook]' (or unset it to use long polling)"
        )
        return EXIT_USAGE
    return _run_telegram(settings)


def _run_telegram(settings: Settings) -> int:
    from bot.app import run_bot
    from bot.logs import configure_logging

    assert settings.token is not None  # noqa: S101 - checked by the callers
    # SIGHUP's default action kills the process. Until run_bot's event loop takes the signal
    # over, remember it instead: the bot then reloads as soon as it runs.
    reload_requested = threading.Event()
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reload_requested.set())
    secrets = [settings.token.get_secret_value()]
    if settings.webhook_secret is not None:
        secrets.append(settings.webhook_secret.get_secret_value())
    configure_logging(settings.log_level, secrets)
    try:
        runtime = KnowledgeRuntime.load(settings.knowledge_dir)
    except KnowledgeLoadError as exc:
        _print_problems(
            exc, _err, "returnbot: {count} problem(s) in the knowledge base; not starting"
        )
        return EXIT_PROBLEMS
    return run_bot(settings, runtime, reload_requested=reload_requested)


def cmd_default(args: argparse.Namespace) -> int:
    """No subcommand: the Telegram bot when a token is configured, otherwise the local chat."""
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        _err(f"returnbot: {exc}")
        return EXIT_USAGE
    if settings.token is not None:
        return _run_telegram(settings)
    args.knowledge = settings.knowledge_dir
    args.lang = None
    return cmd_chat(args)


_SINCE = {"h": 3600, "d": 86400, "w": 7 * 86400}


def _parse_since(text: str) -> datetime:
    """Read "7d", "12h" or "2w" as a moment that long ago (UTC)."""
    number, unit = text[:-1], text[-1:]
    if not number.isdigit() or unit not in _SINCE:
        raise argparse.ArgumentTypeError("use a number and a unit, e.g. 7d, 12h, 2w")
    return datetime.now(UTC) - timedelta(seconds=int(number) * _SINCE[unit])


def _gap_clusters(args: argparse.Namespace) -> list[GapCluster] | None:
    from bot.settings import SettingsError, load_settings

    data_dir = args.data_dir
    if data_dir is None:
        try:
            data_dir = load_settings().data_dir
        except SettingsError as exc:
            _err(f"returnbot: {exc}")
            return None
    if data_dir is None:
        _err("returnbot: no data directory: pass --data-dir or set RETURNBOT_DATA_DIR")
        return None
    storage = Storage.open(data_dir)
    try:
        if not storage.healthy:
            _err(f"returnbot: cannot read the database in {data_dir}")
            return None
        return cluster_gaps(storage.gaps(since=args.since, limit=args.limit))
    finally:
        storage.close()


def cmd_kb_gaps(args: argparse.Namespace) -> int:
    """List the most frequent unanswered questions, grouped, with their nearest entries."""
    clusters = _gap_clusters(args)
    if clusters is None:
        return EXIT_USAGE
    clusters = clusters[: args.top]
    if args.json:
        for cluster in clusters:
            record = {
                "count": cluster.count,
                "lang": cluster.lang,
                "example": cluster.example,
                "nearest_entry": cluster.nearest_entry,
                "best_score": cluster.best_score,
                "questions": list(cluster.texts),
            }
            _out(json.dumps(record, ensure_ascii=False))
        return EXIT_OK
    if not clusters:
        _out("no unanswered questions recorded")
    for cluster in clusters:
        nearest = cluster.nearest_entry or "-"
        _out(
            f"{cluster.count:4d}  [{cluster.lang}] {cluster.example}  "
            f"-> {nearest} ({cluster.best_score:.0f})"
        )
    return EXIT_OK


def cmd_kb_suggest(args: argparse.Namespace) -> int:
    """Suggest, per cluster of gaps, alternate questions for an entry or a new entry."""
    clusters = _gap_clusters(args)
    if clusters is None:
        return EXIT_USAGE
    if not clusters:
        _out("# no unanswered questions recorded")
    for cluster in clusters[: args.top]:
        _out(suggestion(cluster))
        _out()
    return EXIT_OK


def _gaps_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=_parse_since, default=None, help="e.g. 7d, 12h, 2w")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: RETURNBOT_DATA_DIR")
    parser.add_argument("--top", type=int, default=20, help="how many groups to show")
    parser.add_argument("--limit", type=int, default=10_000, help="how many rows to read")


def build_parser() -> argparse.ArgumentParser:
    """Describe every subcommand; `returnbot` alone runs the bot or the local chat."""
    parser = argparse.ArgumentParser(
        prog="returnbot",
        description="Answers questions about the return migration of Russians, from a verified "
        "knowledge base. Without a subcommand: the Telegram bot when a token is configured, "
        "otherwise the local chat.",
    )
    parser.set_defaults(handler=cmd_default, knowledge=None)
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="run the Telegram bot (needs a token)")
    run.set_defaults(handler=cmd_run)

    ask = commands.add_parser("ask", help="answer one question (or stdin lines as JSON)")
    ask.add_argument("question", nargs="*", help="the question; omit to read stdin lines")
    ask.add_argument("--lang", choices=["en", "ru"], default=None, help="fallback language")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    _knowledge_arg(ask)
    ask.set_defaults(handler=cmd_ask)

    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--lang", choices=["en", "ru"], default=None)
    _knowledge_arg(chat)
    chat.set_defaults(handler=cmd_chat)

    kb = commands.add_parser("kb", help="knowledge-base tools for moderators")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_commands.add_parser("check", help="validate and verify the knowledge base")
    _knowledge_arg(check)
    check.set_defaults(handler=cmd_kb_check)
    test = kb_commands.add_parser("test", help="measure matching: leave-one-out and eval set")
    _knowledge_arg(test)
    test.add_argument("--eval", type=Path, default=None, help="folder with the eval sets")
    test.add_argument("--confusions", type=int, default=10, help="how many confusions to list")
    test.add_argument("--verbose", "-v", action="store_true", help="list every miss")
    test.set_defaults(handler=cmd_kb_test)
    gaps = kb_commands.add_parser("gaps", help="most frequent unanswered questions")
    _gaps_args(gaps)
    gaps.add_argument("--json", action="store_true", help="one JSON object per group")
    gaps.set_defaults(handler=cmd_kb_gaps)
    suggest = kb_commands.add_parser("suggest", help="YAML snippets to close the gaps")
    _gaps_args(suggest)
    suggest.set_defaults(handler=cmd_kb_suggest)
    schema = kb_commands.add_parser("schema", help="write the JSON Schema of entries files")
    schema.add_argument("--output", "-o", type=Path, default=None)
    schema.set_defaults(handler=cmd_kb_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `returnbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokenPipeError:  # the reader went away (`returnbot ask ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C in the chat, or while the bot is still starting
        return 130


if __name__ == "__main__":
    sys.exit(main())
