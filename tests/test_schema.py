"""The committed entries JSON Schema cannot drift from the models, and editors can find it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from cli_process import run_cli

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"
SCHEMA = KNOWLEDGE / "schema.json"
ENTRIES = sorted((KNOWLEDGE / "entries").glob("*.yaml"))
SCHEMA_COMMENT = "# yaml-language-server: $schema=../schema.json"


def committed_schema() -> dict:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_there_are_entries_files() -> None:
    assert ENTRIES


def test_committed_schema_equals_what_kb_schema_generates(tmp_path: Path) -> None:
    generated = tmp_path / "schema.json"
    result = run_cli("kb", "schema", "--output", str(generated), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(generated.read_text(encoding="utf-8")) == committed_schema(), (
        "knowledge/schema.json is stale: run `returnbot kb schema -o knowledge/schema.json`"
    )


def test_committed_schema_describes_entries_files() -> None:
    schema = committed_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["entries"]
    assert schema["additionalProperties"] is False
    entry = schema["$defs"]["Entry"]
    assert entry["additionalProperties"] is False
    assert {"id", "kind", "topic", "title", "questions", "answer"} <= set(entry["required"])


@pytest.mark.parametrize("path", ENTRIES, ids=lambda p: p.name)
def test_entries_file_points_editors_at_the_schema(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first_line == SCHEMA_COMMENT
    assert (path.parent / "../schema.json").resolve() == SCHEMA.resolve()


def _validator():
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed (optional; not a project dependency)"
    )
    schema = committed_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _load(path: Path) -> object:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", ENTRIES, ids=lambda p: p.name)
def test_entries_file_validates_against_the_schema(path: Path) -> None:
    validator = _validator()
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(_load(path))
    ]
    assert problems == []


def test_schema_flags_an_unknown_field_as_editors_would() -> None:
    validator = _validator()
    data = copy.deepcopy(_load(KNOWLEDGE / "entries" / "how-many.yaml"))
    assert isinstance(data, dict)
    entry = data["entries"][0]
    entry["qestions"] = entry.pop("questions")
    messages = [e.message for e in validator.iter_errors(data)]
    assert any("qestions" in m for m in messages), messages
    assert any("questions" in m for m in messages), messages
