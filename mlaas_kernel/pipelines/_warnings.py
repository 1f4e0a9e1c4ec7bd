"""The Python warnings a step's notebook showed (``TrainingWarning: only 40 training items ...``), read back
from the saved notebook's stderr stream outputs, so that the terminal and run.json say them too."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ._worker import strip_ansi

LIMIT = 3
# warnings.showwarning writes "FILE:LINE: CATEGORY: MESSAGE" and then the source line, indented.
_WARNING = re.compile(r"(?:^|:\s)([A-Z]\w*Warning): (\S.*)$")


def notebook_warnings(notebook: Path, limit: int = LIMIT) -> list[str]:
    """The first ``limit`` distinct ``Category: message`` lines in the notebook's stderr outputs ([] when unreadable)."""
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    found: list[str] = []
    for cell in cells:
        for out in cell.get("outputs", []) if isinstance(cell, dict) else []:
            if out.get("output_type") != "stream" or out.get("name") != "stderr":
                continue
            text = out.get("text", "")
            for line in strip_ansi("".join(text) if isinstance(text, list) else text).splitlines():
                hit = _WARNING.search(line.strip())
                if hit and f"{hit[1]}: {hit[2]}" not in found:
                    found.append(f"{hit[1]}: {hit[2]}")
                    if len(found) >= limit:
                        return found
    return found
