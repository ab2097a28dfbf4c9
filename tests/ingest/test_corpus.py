"""The import fuzz corpus: >= 1,000 damaged files, each imported or refused by the rules.

The files are generated deterministically into a temporary folder (``tests/ingest/corpus.py``)
and imported by two worker processes. Every file must either import with
``read = loaded + quarantined`` or fail with a one-line, PII-free error naming the file; a
failed import never changes the month. The outcome counts are printed (``pytest -s``).
"""

from __future__ import annotations

import collections
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from tests.ingest import corpus

N_FILES = 1000
WORKERS = 2


@pytest.mark.slow
def test_every_damaged_file_is_imported_reconciled_or_refused_cleanly(tmp_path):
    folder = tmp_path / "corpus"
    cases = corpus.generate(folder, n=N_FILES, seed=0)
    assert len(cases) == N_FILES and len({c.kind for c in cases}) >= 17
    items = list(enumerate(cases))
    chunks = [(str(folder), items[k::WORKERS]) for k in range(WORKERS)]
    ctx = multiprocessing.get_context("spawn")  # no DuckDB state shared through fork
    with ProcessPoolExecutor(WORKERS, mp_context=ctx) as pool:
        results = list(pool.map(corpus.run_chunk, chunks))
    outcomes = [o for out, _ in results for o in out]
    broken = [b for _, bad in results for b in bad]
    assert not broken, f"{len(broken)} files broke a rule:\n" + "\n".join(broken[:30])
    assert len(outcomes) == N_FILES
    by_kind = collections.Counter((o["kind"], o["outcome"]) for o in outcomes)
    imported = sum(n for (_, outcome), n in by_kind.items() if outcome == "imported")
    print(f"\ncorpus: {N_FILES} files, {imported} imported, {N_FILES - imported} refused")
    for (kind, outcome), n in sorted(by_kind.items()):
        print(f"  {kind:17} {outcome:9} {n}")
    errors = collections.Counter(o["why"] for o in outcomes if o["outcome"] == "error")
    print("refusals by message:")
    for why, n in errors.most_common():
        print(f"  {n:4}  {why.removeprefix('{file}: ')[:70]}")
    rows = collections.Counter()
    for o in outcomes:
        if o["outcome"] == "imported":
            rows.update(read=o["read"], loaded=o["loaded"], quarantined=o["quarantined"])
    print(f"rows of imported files: {dict(rows)}")
    # the corpus exercises both paths
    assert 200 <= imported <= N_FILES - 200
