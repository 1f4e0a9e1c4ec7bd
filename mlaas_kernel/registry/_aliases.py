"""Aliases that move: promotion (challenger to champion, or any version to any alias) and rollback, with a history.

Each alias's assignments are kept, oldest first, in the registered model's tag
``mlaas.alias_history.<alias>`` (a JSON list of ``{"version", "at" (ms), "action"}``), so that
:func:`rollback` can move the alias back to the version it pointed at before.
"""

from __future__ import annotations

import json
import os
import time

from ._refs import CHALLENGER, DEFAULT_ALIAS, RegistryError, check_alias, check_name
from ._versions import client, registered_model, resolve, versions_of

HISTORY_TAG = "mlaas.alias_history."
KEEP = 50  # assignments kept per alias (a tag value holds 5,000 characters)


def history(c, name: str, alias: str) -> list[dict]:
    """The recorded assignments of ``alias`` on ``name``, oldest first."""
    text = (registered_model(c, name).tags or {}).get(HISTORY_TAG + alias)
    try:
        return [h for h in json.loads(text) if isinstance(h, dict) and "version" in h] if text else []
    except ValueError:
        return []


def _write(c, name: str, alias: str, entries: list[dict]) -> None:
    c.set_registered_model_tag(name, HISTORY_TAG + alias, json.dumps(entries[-KEEP:], separators=(",", ":")))


def move(c, name: str, alias: str, version: int, *, action: str, **extra) -> None:
    """Point ``alias`` at ``version`` and record it (``action``: register, promote, rollback; ``from``: the version it
    left, if any; ``extra``: more keys for the entry)."""
    try:
        before = int(c.get_registered_model(name).aliases.get(alias))
    except Exception:  # a new model, or no such alias yet
        before = None
    c.set_registered_model_alias(name, alias, str(version))
    entry = {"version": int(version), "at": int(time.time() * 1000), "action": action, **extra}
    _write(c, name, alias, history(c, name, alias) + [entry if before is None else {**entry, "from": before}])


def _check_version(c, name: str, version: int) -> None:
    numbers = sorted(int(mv.version) for mv in versions_of(c, name))
    if int(version) not in numbers:
        raise RegistryError(f"model {name!r} has no version {version} (its versions: {', '.join(map(str, numbers)) or 'none'})")


def promote(name: str, version: int | None = None, alias: str = DEFAULT_ALIAS, *, workspace_dir: str | os.PathLike | None = None):
    """Point ``alias`` (default champion) at ``version`` (default: the challenger's); returns the promoted Version.

    Promoting the challenger to champion takes the challenger alias off it (it is the champion now; the
    champion's history entry says so with ``"was": "challenger"``, so that a rollback gives it back).
    The alias's previous version is kept in its history, so :func:`rollback` undoes this.
    """
    c = client(workspace_dir)
    name, alias = check_name(name), check_alias(alias)
    model = registered_model(c, name)
    aliases = {a: int(v) for a, v in (model.aliases or {}).items()}
    if version is None:
        if CHALLENGER not in aliases:
            raise RegistryError(f"model {name!r} has no challenger to promote (aliases: "
                                f"{', '.join(f'{a} -> {v}' for a, v in sorted(aliases.items())) or 'none'}); give --version V")
        version = aliases[CHALLENGER]
    _check_version(c, name, int(version))
    if aliases.get(alias) == int(version):
        raise RegistryError(f"version {version} of {name!r} is already its {alias}")
    was_challenger = alias == DEFAULT_ALIAS and aliases.get(CHALLENGER) == int(version)
    move(c, name, alias, int(version), action="promote", **({"was": CHALLENGER} if was_challenger else {}))
    if was_challenger:
        c.delete_registered_model_alias(name, CHALLENGER)
    return resolve(f"{name}/{version}", workspace_dir=workspace_dir)


def _stack(entries: list[dict]) -> list[int]:
    """The versions an alias can roll back through, replayed from its history (register/promote push, rollback pops)."""
    stack: list[int] = []
    for e in entries:
        if e.get("action") == "rollback":
            while stack and stack[-1] != int(e["version"]):
                stack.pop()
        if not stack or stack[-1] != int(e["version"]):
            stack.append(int(e["version"]))
    return stack


def rollback(name: str, alias: str = DEFAULT_ALIAS, *, workspace_dir: str | os.PathLike | None = None):
    """Move ``alias`` back to the version it pointed at before its current one; returns that Version.

    The rollback is recorded in the alias's history too (``action`` rollback, ``from`` the version
    left). When the champion rolls back from a version that was the challenger before its promote, and no
    version holds the challenger alias now, that version is the challenger again (recorded in the
    challenger's history, ``action`` rollback, ``of`` champion). RegistryError when the alias has no earlier version.
    """
    c = client(workspace_dir)
    name, alias = check_name(name), check_alias(alias)
    model = registered_model(c, name)
    current = (model.aliases or {}).get(alias)
    if current is None:
        raise RegistryError(f"model {name!r} has no alias {alias!r} to roll back")
    entries = history(c, name, alias)
    existing = {int(mv.version) for mv in versions_of(c, name)}
    earlier = [v for v in _stack(entries) if v in existing]  # versions deleted since are skipped
    while earlier and earlier[-1] == int(current):
        earlier.pop()
    if not earlier:
        raise RegistryError(f"{alias} of {name!r} has no earlier version to roll back to (it is version {current}, "
                            "the first it pointed at)")
    previous = earlier[-1]
    c.set_registered_model_alias(name, alias, str(previous))
    _write(c, name, alias, entries + [{"version": previous, "at": int(time.time() * 1000), "action": "rollback", "from": int(current)}])
    _restore_challenger(c, name, alias, int(current), entries, model.aliases or {})
    return resolve(f"{name}/{previous}", workspace_dir=workspace_dir)


def _restore_challenger(c, name: str, alias: str, left: int, entries: list[dict], aliases: dict) -> None:
    """Give the challenger alias back to ``left`` (the version the champion rolled back from) when the promote
    that made it champion took the alias off it, and no version holds it now."""
    if alias != DEFAULT_ALIAS or CHALLENGER in aliases:
        return
    promotes = [e for e in entries if e.get("action") == "promote" and int(e["version"]) == left]
    if promotes and promotes[-1].get("was") == CHALLENGER:
        move(c, name, CHALLENGER, left, action="rollback", of=DEFAULT_ALIAS)


def alias_history(name: str, alias: str = DEFAULT_ALIAS, *, workspace_dir: str | os.PathLike | None = None) -> list[dict]:
    """What ``alias`` of ``name`` has pointed at, oldest first: ``{"version", "at" (ms), "action", ["from"]}``."""
    return history(client(workspace_dir), check_name(name), check_alias(alias))
