"""Reliability tests of issue 6: concurrency, faults, notifications, stateful model (SQLite and PostgreSQL)."""
