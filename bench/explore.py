"""The five db-benchmark group-by queries: the workbench's dataframe path beside polars and DuckDB.

The data follows the schema of db-benchmark's published group-by generator (h2oai/db-benchmark,
groupby-datagen.R): id1, id2 = K string ids "id001".."id100"; id3 = N/K string ids; id4, id5 =
integers 1..K; id6 = integers 1..N/K; v1 in 1..5, v2 in 1..15, v3 uniform in [0, 100). String
ids are categoricals, as db-benchmark's pandas and polars scripts load them.

The workbench path is ``mlaas_kernel.compute.dataframe()``: pandas here, cudf.pandas on a GPU.
Each query runs ``--repeat`` times per engine; the best time is printed, with ratios to the
workbench path, and every engine's answers are checked against the workbench's.

    python bench/explore.py                 # 10 million rows
    python bench/explore.py --rows 1e6 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

QUERIES = {
    "q1": "sum v1 by id1",
    "q2": "sum v1 by id1:id2",
    "q3": "sum v1 mean v3 by id3",
    "q4": "mean v1:v3 by id4",
    "q5": "sum v1:v3 by id6",
}


def generate(n: int, k: int = 100, seed: int = 108):
    """The db-benchmark group-by table as a pandas DataFrame (categorical string ids)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    nk = max(n // k, 1)
    small = np.array([f"id{i:03d}" for i in range(1, k + 1)])
    large = np.array([f"id{i:010d}" for i in range(1, nk + 1)])
    return pd.DataFrame(
        {
            "id1": pd.Categorical.from_codes(rng.integers(0, k, n), categories=small),
            "id2": pd.Categorical.from_codes(rng.integers(0, k, n), categories=small),
            "id3": pd.Categorical.from_codes(rng.integers(0, nk, n), categories=large),
            "id4": rng.integers(1, k + 1, n, dtype=np.int32),
            "id5": rng.integers(1, k + 1, n, dtype=np.int32),
            "id6": rng.integers(1, nk + 1, n, dtype=np.int32),
            "v1": rng.integers(1, 6, n, dtype=np.int32),
            "v2": rng.integers(1, 16, n, dtype=np.int32),
            "v3": np.round(rng.uniform(0, 100, n), 6),
        }
    )


def pandas_queries(pd):
    kw = {"as_index": False, "sort": False, "observed": True, "dropna": False}
    return {
        "q1": lambda x: x.groupby("id1", **kw).agg(v1=("v1", "sum")),
        "q2": lambda x: x.groupby(["id1", "id2"], **kw).agg(v1=("v1", "sum")),
        "q3": lambda x: x.groupby("id3", **kw).agg(v1=("v1", "sum"), v3=("v3", "mean")),
        "q4": lambda x: x.groupby("id4", **kw).agg(v1=("v1", "mean"), v2=("v2", "mean"), v3=("v3", "mean")),
        "q5": lambda x: x.groupby("id6", **kw).agg(v1=("v1", "sum"), v2=("v2", "sum"), v3=("v3", "sum")),
    }


def polars_queries(pl):
    return {
        "q1": lambda x: x.group_by("id1").agg(pl.col("v1").sum()),
        "q2": lambda x: x.group_by(["id1", "id2"]).agg(pl.col("v1").sum()),
        "q3": lambda x: x.group_by("id3").agg(pl.col("v1").sum(), pl.col("v3").mean()),
        "q4": lambda x: x.group_by("id4").agg(pl.col("v1").mean(), pl.col("v2").mean(), pl.col("v3").mean()),
        "q5": lambda x: x.group_by("id6").agg(pl.col("v1").sum(), pl.col("v2").sum(), pl.col("v3").sum()),
    }


DUCKDB_SQL = {
    "q1": "SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1",
    "q2": "SELECT id1, id2, sum(v1) AS v1 FROM x GROUP BY id1, id2",
    "q3": "SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3",
    "q4": "SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM x GROUP BY id4",
    "q5": "SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM x GROUP BY id6",
}


KEYS = {"q1": ["id1"], "q2": ["id1", "id2"], "q3": ["id3"], "q4": ["id4"], "q5": ["id6"]}


def canonical(frame, q: str):
    """A query's answer (any engine's, via pandas) in one form: keys as text, rows sorted by key,
    value columns as float64 in a fixed order, so two engines' answers compare cell by cell."""
    keys = KEYS[q]
    values = sorted(c for c in frame.columns if c not in keys)
    out = frame[keys + values].copy()
    for k in keys:
        out[k] = out[k].astype(str)
    for v in values:
        out[v] = out[v].astype("float64")
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def same_answer(a, b) -> str | None:
    """None when two canonical answers agree in every key and value (floats to 1e-9 relative);
    otherwise what differs."""
    if list(a.columns) != list(b.columns):
        return f"columns {list(a.columns)} vs {list(b.columns)}"
    if len(a) != len(b):
        return f"{len(a):,} vs {len(b):,} groups"
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        equal = np.isclose(x, y, rtol=1e-9, atol=1e-9) if x.dtype.kind == "f" else (x == y)
        if not equal.all():
            i = int(np.argmin(equal))
            return f"column {c}, row {i}: {x[i]!r} vs {y[i]!r} ({int((~equal).sum()):,} cells differ)"
    return None


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=float, default=1e7, help="rows in the table (default 1e7)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per query; the best is kept (default 2, as db-benchmark)")
    parser.add_argument("--engines", default="workbench,polars,duckdb", help="comma-separated: workbench, polars, duckdb")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    n = int(args.rows)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from mlaas_kernel import compute

    pd = compute.dataframe()
    info = compute.detect()
    workbench_name = "cudf.pandas" if info.is_gpu and compute.fallbacks() == [] else "pandas"
    print(f"db-benchmark group-by, {n:,} rows, best of {args.repeat}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; device: {info.kind}")
    t = time.perf_counter()
    frame = generate(n)
    print(f"generated in {time.perf_counter() - t:.1f} s ({frame.memory_usage(deep=False).sum() / 2**20:,.0f} MiB)", flush=True)

    results: dict[str, dict[str, float]] = {}
    answers: dict[str, dict[str, object]] = {}
    for engine in engines:
        if engine == "workbench":
            queries, data, to_pandas = pandas_queries(pd), frame, lambda r: r
            label = f"workbench ({workbench_name})"
        elif engine == "polars":
            import polars as pl

            queries, data, to_pandas = polars_queries(pl), pl.from_pandas(frame), lambda r: r.to_pandas()
            label = f"polars {pl.__version__}"
        elif engine == "duckdb":
            import duckdb

            con = duckdb.connect()
            con.register("x", frame)
            con.execute("CREATE TABLE t AS SELECT * FROM x")
            con.unregister("x")
            con.execute("CREATE VIEW x AS SELECT * FROM t")
            # as db-benchmark's DuckDB script: the answer is materialised as a table inside DuckDB
            queries = {q: (lambda _x, sql=sql: con.execute(f"CREATE OR REPLACE TABLE ans AS {sql}")) for q, sql in DUCKDB_SQL.items()}
            data, to_pandas = None, lambda _r: con.execute("SELECT * FROM ans").df()
            label = f"duckdb {duckdb.__version__}"
        else:
            parser.error(f"unknown engine {engine!r}; valid: workbench, polars, duckdb")
        results[label], answers[label] = {}, {}
        for q, fn in queries.items():
            seconds, out = best_of(lambda: fn(data), args.repeat)
            results[label][q] = seconds
            answers[label][q] = canonical(to_pandas(out), q)
            print(f"  {label:<28} {q} {QUERIES[q]:<24} {seconds:8.3f} s", flush=True)

    labels = list(results)
    base = labels[0]
    print()
    header = f"{'query':<28}" + "".join(f"{lbl:>26}" for lbl in labels)
    print(header)
    for q in QUERIES:
        row = f"{q + ' ' + QUERIES[q]:<28}"
        for lbl in labels:
            s = results[lbl][q]
            ratio = "" if lbl == base else f" ({s / results[base][q]:.2f}x)"
            row += f"{f'{s:.3f} s{ratio}':>26}"
        print(row)
    totals = {lbl: sum(results[lbl].values()) for lbl in labels}
    print(f"{'total':<28}" + "".join(f"{f'{totals[lbl]:.3f} s' + ('' if lbl == base else f' ({totals[lbl] / totals[base]:.2f}x)'):>26}" for lbl in labels))
    print("(ratios: time of the engine / time of the workbench path; below 1 means faster than the workbench)")
    mismatched = {(lbl, q): why for lbl in labels[1:] for q in QUERIES if (why := same_answer(answers[lbl][q], answers[base][q]))}
    groups = ", ".join(f"{q} {len(answers[base][q]):,}" for q in QUERIES)
    if mismatched:
        print("answers: MISMATCH " + "; ".join(f"{lbl} {q}: {why}" for (lbl, q), why in mismatched.items()))
    else:
        print(f"answers: every engine's answer equals the workbench's in every group and value (groups: {groups})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": n, "repeat": args.repeat, "device": info.kind, "seconds": results, "mismatches": {f"{k[0]} {k[1]}": v for k, v in mismatched.items()}}, f, indent=2)
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
