"""The errors a request can earn: each carries its HTTP status and a message naming the field and what is wrong."""

from __future__ import annotations

__all__ = ["EndpointError", "ServeInputError"]


class ServeInputError(ValueError):
    """Input the model cannot take (wrong shape or dtype, NaN, an undecodable image, a missing field).

    ``status`` is the HTTP status the endpoint answers with (422 unless said otherwise);
    the message names the field and what is wrong with it.
    """

    def __init__(self, message: str, *, status: int = 422):
        super().__init__(message)
        self.status = status


class EndpointError(RuntimeError):
    """A running endpoint answered with an error, or could not be reached; the message says which."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status
