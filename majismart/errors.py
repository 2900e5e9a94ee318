from __future__ import annotations


class ApplicationError(Exception):
    """A domain rule refused the operation; `field` names the input at fault, if any."""

    def __init__(self, message: str, *, field: str = "detail") -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}
