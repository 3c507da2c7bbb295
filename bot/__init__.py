"""returnbot: answers questions about the return migration of Russians from a verified knowledge base."""
