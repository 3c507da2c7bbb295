"""Group unanswered questions by similarity, and suggest knowledge-base fixes for them.

This is how the knowledge base learns from real traffic: the most frequent gaps, each with
the entry it most likely belongs to, become alternate questions a moderator can paste.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.storage import Gap
from bot.text import fold

SIMILAR = 75.0  # token-set similarity at which two questions count as the same gap
BELONGS = 30.0  # below this best score, a cluster needs a new entry rather than new wording


@dataclass(frozen=True)
class GapCluster:
    """Similar unanswered questions: how often, in which language, and the nearest entry."""

    example: str
    count: int
    lang: str
    nearest_entry: str | None
    best_score: float
    texts: tuple[str, ...]


def cluster_gaps(gaps: list[Gap], *, similar: float = SIMILAR) -> list[GapCluster]:
    """Cluster gap questions greedily, most frequent first."""
    keys: list[str] = []
    members: list[list[Gap]] = []
    for gap in gaps:
        key = fold(gap.text)
        if not key:
            continue
        found = process.extractOne(
            key, keys, scorer=fuzz.token_set_ratio, processor=None, score_cutoff=similar
        )
        if found is None:
            keys.append(key)
            members.append([gap])
        else:
            members[found[2]].append(gap)
    clusters = []
    for group in members:
        entries = Counter(g.best_entry for g in group if g.best_entry)
        nearest = entries.most_common(1)[0][0] if entries else None
        texts = tuple(dict.fromkeys(g.text for g in group))
        clusters.append(
            GapCluster(
                example=Counter(g.text for g in group).most_common(1)[0][0],
                count=len(group),
                lang=Counter(g.lang for g in group).most_common(1)[0][0],
                nearest_entry=nearest,
                best_score=max(g.score for g in group),
                texts=texts,
            )
        )
    clusters.sort(key=lambda c: (-c.count, c.example))
    return clusters


def _yaml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _yaml_items(texts: Sequence[str], *, indent: int) -> str:
    """A YAML list of quoted strings, one per line, at the given indentation."""
    return "\n".join(f"{' ' * indent}- {_yaml_string(text)}" for text in texts)


def suggestion(cluster: GapCluster, *, max_questions: int = 5) -> str:
    """Ready-to-paste YAML snippets: alternate questions, and a not-in-source group.

    The first is for questions the source answers; the second for questions that use its
    words but ask what it does not say: with them in not-in-source.yaml, the matcher says
    "my source doesn't say" to them and to questions like them.
    """
    header = f"# {cluster.count} question(s) like: {cluster.example!r}"
    texts = cluster.texts[:max_questions]
    near_miss = (
        "# if the source does not say this, add to knowledge/not-in-source.yaml:\n"
        f'  - note: "What the source leaves open here."\n    {cluster.lang}:\n'
        + _yaml_items(texts, indent=6)
    )
    if cluster.nearest_entry and cluster.best_score >= BELONGS:
        return (
            f"{header}\n# most likely entry: {cluster.nearest_entry} "
            f"(best score {cluster.best_score:.0f}); if the source answers these, "
            f"add them under its questions.{cluster.lang}:\n"
            f"  - id: {cluster.nearest_entry}\n    questions:\n      {cluster.lang}:\n"
            + _yaml_items(texts, indent=8)
            + f"\n{near_miss}"
        )
    return (
        f"{header}\n# no entry fits (best score {cluster.best_score:.0f}): a new entry is needed "
        f"if the source answers this; otherwise it is out of scope.\n{near_miss}"
    )
