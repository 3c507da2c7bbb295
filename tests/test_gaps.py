"""bot.gaps: suggestions a moderator can paste, for answerable gaps and for near misses."""

from __future__ import annotations

import yaml

from bot.gaps import GapCluster, suggestion


def cluster(nearest: str | None, score: float) -> GapCluster:
    texts = ('what is Alexey\'s "real" name', "alexey real name")
    return GapCluster(texts[0], 3, "en", nearest, score, texts)


def snippets(text: str) -> list[object]:
    """The YAML blocks of a suggestion: comment lines separate them."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("#"):
            if current:
                blocks.append(yaml.safe_load("\n".join(current)))
            current = []
        else:
            current.append(line)
    if current:
        blocks.append(yaml.safe_load("\n".join(current)))
    return blocks


def test_a_gap_near_an_entry_gets_alternate_questions_and_a_near_miss_group() -> None:
    text = suggestion(cluster("alexey", 62.0))
    entry, near_miss = snippets(text)
    assert entry == [
        {
            "id": "alexey",
            "questions": {"en": ['what is Alexey\'s "real" name', "alexey real name"]},
        }
    ]
    assert near_miss[0]["en"] == ['what is Alexey\'s "real" name', "alexey real name"]  # type: ignore[index]
    assert "not-in-source.yaml" in text


def test_a_gap_far_from_every_entry_still_gets_a_near_miss_group() -> None:
    text = suggestion(cluster(None, 12.0))
    assert "a new entry is needed" in text
    (near_miss,) = snippets(text)
    assert near_miss[0]["note"]  # type: ignore[index]
    assert near_miss[0]["en"][1] == "alexey real name"  # type: ignore[index]
