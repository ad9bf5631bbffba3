"""The store's one error type, importable without loading SQLAlchemy."""


class StoreError(Exception):
    """A store problem, with a one-line message fit for the operator."""
