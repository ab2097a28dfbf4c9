"""A deterministic corpus of damaged monthly exports, and the judge of how an import treats them.

``generate(folder, n=1000, seed=0)`` writes ``n`` files (truncations, junk, wrong delimiters,
encodings, binary and archives, NUL bytes, stray and unclosed quotes, huge fields, wide rows,
duplicate headers, out-of-range numbers, mixed line endings, BOMs, empty and header-only files,
byte flips, line edits and combinations of these) made from one clean export with personal
data in it. ``run_case`` imports one file and checks the product rules: it either imports with
``read = loaded + quarantined`` (in the result and in the store) or fails with a one-line error
that names the file and holds no personal data and no engine text, and the month is never
half-loaded. Nothing is committed: the files are generated into a temporary folder.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BASE_ROWS = 30
HEADER = [
    "YHBS",
    "DS",
    "业务类型",
    "ZT",
    "RWSJ",
    "ARPU_FEN",
    "YY",
    "LL",
    "MDR",
    "TS",
    "SJHM",
    "KHXM",
    "ZJHM",
]
PHONES = [f"139{i:04d}{(i * 7919) % 10000:04d}" for i in range(BASE_ROWS)]
NAMES = [
    f"{s}{g}" for s, g in zip("欧阳司马诸葛上官东方" * 3, "娜娜伟强芳芳秀英建国" * 3, strict=True)
]
IDS = [
    f"330106{1960 + i:04d}{i % 12 + 1:02d}{i % 28 + 1:02d}{i:03d}{'X' if i % 11 == 0 else i % 10}"
    for i in range(BASE_ROWS)
]
SECRETS = [*PHONES, *IDS, *(n for n in NAMES if len(n) >= 2)]

MAPPING = """\
version: 1
{extra}columns:
  subscriber_id: {{source: YHBS}}
  branch_id: {{source: DS}}
  line_type: {{source: 业务类型, values: {{移动: mobile, 宽带: broadband}}}}
  status: {{source: ZT, values: {{正常: active, 销户: cancelled}}}}
  activation_date: {{source: RWSJ}}
  arpu: {{source: ARPU_FEN, scale: 0.01}}
  voice_minutes: {{source: YY}}
  data_mb: {{source: LL}}
  do_not_disturb: {{source: MDR}}
  complaints: {{source: TS}}
  phone: {{source: SJHM}}
  name: {{source: KHXM}}
  id_number: {{source: ZJHM}}
