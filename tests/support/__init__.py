"""Helpers behind the shared fixtures of tests/conftest.py."""
