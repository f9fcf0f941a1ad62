"""The one error a user sees: what is wrong and where, on one line."""

from __future__ import annotations


class TrainerError(Exception):
    """Bad input or configuration; the trainer exits non-zero with this message."""

    #: 2: the input is wrong and a retry cannot fix it (the Job does not retry it).
    exit_code = 2

    def __init__(self, message: str, *, termination_message_path: str | None = None) -> None:
        super().__init__(message)
        #: Where to report the error when the config that names it did not validate.
        self.termination_message_path = termination_message_path


class NoGpu(TrainerError):
    """CUDA was asked for and XGBoost sees no GPU: the node's, not the input's, fault, so
    the Job may retry (on another node)."""

    exit_code = 1