"""
MAPPINGS = {
    "auto": "",
    "utf8": 'encoding: utf-8\ndelimiter: ","\n',
    "gbk": "encoding: gbk\n",
}
# What an error may never contain: DuckDB / Python engine text.
ENGINE_TEXT = ("Error:", "SELECT", "read_csv", "Original Line", "Traceback", "\\x", "duckdb")


def base_rows() -> list[list[str]]:
    """The clean export: 30 valid rows with phone numbers, names and ID numbers."""
    return [
        [
            f"S{i:06d}",
            "HZ" if i % 3 else "NB",
            "移动" if i % 4 else "宽带",
            "正常",
            f"20{10 + i % 10}0{i % 9 + 1}15",
            str(1000 + 37 * i),
            str(100 + i),
            f"{2048.5 + i:.1f}",
            "否" if i % 5 else "是",
            str(i % 3),
            PHONES[i],
            NAMES[i],
            IDS[i],
        ]
        for i in range(BASE_ROWS)
    ]


def to_csv(rows: list[list[str]], *, delimiter: str = ",", header: list[str] = HEADER) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


BASE_TEXT = to_csv(base_rows())
BASE = BASE_TEXT.encode("utf-8")


@dataclass(frozen=True)
class Case:
    """One damaged file and the mapping it is imported with."""

    name: str
    kind: str
    mapping: str  # a key of MAPPINGS


# ---- mutations: bytes -> bytes, deterministic for a given Random -------------------------


def truncate(rnd: random.Random, data: bytes) -> bytes:
    return data[: rnd.randrange(0, len(data))]


def junk_after(rnd: random.Random, data: bytes) -> bytes:
    kind = rnd.randrange(3)
    if kind == 0:
        junk = rnd.randbytes(rnd.randrange(1, 4000))
    elif kind == 1:
        junk = b"\x89PNG\r\n\x1a\n" + rnd.randbytes(200)
    else:
        junk = ("-- end of export --\n" * rnd.randrange(1, 5)).encode()
    return data + junk


def junk_before(rnd: random.Random, data: bytes) -> bytes:
    return rnd.choice([b"\x00\x00", b"REPORT 2025-09\n", rnd.randbytes(50), b"\n\n"]) + data


def delimiter(rnd: random.Random, data: bytes) -> bytes:
    d = rnd.choice([b";", b"|", b"\t", b"\x01", b"^"])
    if rnd.random() < 0.5:
        return data.replace(b",", d)
    lines = data.split(b"\n")  # mixed: some lines only
    for i in rnd.sample(range(len(lines)), k=max(1, len(lines) // 3)):
        lines[i] = lines[i].replace(b",", d)
    return b"\n".join(lines)


ENCODINGS = ["gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "big5", "utf-32"]


def encoding(rnd: random.Random, data: bytes) -> bytes:
    enc = rnd.choice(ENCODINGS)
    return BASE_TEXT.encode(enc, errors="replace")


def binary(rnd: random.Random, data: bytes) -> bytes:
    kind = rnd.randrange(10)
    if kind == 0:
        return rnd.randbytes(rnd.randrange(1, 20000))
    if kind == 1:
        return _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": data})
    if kind == 2:
        return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rnd.randbytes(1000)
    if kind == 3:
        return _zip({"month.csv": data})
    if kind == 4:
        return gzip.compress(data)
    if kind == 5:
        z = gzip.compress(data)
        return z[: rnd.randrange(10, len(z))]
    if kind == 6:
        return bz2.compress(data)
    if kind == 7:
        return b"%PDF-1.7\n" + rnd.randbytes(500)
    if kind == 8:
        return rnd.choice([b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"\x28\xb5\x2f\xfd"]) + data
    return b"PAR1" + rnd.randbytes(300) + b"PAR1"


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in entries.items():
            zf.writestr(name, body)
    return buf.getvalue()


def _insert(rnd: random.Random, data: bytes, what: bytes, k: int) -> bytes:
    out = bytearray(data)
    for _ in range(k):
        out[rnd.randrange(0, len(out) + 1) : 0] = what
    return bytes(out)


def nul(rnd: random.Random, data: bytes) -> bytes:
    return _insert(rnd, data, b"\x00", rnd.randrange(1, 6))


def quote(rnd: random.Random, data: bytes) -> bytes:
    if rnd.random() < 0.7:
        return _insert(rnd, data, b'"', rnd.randrange(1, 4))
    lines = data.split(b"\n")
    i = rnd.randrange(1, len(lines))
    fields = lines[i].split(b",")
    j = rnd.randrange(len(fields))
    fields[j] = b'"' + fields[j]  # a quote opened at the start of a field, never closed
    lines[i] = b",".join(fields)
    return b"\n".join(lines)


def huge_field(rnd: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = rnd.randrange(1, len(lines) - 1)
    size = rnd.choice([300_000, 1_500_000, 2_500_000, 5_000_000])
    lines[i] = lines[i] + b"x" * size if rnd.random() < 0.5 else b"S9," + b"y" * size + lines[i]
    return b"\n".join(lines)


def wide_row(rnd: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = rnd.randrange(1, len(lines) - 1)
    lines[i] = lines[i] + b",z" * rnd.choice([1, 10, 100, 1000, 100_000])
    return b"\n".join(lines)


def duplicate_header(rnd: random.Random, data: bytes) -> bytes:
    head, rest = data.split(b"\n", 1)
    names = head.split(b",")
    i, j = rnd.sample(range(len(names)), 2)
    names[j] = names[i] if rnd.random() < 0.7 else names[i].lower() + b" "
    return b",".join(names) + b"\n" + rest


NUMBERS = ["1e26", "-1", "NaN", "inf", "-inf", "1e308", "1e400", "0x1F", "１２", "9" * 30, "1,5"]


def out_of_range(rnd: random.Random, data: bytes) -> bytes:
    rows = base_rows()
    for _ in range(rnd.randrange(1, 6)):
        r = rnd.randrange(len(rows))
        c = rnd.choice([5, 6, 7, 9])  # ARPU_FEN, YY, LL, TS
        rows[r][c] = rnd.choice(NUMBERS)
    return to_csv(rows).encode()


def line_endings(rnd: random.Random, data: bytes) -> bytes:
    kind = rnd.randrange(3)
    if kind == 0:
        return data.replace(b"\n", b"\r")
    lines = data.split(b"\n")
    ends = [b"\r\n", b"\n", b"\r"] if kind == 1 else [b"\r\n", b"\n"]
    return b"".join(line + rnd.choice(ends) for line in lines[:-1]) + lines[-1]


def bom(rnd: random.Random, data: bytes) -> bytes:
    kind = rnd.randrange(4)
    if kind == 0:
        return codecs.BOM_UTF8 + data
    if kind == 1:
        return codecs.BOM_UTF8 * 2 + data
    if kind == 2:
        return codecs.BOM_UTF16_LE + data
    lines = data.split(b"\n")
    i = rnd.randrange(1, len(lines))
    lines[i] = codecs.BOM_UTF8 + lines[i]
    return b"\n".join(lines)


def emptyish(rnd: random.Random, data: bytes) -> bytes:
    head = data.split(b"\n", 1)[0]
    return rnd.choice(
        [b"", head, head + b"\n", head + b"\n\n\n", b"\n\n", b"   \n", b",,,\n", b"\x00", b"a"]
    )


def flip(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randrange(1, 11)):
        out[rnd.randrange(len(out))] = rnd.randrange(256)
    return bytes(out)


def line_edit(rnd: random.Random, data: bytes) -> bytes:
    lines = data.rstrip(b"\n").split(b"\n")
    head, body = lines[0], lines[1:]
    kind = rnd.randrange(4)
    if kind == 0:
        del body[rnd.randrange(len(body))]
    elif kind == 1:
        body.insert(rnd.randrange(len(body)), rnd.choice(body))  # a duplicated subscriber
    elif kind == 2:
        rnd.shuffle(body)
    else:
        body.insert(rnd.randrange(len(body)), b"")  # blank lines
    return b"\n".join([head, *body]) + b"\n"


MUTATIONS: dict[str, tuple[Callable[[random.Random, bytes], bytes], int]] = {
    # kind: (mutation, number of files)
    "truncate": (truncate, 100),
    "junk_after": (junk_after, 50),
    "junk_before": (junk_before, 20),
    "delimiter": (delimiter, 40),
    "encoding": (encoding, 50),
    "binary": (binary, 60),
    "nul": (nul, 60),
    "quote": (quote, 90),
    "huge_field": (huge_field, 8),
    "wide_row": (wide_row, 12),
    "duplicate_header": (duplicate_header, 20),
    "out_of_range": (out_of_range, 40),
    "line_endings": (line_endings, 30),
    "bom": (bom, 16),
    "emptyish": (emptyish, 14),
    "flip": (flip, 150),
    "line_edit": (line_edit, 60),
}
COMBINABLE = [k for k in MUTATIONS if k not in ("binary", "emptyish", "huge_field", "encoding")]


def generate(folder: Path, n: int = 1000, seed: int = 0) -> list[Case]:
    """Write ``n`` damaged files into ``folder`` (the same files for the same seed)."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for key, extra in MAPPINGS.items():
        (folder / f"mapping_{key}.yaml").write_text(MAPPING.format(extra=extra), encoding="utf-8")
    plan = [kind for kind, (_, count) in MUTATIONS.items() for _ in range(count)]
    plan += ["combo"] * max(0, n - len(plan))
    cases = []
    for i, kind in enumerate(plan[:n]):
        gbk = rnd.random() < 0.3
        base = BASE_TEXT.encode("gbk") if gbk else BASE
        if kind == "combo":
            kinds = rnd.sample(COMBINABLE, rnd.randrange(2, 4))
            data = base
            for k in kinds:
                try:
                    data = MUTATIONS[k][0](rnd, data)
                except (ValueError, IndexError):  # too little left to mutate that way
                    continue
        else:
            data = MUTATIONS[kind][0](rnd, base)
        if rnd.random() < 0.1:  # a mapping that declares the wrong encoding
            mapping = "utf8" if gbk else "gbk"
        else:
            mapping = rnd.choice(["auto", "gbk" if gbk else "utf8"])
        name = f"c{i:04d}_{kind}.csv" if rnd.random() < 0.95 else f"c{i:04d}_{kind}.txt"
        (folder / name).write_bytes(data)
        cases.append(Case(name=name, kind=kind, mapping=mapping))
    return cases


