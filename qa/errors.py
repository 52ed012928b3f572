"""Typed errors: every failure a user can cause or fix has its own class and a message that says what to do."""

from __future__ import annotations


class QAError(Exception):
    """Base class for errors that are the user's to fix (bad input, missing or stale files)."""


class InvalidQuestionError(QAError, ValueError):
    """The question is empty (nothing visible in it), too long, or holds invalid Unicode.

    `reason` says which ("empty", "too_long", "invalid_unicode"), so a front end can word its own message
    without parsing this one."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class InvalidArgumentError(QAError, ValueError):
    """A setting such as k is out of range."""


class SeedsNotFoundError(QAError, FileNotFoundError):
    """The seeds folder does not exist or holds no readable document."""


class IndexNotFoundError(QAError, FileNotFoundError):
    """No built index where one was expected."""


class IndexCorruptError(QAError):
    """An index file is missing, truncated or unreadable."""


class IndexMismatchError(QAError):
    """The index was built with another model, dimension or format than the one asked for."""


class ModelNotAvailableError(QAError):
    """A model (the embedding model, the reader, a local LLM) cannot be loaded here, or is not installed."""


class IndexBusyError(QAError):
    """Another process is building this index (one writer at a time), or it changed under a reader repeatedly."""


class IndexWriteError(QAError):
    """The index could not be written (full disk, no permission); the previous version is still served."""


class SeedUnreadableError(QAError):
    """A document in the seeds folder exists but cannot be read (permission, I/O error)."""


class DocumentRejectedError(QAError, ValueError):
    """A file offered to the corpus was refused (type, size or content); the message names it and says why."""


class InvalidStoreURLError(QAError, ValueError):
    """A `--store` location is not a Qdrant URL this version understands; the message shows the accepted forms."""


class StoreUnavailableError(QAError):
    """The Qdrant server named by a store URL cannot be reached (or its local folder is held by another process)."""


class QuantizationUnsupportedError(QAError):
    """`--quantize int8` was asked for a model whose layout the int8 exporter does not reproduce exactly."""
