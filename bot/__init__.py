"""returnbot: answers questions on Russians' return migration from a verified knowledge base."""
