"""The one error a user sees: what is wrong and where, on one line."""

from __future__ import annotations


class TrainerError(Exception):
    """Bad input or configuration; the trainer exits non-zero with this message."""

    def __init__(self, message: str, *, termination_message_path: str | None = None) -> None:
        super().__init__(message)
        #: Where to report the error when the config that names it did not validate.
        self.termination_message_path = termination_message_path
