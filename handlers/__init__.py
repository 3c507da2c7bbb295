"""Thin python-telegram-bot adapters: one module per kind of update."""
