"""The one error export raises: a model that cannot be exported, or an export that does not match its model."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export that is impossible (model type, missing package, no GPU) or failed its parity check; the message says which."""