def run_case(
    con, folder: Path, case: Case, month: str, preload: bool = False, engine: str = "duckdb"
) -> dict:
    """Import one case into ``month`` (not loaded before, or loaded with the clean export
    when ``preload``) on ``engine`` and check the rules; return the outcome.

    Raises:
        AssertionError: a rule is broken (the message says which).
    """
    from weixi.errors import IngestError
    from weixi.ingest.service import get_quarantine, get_runs, import_month

    path = folder / case.name
    mapping = folder / f"mapping_{case.mapping}.yaml"
    before = 0
    if preload:
        (folder / f"base_{case.name}").write_bytes(BASE)
        base = folder / f"base_{case.name}"
        import_month(con=con, month=month, mapping=folder / "mapping_auto.yaml", paths=[base])
        before = BASE_ROWS
    count = "SELECT count(*) FROM snapshot WHERE month = CAST(? || '-01' AS DATE)"
    try:
        res = import_month(con=con, month=month, mapping=mapping, paths=[path], engine=engine)
    except IngestError as exc:
        text = str(exc)
        assert "\n" not in text, f"{case.name}: multi-line error: {text!r}"
        assert case.name in text, f"{case.name}: error does not name the file: {text}"
        for bad in ENGINE_TEXT:
            assert bad not in text, f"{case.name}: engine text {bad!r} in: {text}"
        run = get_runs(con=con, month=month)[0]
        assert run.status == "failed" and run.error, f"{case.name}: run not recorded failed"
        for secret in SECRETS:
            assert secret not in text and secret not in run.error, f"{case.name}: PII in error"
        now = con.execute(count, [month]).fetchone()[0]
        assert now == before, f"{case.name}: month changed by a failed import ({now})"
        _check_quarantine_masked(con, run.run_id, case, get_quarantine)
        msgid = getattr(exc, "msgid", "?")  # the message template, e.g. "{file}: row {row} …"
        return {"case": case.name, "kind": case.kind, "outcome": "error", "why": msgid}
    assert res.status == "succeeded"
    assert res.read == res.loaded + res.quarantined, f"{case.name}: not reconciled"
    assert res.balanced, f"{case.name}: a file is not reconciled"
    assert con.execute(count, [month]).fetchone()[0] == res.loaded, f"{case.name}: loaded"
    q_rows = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT file, row_number FROM quarantine WHERE run_id = ?)",
        [res.run_id],
    ).fetchone()[0]
    assert q_rows == res.quarantined, f"{case.name}: quarantine rows {q_rows}"
    _check_quarantine_masked(con, res.run_id, case, get_quarantine)
    return {
        "case": case.name,
        "kind": case.kind,
        "outcome": "imported",
        "read": res.read,
        "loaded": res.loaded,
        "quarantined": res.quarantined,
    }


