"""Model references: ``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME`` alone (its champion), and the registry's one error."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_ALIAS = "champion"
CHALLENGER = "challenger"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")  # MLflow refuses aliases that look like versions (v1, 3)


class RegistryError(LookupError, ValueError):
    """A reference that does not parse, or names a model, alias, version or run that is not there; the message says which."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``name`` with either an ``alias`` or a ``version`` (never both)."""

    name: str
    alias: str | None = None
    version: int | None = None

    @property
    def uri(self) -> str:
        """The MLflow model URI: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
        return f"models:/{self}"

    def __str__(self) -> str:
        return f"{self.name}/{self.version}" if self.version is not None else f"{self.name}@{self.alias}"


def check_name(name: str) -> str:
    """``name`` when it is a usable registered-model name (letters, digits, ``_ . -``), else RegistryError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistryError(f"{name!r} is not a model name: use letters, digits, '_', '.' and '-' (e.g. mnist-cnn)")
    return name


def check_alias(alias: str) -> str:
    """``alias`` when MLflow takes it as an alias (starts with a letter or '_', not ``v<digits>``), else RegistryError."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or re.fullmatch(r"[vV]\d+", alias) or alias.lower() == "latest":
        raise RegistryError(f"{alias!r} is not an alias: use a word such as champion or challenger "
                            "(not a number, not v<number>, not 'latest')")
    return alias


def parse_ref(ref: str) -> Ref:
    """``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME`` (= ``NAME@champion``), optionally as ``models:/...``."""
    text = str(ref).strip()
    body = text.removeprefix("models:/")
    if "@" in body:
        name, _, alias = body.partition("@")
        if not alias:
            raise RegistryError(f"{text!r} is not a model reference: nothing after '@' (give NAME@ALIAS, e.g. mnist-cnn@champion)")
        try:
            check_alias(alias)
        except RegistryError as exc:
            raise RegistryError(f"{text!r} is not a model reference: {exc}") from None
        return Ref(_named(name, text), alias=alias)
    if "/" in body:
        name, _, version = body.partition("/")
        if not version.isdigit() or int(version) < 1:
            raise RegistryError(f"{text!r} is not a model reference: the version after '/' must be a whole number >= 1 "
                                "(give NAME/VERSION, e.g. mnist-cnn/2)")
        return Ref(_named(name, text), version=int(version))
    return Ref(_named(body, text), alias=DEFAULT_ALIAS)


def _named(name: str, text: str) -> str:
    if not name:
        raise RegistryError(f"{text!r} is not a model reference: no model name (give NAME, NAME@ALIAS or NAME/VERSION)")
    try:
        return check_name(name)
    except RegistryError:
        raise RegistryError(f"{text!r} is not a model reference: {name!r} is not a model name "
                            "(letters, digits, '_', '.' and '-'; give NAME, NAME@ALIAS or NAME/VERSION)") from None
