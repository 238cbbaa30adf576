"""Integrations with web frameworks (optional extras)."""
