"""Benchmark: one very wide row among 2,000 normal ones; import time must stay linear.

Run: ``python bench/ingest_wide.py [EXTRA ...]`` (default 1000 10000 100000 1000000 extra
fields); prints JSON ``{extra: {wall_s, cpu_s, read, quarantined, file_mb}}``.

Recorded (2026-12-04, 2 shared cores at load average ~8): 100 000 extra fields 0.24 s,
1 000 000 extra fields (2 MB line) 0.40 s. Before the line scan replaced such rows, DuckDB's
strict reader took 3.7 s for 10 000, 23.8 s for 30 000 and 98 s for 100 000 extra fields.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

MAPPING = """version: 1
columns:
  subscriber_id: {source: YHBS}
  branch_id: {source: DS}
  line_type: {source: LX}
  status: {source: ZT}
  activation_date: {source: RW}
  arpu: {source: ARPU}
"""


def main(argv: list[str] | None = None) -> dict:
    """Import one file per width and print the figures as JSON."""
    from weixi.ingest.service import import_month
    from weixi.store.analytics import connect

    widths = [int(x) for x in (argv or [])] or [1000, 10_000, 100_000, 1_000_000]
    out = {}
    with tempfile.TemporaryDirectory(prefix="weixi-bench-") as tmp:
        folder = Path(tmp)
        (folder / "m.yaml").write_text(MAPPING, encoding="utf-8")
        for extra in widths:
            rows = [f"S{i},HZ,mobile,active,20200101,{i}" for i in range(2000)]
            rows[5] += ",x" * extra
            path = folder / f"wide_{extra}.csv"
            path.write_text("YHBS,DS,LX,ZT,RW,ARPU\n" + "\n".join(rows) + "\n", encoding="utf-8")
            con = connect(":memory:")
            t0, c0 = time.perf_counter(), time.process_time()
            res = import_month(con=con, month="2025-01", mapping=folder / "m.yaml", paths=[path])
            out[extra] = {
                "wall_s": round(time.perf_counter() - t0, 2),
                "cpu_s": round(time.process_time() - c0, 2),
                "read": res.read,
                "quarantined": res.quarantined,
                "file_mb": round(path.stat().st_size / 1e6, 2),
            }
            con.close()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
