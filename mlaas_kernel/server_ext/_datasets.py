"""The overview's datasets: each ingested dataset with its labelling progress (``mlaas_kernel.labels``)."""

from __future__ import annotations

from pathlib import Path

from ._common import describe, lab_path


def _opener(kind: str, notebooks: Path, root_dir: Path) -> str | None:
    """The notebook a person continues with: labelling for images, exploring for tables."""
    nb = notebooks / ("03_label.ipynb" if kind == "images" else "02_explore.ipynb")
    return lab_path(nb, root_dir) if nb.is_file() else None


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
        rows.append({"name": d.name, "kind": d.kind, "n_items": len(d), "labelled": labelled, "annotators": annotators,
                     "open": _opener(d.kind, notebooks, root_dir)})
    return rows, error
