"""Domain exceptions of the pipeline, turned into retries or error statuses at the task edge."""


class StageError(Exception):
    """Base of stage failures."""


class PermanentStageError(StageError):
    """The input can never succeed in this stage (corrupt file, no pages): fail now, no retry."""


class TransientStageError(StageError):
    """Worth another attempt with the stage's backoff (a service hiccup, a timeout)."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