def _check_quarantine_masked(con, run_id: str, case: Case, get_quarantine) -> None:
    rows = get_quarantine(con=con, run_id=run_id, limit=100_000)
    text = "\n".join(f"{q.raw_value}\t{q.raw_row}" for q in rows)
    for secret in SECRETS:
        assert secret not in text, f"{case.name}: {secret!r} in clear in the quarantine"


def month_of(i: int) -> str:
    """A distinct month for case ``i`` (2101-01, 2101-02, …)."""
    return f"{2101 + i // 12}-{i % 12 + 1:02d}"


def run_chunk(args: tuple[str, list[tuple[int, Case]]]) -> tuple[list[dict], list[str]]:
    """Run several cases on one store (a worker process of the corpus test).

    Every 25th case imports into a month already loaded with the clean export, to check that
    a failed import leaves it as it was. Returns the outcomes and the broken rules.
    """
    from weixi.store.analytics import connect

    folder, items = args
    con = connect(":memory:")
    outcomes, broken = [], []
    for i, case in items:
        try:
            outcomes.append(run_case(con, Path(folder), case, month_of(i), preload=i % 25 == 0))
        except AssertionError as exc:
            broken.append(str(exc)[:500])
        except Exception as exc:  # anything else escaping the importer is a bug too
            broken.append(f"{case.name}: {type(exc).__name__}: {str(exc)[:300]}")
    con.close()
    return outcomes, broken
