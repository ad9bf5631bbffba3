"""Persistence: the hash-chained event store, sessions, replay and export."""
