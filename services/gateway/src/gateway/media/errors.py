"""The one error of the media transformations: input a client must fix (a 400)."""

from __future__ import annotations


class MediaRefused(ValueError):
    """The bytes cannot be sent; the message says why and is shown to the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type[MediaRefused], tuple[str]]:  # crosses worker processes
        return (type(self), (self.message,))


__all__ = ["MediaRefused"]
