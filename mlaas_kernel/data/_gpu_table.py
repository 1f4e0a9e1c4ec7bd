"""Cleaning of the GPU benchmarks table (PassMark figures, "GPU Benchmarks Compilation").

Each choice is a :class:`CleaningStep` with the number of rows it touched, so a notebook
can show what was done and a test can check it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ._workspace import DataError

COLUMNS = ["gpuName", "G3Dmark", "G2Dmark", "price", "gpuValue", "TDP", "powerPerformance", "testDate", "category", "brand"]
CATEGORIES = ("Desktop", "Mobile", "Workstation")


@dataclass
class CleaningStep:
    """One cleaning choice and how many rows it touched."""

    step: str
    choice: str
    rows: int

    def as_dict(self) -> dict:
        return asdict(self)


def clean_gpu_table(raw):
    """Clean the raw table; returns ``(frame, steps)``.

    The choices:
    - numeric columns are parsed as numbers (a non-number becomes missing and is counted);
      ``testDate`` is the year of the test, an integer;
    - prices and TDPs that are missing or not positive stay missing: they are not imputed;
    - ``gpuValue = G3Dmark / price`` and ``powerPerformance = G3Dmark / TDP`` are derived
      where missing and their inputs are present;
    - ``category`` may combine several ("Mobile, Workstation"): one boolean column per
      category (``is_desktop``...), ``primary_category`` is the first one listed,
      ``Unknown`` stays ``Unknown``;
    - rows whose name is duplicated keep their first occurrence.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"GPU table: missing columns {missing}; expected {COLUMNS}")
    df = raw[COLUMNS].copy()
    steps: list[CleaningStep] = []

    df["gpuName"] = df["gpuName"].astype("string").str.strip()
    for col in ["G3Dmark", "G2Dmark", "price", "gpuValue", "TDP", "powerPerformance", "testDate"]:
        before = df[col].isna().sum()
        df[col] = pd.to_numeric(df[col], errors="coerce")
        bad = int(df[col].isna().sum() - before)
        steps.append(CleaningStep(f"type:{col}", "parsed as a number; non-numbers become missing", bad))
    df["G3Dmark"] = df["G3Dmark"].astype("Int64")
    df["G2Dmark"] = df["G2Dmark"].astype("Int64")
    df["testDate"] = df["testDate"].astype("Int64")

    for col in ["price", "TDP"]:
        nonpositive = df[col] <= 0
        df.loc[nonpositive, col] = np.nan
        steps.append(CleaningStep(f"missing:{col}", "missing or non-positive values stay missing (not imputed)", int(df[col].isna().sum())))

    for target, denominator in [("gpuValue", "price"), ("powerPerformance", "TDP")]:
        fill = df[target].isna() & df[denominator].notna() & df["G3Dmark"].notna()
        df.loc[fill, target] = (df.loc[fill, "G3Dmark"].astype(float) / df.loc[fill, denominator]).round(2)
        steps.append(CleaningStep(f"derived:{target}", f"{target} = G3Dmark / {denominator} where missing", int(fill.sum())))

    category = df["category"].astype("string").fillna("Unknown").str.strip()
    parts = category.str.split(r"\s*,\s*")
    for name in CATEGORIES:
        df[f"is_{name.lower()}"] = parts.map(lambda p, n=name: n in p).astype(bool)
    df["primary_category"] = parts.str[0].astype("category")
    combined = int(category.str.contains(",").sum())
    steps.append(CleaningStep("category:combined", "split into is_desktop / is_mobile / is_workstation; primary_category = first listed", combined))
    steps.append(CleaningStep("category:unknown", "'Unknown' kept as its own category", int((category == "Unknown").sum())))
    df["category"] = category.astype("category")
    df["brand"] = df["brand"].astype("string").str.strip().fillna("Unknown").astype("category")

    dup = df["gpuName"].duplicated(keep="first")
    df = df.loc[~dup].reset_index(drop=True)
    steps.append(CleaningStep("duplicates:gpuName", "rows whose gpuName repeats an earlier row are dropped", int(dup.sum())))
    return df, steps
