"""Where documents and jobs live: embedded (SQLite, no server) or MongoDB, chosen by one setting."""

from defectscreen.storage.settings import StorageSettings

__all__ = ["StorageSettings"]
