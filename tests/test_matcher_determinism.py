"""Matching must not depend on PYTHONHASHSEED, nor on the messages matched before.

CI compares `returnbot kb test` with fixed thresholds and moderators compare runs: the same
knowledge base and message must give the same outcome, entry, scores (to the last bit),
candidates and stored question in every process. Sets iterate in hash order, which differs
between processes, so the same sample is matched in subprocesses with different seeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bot.evaluation import load_cases
from bot.knowledge import default_knowledge_dir, load_knowledge
from bot.matcher import Matcher

REPO = Path(__file__).resolve().parent.parent
SEEDS = ("0", "1", "4242")
_TIMEOUT = 60.0  # a safety net against a hang, not a timing assertion

# Prints one line per match: set name, then the full result with scores as float.hex(), and
# for the eval samples the index's raw scores too (rounding to 0.1 hides a changed last bit).
_DUMP = """
import sys
from pathlib import Path
from bot.evaluation import load_cases
from bot.knowledge import default_knowledge_dir, load_knowledge
from bot.matcher import Matcher

def rec(r):
    cands = [(c.entry_id, c.score.hex(), c.question) for c in r.candidates]
    return repr((r.outcome, r.entry_id, r.score.hex(), r.lang, r.question, cands,
                 r.unknown_words, r.small_talk))

m = Matcher.from_knowledge(load_knowledge(default_knowledge_dir()))
out = []
for name, step in (("dev", 4), ("test", 2), ("test2", 2)):
    for case in load_cases(Path("tests/eval") / f"{name}.yaml")[::step]:
        r = m.match(case.question, case.lang)
        index = m.indexes[r.lang]
        raw = [(s.hex(), e, q) for s, e, q in index.score(index.query(case.question))]
        out.append(f"{name}\\t{rec(r)}\\t{raw!r}")
for lang in ("en", "ru"):
    for qid, _, text in m.stored_questions(lang)[::3]:
        out.append(f"loo\\t{rec(m.match(text, lang, exclude=(lang, qid)))}")
sys.stdout.write("\\n".join(out))
"""


def _dump(seed: str) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "PYTHONHASHSEED": seed,
    }
    return subprocess.Popen(
        [sys.executable, "-c", _DUMP],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def test_match_and_leave_one_out_are_the_same_under_every_hash_seed() -> None:
    runs = [_dump(seed) for seed in SEEDS]  # in parallel
    outputs = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=_TIMEOUT)
        assert run.returncode == 0, stderr
        outputs.append(stdout.split("\n"))
    first = outputs[0]
    assert len(first) > 1000
    for seed, other in zip(SEEDS[1:], outputs[1:], strict=True):
        assert len(other) == len(first)
        differing = Counter(a.split("\t")[0] for a, b in zip(first, other, strict=True) if a != b)
        # Counts only: the held-out test questions are not to be printed.
        assert not differing, f"PYTHONHASHSEED={seed} vs {SEEDS[0]}: {dict(differing)}"


def test_a_result_does_not_depend_on_the_messages_matched_before() -> None:
    # Messages with the same terms share a cached score: it must be the one each would get.
    kb = load_knowledge(default_knowledge_dir())
    cases = load_cases(REPO / "tests" / "eval" / "dev.yaml")[::2]
    forward = Matcher.from_knowledge(kb)
    backward = Matcher.from_knowledge(kb)
    ahead = [forward.match(case.question, case.lang) for case in cases]
    behind = [backward.match(case.question, case.lang) for case in reversed(cases)][::-1]
    assert [i for i, (a, b) in enumerate(zip(ahead, behind, strict=True)) if a != b] == []
