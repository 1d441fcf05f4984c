"""Minimal apps that use the opmaat middleware; tests/examples drives each with its own client."""
