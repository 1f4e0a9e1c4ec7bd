"""The overview's datasets: each ingested dataset with its labelling progress (``mlaas_kernel.labels``)."""

from __future__ import annotations

from pathlib import Path

from ._common import describe, lab_path


# The notebook a person continues with (labelling for images, exploring for tables) and the parameter naming its dataset.
_OPENERS = {"images": ("03_label.ipynb", "dataset")}
_TABLE_OPENER = ("02_explore.ipynb", "table_source")


def _opener(kind: str, notebooks: Path, root_dir: Path) -> str | None:
    nb = notebooks / _OPENERS.get(kind, _TABLE_OPENER)[0]
    return lab_path(nb, root_dir) if nb.is_file() else None


def _default(notebook: Path, parameter: str) -> object:
    """``parameter``'s default in the notebook's ``parameters`` cell (None when unreadable or not a literal)."""
    import ast
    import json

    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == parameter for t in node.targets):
                return ast.literal_eval(node.value)
    except (OSError, ValueError, KeyError, TypeError, StopIteration, SyntaxError):
        return None
    return None


def open_note(name: str, kind: str, notebooks: Path, opens: str | None) -> str | None:
    """What the row opens, said when the notebook does not start on this dataset (its parameter's default differs)."""
    if opens is None:
        return None
    file, parameter = _OPENERS.get(kind, _TABLE_OPENER)
    default = _default(notebooks / file, parameter)
    if default == name:
        return f"Open {opens} (on {name})"
    return (f"Open {opens}: it opens on {default!r} (its parameter {parameter}); "
            f"set {parameter} = {name!r} in its parameters cell to work on {name}")


def _progress(ws: Path, names: list[str]) -> tuple[dict, str | None]:
    """dataset -> (items with a live label, annotators), read from labels.db when there is one."""
    if not (ws / "labels.db").is_file():
        return {}, None
    from ..labels import LabelStore

    try:
        store = LabelStore(workspace_dir=ws)
    except Exception as exc:  # a damaged labels.db: the datasets still list, the error says why
        return {}, f"{ws / 'labels.db'}: {describe(exc)}"
    out, errors = {}, []
    try:
        have = set(store.datasets())
        for name in names:
            if name in have:
                by_item = store.labels_by_item(name)
                out[name] = (len(by_item), len({a for by in by_item.values() for a in by}))
    except Exception as exc:
        errors.append(f"{ws / 'labels.db'}: {describe(exc)}")
    finally:
        store.close()
    return out, "; ".join(errors) or None


def datasets(ws: Path, *, root_dir: Path, notebooks: Path) -> tuple[list[dict], str | None]:
    """The datasets section and its error (None when all went well)."""
    from ..data import list_datasets

    if not (ws / "datasets").is_dir():
        return [], None
    found = list_datasets(workspace_dir=ws)
    progress, error = _progress(ws, [d.name for d in found])
    rows = []
    for d in found:
        labelled, annotators = progress.get(d.name, (0, 0) if error is None else (None, None))
        opens = _opener(d.kind, notebooks, root_dir)
        rows.append({"name": d.name, "kind": d.kind, "n_items": len(d), "labelled": labelled, "annotators": annotators,
                     "open": opens, "open_note": open_note(d.name, d.kind, notebooks, opens)})
    return rows, error
