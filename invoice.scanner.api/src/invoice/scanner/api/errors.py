"""Domain exceptions of the API. Views turn them into HTTP errors with `abort`."""
from __future__ import annotations


class UploadRejected(ValueError):
    """An upload that is not accepted; `http_status` says how the edge answers it."""

    http_status = 400

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message = message
        self.reason = reason  # short machine label, used as the metrics outcome


class EmptyFile(UploadRejected):
    http_status = 400


class FileTooLarge(UploadRejected):
    http_status = 413


class UnsupportedFileType(UploadRejected):
    http_status = 415


class UnreadableDocument(UploadRejected):
    """Corrupt, encrypted, too many pages, or too many pixels."""

    http_status = 422


class DuplicateDocument(Exception):
    def __init__(self, document_id: str):
        super().__init__(document_id)
        self.document_id = document_id


class DocumentNotFound(LookupError):
    pass


class NotRetryable(Exception):
    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


class BrokerUnavailable(Exception):
    pass


class InvalidCursor(ValueError):
    pass
