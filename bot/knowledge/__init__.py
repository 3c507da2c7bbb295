"""The knowledge base: models, loading with located errors, and verification against the source."""

from bot.knowledge.loader import (
    KnowledgeBase,
    KnowledgeLoadError,
    KnowledgeStats,
    KnowledgeVersion,
    LoadedSource,
    knowledge_files,
    load_knowledge,
)
from bot.knowledge.models import LANGS, Entry, Lang, Topic, UiTexts
from bot.knowledge.paths import default_knowledge_dir
from bot.knowledge.yamlfile import KnowledgeError

__all__ = [
    "LANGS",
    "Entry",
    "KnowledgeBase",
    "KnowledgeError",
    "KnowledgeLoadError",
    "KnowledgeStats",
    "KnowledgeVersion",
    "Lang",
    "LoadedSource",
    "Topic",
    "UiTexts",
    "default_knowledge_dir",
    "knowledge_files",
    "load_knowledge",
]
