"""The one error a user sees: what is wrong and where, on one line."""


class TrainerError(Exception):
    """Bad input or configuration; the trainer exits non-zero with this message."""
