"""Alembic migrations of the kanazawa-maas schema (run with `maas db upgrade`)."""
