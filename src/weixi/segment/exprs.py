"""Compile a ``RuleSet`` into ibis expressions: no backend branches, same SQL shape everywhere.

Condition syntax (a safe subset of Python expressions, parsed with ``ast``):

* names: canonical fields, derived features (``weixi.segment.features.FEATURES``), preset
  ``params``, ``flags``, ``excluded`` and any dimension defined earlier in the preset (``b``);
* literals: numbers, 'strings', true/false, lists/tuples for ``in``;
* operators: ``and or not``, ``== != < <= > >=`` (chains like ``20 <= arpu_3m < 80``),
  ``in`` / ``not in``, ``+ - * /``;
* functions: ``isnull(x)``, ``notnull(x)``, ``coalesce(x, y, …)``, ``abs(x)``.

NULL semantics (two-valued): a boolean field that is NULL counts as false, and a comparison or
``in`` with NULL is false — so ``not (x >= 1)`` is true when ``x`` is NULL.

Example (three lines, ARPU 10, 50 and unknown):
    >>> import ibis
    >>> t = ibis.memtable({"arpu_3m": [10.0, 50.0, None]})
    >>> t.filter(compile_condition("20 <= arpu_3m < 80", t)).count().execute()
    1
    >>> t.filter(compile_condition("not (arpu_3m >= 20)", t)).count().execute()
    2
"""

from __future__ import annotations

import ast
import difflib
import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from weixi.errors import RuleError
from weixi.ingest.schema import BY_NAME
from weixi.segment.rules import (
    NEEDS_KEYS,
    STABILITY_KEYS,
    Dimension,
    Level,
    RuleSet,
)

_FUNCS = {"isnull", "notnull", "coalesce", "abs"}
_CMP = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}
_BIN = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


class _Compiler:
    def __init__(self, text: str, table: ir.Table, params: Mapping[str, float], where: str):
        self.text = text
        self.table = table
        self.params = params
        self.where = where

    def fail(self, problem: str, **values: object) -> RuleError:
        """The error of this condition: ``problem`` is a catalog template filled with ``values``
        (it reads in the user's language inside the error's own sentence)."""
        return RuleError(
            "{where}: {problem} in condition {text!r}",
            where=self.where,
            problem=RuleError(problem, **values),
            text=self.text,
        )

    def names(self) -> list[str]:
        return [*self.table.columns, *self.params]

    def run(self) -> ir.Value:
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as exc:
            raise self.fail("syntax error ({error})", error=exc.msg) from None
        try:
            return self.visit(tree.body)
        except RuleError:
            raise
        except Exception as exc:  # ibis type errors: wrong comparison types etc.
            raise self.fail(
                "invalid expression ({kind}: {error})", kind=type(exc).__name__, error=exc
            ) from None

    def visit(self, node: ast.AST) -> ir.Value:
        if isinstance(node, ast.BoolOp):
            vals = [self.boolean(v) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return ~self.boolean(node.operand)
            if isinstance(node.op, ast.USub):
                return -self.visit(node.operand)
            raise self.fail("unsupported unary operator")
        if isinstance(node, ast.Compare):
            left = node.left
            out = None
            for op, right in zip(node.ops, node.comparators, strict=True):
                part = self.compare(left, op, right)
                out = part if out is None else out & part
                left = right
            return out
        if isinstance(node, ast.BinOp):
            fn = _BIN.get(type(node.op))
            if fn is None:
                raise self.fail("unsupported arithmetic operator")
            return fn(self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Constant):
            if node.value is None:
                raise self.fail("use isnull(x) / notnull(x) instead of None")
            if isinstance(node.value, bool | int | float | str):
                return ibis.literal(node.value)
            raise self.fail("unsupported literal {value!r}", value=node.value)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
                raise self.fail("unknown function; use one of {names}", names=sorted(_FUNCS))
            args = [self.visit(a) for a in node.args]
            fn = node.func.id
            if fn in {"isnull", "notnull", "abs"} and len(args) != 1:
                raise self.fail("{fn}() takes one argument", fn=fn)
            if fn == "isnull":
                return args[0].isnull()
            if fn == "notnull":
                return args[0].notnull()
            if fn == "abs":
                return args[0].abs()
            return ibis.coalesce(*args)
        raise self.fail("unsupported syntax ({kind})", kind=type(node).__name__)

    def boolean(self, node: ast.AST) -> ir.BooleanValue:
        value = self.visit(node)
        if not isinstance(value, ir.BooleanValue):
            raise self.fail("{part!r} is not a true/false condition", part=ast.unparse(node))
        return value

    def name(self, name: str) -> ir.Value:
        if name in ("true", "false", "True", "False"):
            return ibis.literal(name.lower() == "true")
        if name in self.table.columns:
            col = self.table[name]
            # a missing flag counts as false (NULL would make `not x` NULL as well)
            return col.fill_null(False) if isinstance(col, ir.BooleanValue) else col
        if name in self.params:
            return ibis.literal(float(self.params[name]))
        close = difflib.get_close_matches(name, self.names(), n=3)
        if close:
            raise self.fail(
                "unknown field {name!r} — did you mean {close}?", name=name, close=", ".join(close)
            )
        raise self.fail("unknown field {name!r}", name=name)

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> ir.BooleanValue:
        lv = self.visit(left)
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.List | ast.Tuple | ast.Set):
                raise self.fail("'in' needs a list like ('a', 'b')")
            values = []
            for elt in right.elts:
                if not isinstance(elt, ast.Constant):
                    raise self.fail("'in' lists hold literals only")
                values.append(elt.value)
            self.check_choices(left, values)
            out = lv.isin(values).fill_null(False)
            return ~out if isinstance(op, ast.NotIn) else out
        rv = self.visit(right)
        if isinstance(right, ast.Constant) and isinstance(right.value, str):
            self.check_choices(left, [right.value])
        fn = _CMP.get(type(op))
        if fn is None:
            raise self.fail("unsupported comparison (use == != < <= > >= in)")
        # two-valued logic: a comparison with NULL is false, so `not (x >= 1)` is true for NULL
        return fn(lv, rv).fill_null(False)

    def check_choices(self, node: ast.AST, values: list) -> None:
        if isinstance(node, ast.Name) and node.id in BY_NAME and BY_NAME[node.id].choices:
            bad = [v for v in values if v not in BY_NAME[node.id].choices]
            if bad:
                raise self.fail(
                    "unknown value(s) {bad} for {name}; choices: {choices}",
                    bad=bad,
                    name=node.id,
                    choices=", ".join(BY_NAME[node.id].choices),
                )


def compile_condition(
    text: str, table: ir.Table, params: Mapping[str, float] | None = None, where: str = "rule"
) -> ir.BooleanValue:
    """Compile one condition string over ``table`` into a NULL-safe ibis boolean."""
    value = _Compiler(text, table, params or {}, where).run()
    if not isinstance(value, ir.BooleanValue):
        raise RuleError("{where}: condition {text!r} is not true/false", where=where, text=text)
    return value.fill_null(False)


# ---------------------------------------------------------------------------------------------
# the pipeline


def _variant_conditions(
    dim: Dimension, t: ir.Table, rs: RuleSet
) -> list[tuple[str, ir.BooleanValue, list[tuple[Level, ir.BooleanValue | None]]]]:
    """``[(variant, scope condition, [(level, condition or None for else)])]``."""
    base = (
        compile_condition(dim.where, t, rs.params, f"dimension {dim.key} where")
        if dim.where
        else ibis.literal(True)
    )
    out = []
    for variant, levels in dim.variants():
        scope = base if variant == "*" else base & (t.line_type == variant).fill_null(False)
        conds = []
        for lv in levels:
            where = f"dimension {dim.key} level {lv.code}" + (
                f" ({variant})" if variant != "*" else ""
            )
            conds.append(
                (lv, None if lv.is_else else compile_condition(lv.when, t, rs.params, where))
            )
        out.append((variant, scope, conds))
    return out


def dimension_expr(dim: Dimension, t: ir.Table, rs: RuleSet) -> ir.StringValue:
    """The CASE expression of one dimension (first matching level wins; NULL outside scope).

    One branch per line-type variant (their scopes are disjoint), each a CASE over its levels,
    so a row tests its scope once and only its own variant's levels.
    """
    none = ibis.null("string")
    branches = []
    for _variant, scope, conds in _variant_conditions(dim, t, rs):
        cases = [(cond, ibis.literal(lv.code)) for lv, cond in conds if cond is not None]
        fallback = next((ibis.literal(lv.code) for lv, cond in conds if cond is None), none)
        branches.append((scope, ibis.cases(*cases, else_=fallback) if cases else fallback))
    return ibis.cases(*branches, else_=none).cast("string")


def _add_flags(t: ir.Table, flags: list, rs: RuleSet) -> ir.Table:
    """Add boolean flag columns. Percentile flags rank a narrow side table (key, population,
    metric) and join it back: a window over the wide row would drag every column through
    the sort."""
    direct: dict[str, ir.BooleanValue] = {}
    side: dict[str, ir.Value] = {}
    ranked: dict[str, tuple] = {}
    for flag in flags:
        metric = compile_condition_value(flag.metric, t, rs, f"flag {flag.name} metric")
        metric = metric.cast("float64").fill_null(0.0)
        among = (
            compile_condition(flag.among, t, rs.params, f"flag {flag.name} among")
            if flag.among
            else ibis.literal(True)
        )
        if flag.mode == "threshold":
            direct[flag.name] = among & (metric >= flag.cut)
        else:
            side[f"_m_{flag.name}"] = metric
            side[f"_p_{flag.name}"] = among
            ranked[flag.name] = (flag.cut,)
    if direct:
        t = t.mutate(**direct)
    if ranked:
        narrow = t.select(_fk=t.subscriber_id, **side)
        # Only rows in some flag's population are ranked: a flag is false outside its
        # population, and the population is a window partition of its own, so its ranks are
        # the same with or without the other rows (the sorts shrink to the populations).
        narrow = narrow.filter(functools.reduce(operator.or_, [narrow[f"_p_{n}"] for n in ranked]))
        ranks = {
            f"_r_{n}": ibis.percent_rank().over(
                ibis.window(group_by=narrow[f"_p_{n}"], order_by=narrow[f"_m_{n}"])
            )
            for n in ranked
        }
        narrow = narrow.mutate(**ranks)
        narrow = narrow.select(
            "_fk",
            **{
                n: narrow[f"_p_{n}"] & (narrow[f"_r_{n}"] >= cut) & (narrow[f"_m_{n}"] > 0)
                for n, (cut,) in ranked.items()
            },
        )
        joined = t.left_join(narrow, t.subscriber_id == narrow._fk)
        t = joined.select(
            *[c for c in t.columns],
            **{n: joined[n].fill_null(False) for n in ranked},
        )
    return t


def compile_condition_value(text: str, t: ir.Table, rs: RuleSet, where: str) -> ir.Value:
    """Compile a value expression (not necessarily boolean), e.g. a flag's metric."""
    return _Compiler(text, t, rs.params, where).run()


def _referenced(text: str | None) -> set[str]:
    if not text:
        return set()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _dim_names(dim: Dimension) -> set[str]:
    names = _referenced(dim.where)
    for _, levels in dim.variants():
        for lv in levels:
            names |= _referenced(lv.when)
    return names


def apply_rules(feat: ir.Table, rs: RuleSet) -> ir.Table:
    """Add exclusion, every dimension, stability group, code, priority and urgency columns.

    Pure: takes the feature table, returns a table expression (nothing runs here).
    """
    t = feat
    reason_cases = [
        (compile_condition(ex.when, t, rs.params, f"exclusion {ex.key}"), ibis.literal(ex.key))
        for ex in rs.exclusions
    ]
    reason = ibis.cases(*reason_cases, else_=ibis.null("string")).cast("string")
    t = t.mutate(exclusion_reason=reason)
    t = t.mutate(excluded=t.exclusion_reason.notnull())
    # Dimensions are added in as few projection layers as their dependencies allow (each
    # layer is a nested SELECT; fewer layers compile much faster and read the same).
    pending = {f.name: f for f in rs.flags}
    batch: dict[str, Dimension] = {}

    def flush(t: ir.Table) -> ir.Table:
        if batch:
            t = t.mutate(**{k: dimension_expr(d, t, rs) for k, d in batch.items()})
            batch.clear()
        return t

    for dim in rs.dimensions:
        names = _dim_names(dim)
        need = [n for n in pending if n in names]  # preset order: stable SQL
        if need or names & set(batch):
            t = flush(t)
        if need:
            t = _add_flags(t, [pending.pop(n) for n in need], rs)
        batch[dim.key] = dim
    t = flush(t)
    if pending:
        t = _add_flags(t, list(pending.values()), rs)
    stability = t.a.concat("-", t.b, "-", t.c)
    needs = ibis.cases(
        *[
            (t.line_type == lt, t[k[0]].concat("-", t[k[1]], "-", t[k[2]]))
            for lt, k in NEEDS_KEYS.items()
        ],
        else_=ibis.null("string"),
    )
    t = t.mutate(stability_group=stability)
    t = t.mutate(code=t.stability_group.concat("/", needs))
    order = rs.priority_order()
    rank = ibis.cases(
        *[(t.stability_group == g, ibis.literal(i + 1)) for i, (g, _) in enumerate(order)],
        else_=ibis.null("int32"),
    ).cast("int32")
    urg = ibis.cases(
        *[(t.stability_group == g, ibis.literal(u)) for g, u in order],
        else_=ibis.null("string"),
    ).cast("string")
    kept = ~t.excluded
    return t.mutate(
        priority_rank=ibis.ifelse(kept, rank, ibis.null("int32")),
        urgency=ibis.ifelse(kept, urg, ibis.null("string")),
    )


#: Columns of the ``segments`` table in order (the data contract + helper columns).
SEGMENT_COLUMNS: dict[str, str] = {
    "month": "date",
    "subscriber_id": "string",
    "customer_id": "string",
    "branch_id": "string",
    "line_type": "string",
    "excluded": "boolean",
    "exclusion_reason": "string",
    "a": "string",
    "b": "string",
    "c": "string",
    "d": "string",
    "e": "string",
    "f": "string",
    "g": "string",
    "h": "string",
    "i": "string",
    "stability_group": "string",
    "code": "string",
    "priority_rank": "int32",
    "urgency": "string",
    "vad": "string",
    "vip_tier": "string",
    "group_class": "string",
    "value_class": "string",
    "relationship": "string",
    "credit": "string",
    "satisfaction_band": "string",
    "cluster": "int32",
    "arpu": "float64",
    "arpu_3m": "float64",
    "arpu_drop_pct": "float64",
    "minutes_drop_pct": "float64",
    "online_drop_pct": "float64",
    "voice_minutes_3m": "float64",
    "data_mb_3m": "float64",
    "vas_3m": "float64",
    "bb_hours_3m": "float64",
    "months_to_contract_end": "float64",
    "tenure_months": "float64",
    "handset_age_years": "float64",
}


def not_dimensions(names: list[str]) -> list[str]:
    """The ``names`` that are not segment dimensions a level can be read from: unknown columns
    of ``segments`` and its keys (``month``, ``subscriber_id``, ``customer_id``).

    >>> not_dimensions(["a", "f", "phone", "month"])
    ['phone', 'month']
    """
    keys = ("month", "subscriber_id", "customer_id")
    return [n for n in names if n not in SEGMENT_COLUMNS or n in keys]


def select_segments(t: ir.Table, **extra: ir.Value) -> ir.Table:
    """Select the ``segments`` columns from an :func:`apply_rules` table (``cluster`` NULL),
    plus ``extra`` columns (e.g. the check masks)."""
    cols = {}
    for name, typ in SEGMENT_COLUMNS.items():
        if name == "cluster":
            cols[name] = ibis.null("int32")
        else:
            cols[name] = t[name].cast(typ)
    return t.select(**cols, **extra)


def segment_table(feat: ir.Table, rs: RuleSet) -> ir.Table:
    """Apply the rules and select the ``segments`` columns (``cluster`` NULL: filled later)."""
    return select_segments(apply_rules(feat, rs))


# ---------------------------------------------------------------------------------------------
# validation


def validate_ruleset(rs: RuleSet, source: str = "preset") -> None:
    """Compile every condition against the feature schema; raise RuleError on the first problem.

    This catches unknown fields (with a did-you-mean hint), wrong value choices, syntax and type
    errors, and references to dimensions defined later in the preset.
    """
    from weixi.segment.features import feature_table_schema

    keys = [d.key for d in rs.dimensions]
    schema = feature_table_schema()
    clash = [p for p in rs.params if p in schema or p in keys]
    if clash:
        raise RuleError(
            "{source}: params {clash} shadow a field or dimension; rename them",
            source=source,
            clash=clash,
        )
    feat = ibis.table(schema, name="features")
    try:
        apply_rules(feat, rs)
    except RuleError as exc:
        raise RuleError("{source}: {error}", source=source, error=exc) from None


@dataclass(frozen=True)
class Issue:
    """A data-validation finding: levels that overlap, or rows no level covers."""

    kind: str  # overlap | uncovered
    dimension: str
    variant: str
    levels: tuple[str, ...]
    count: int

    def message(self) -> str:
        """One line describing the finding with its count."""
        where = f"dimension {self.dimension}" + (
            f" ({self.variant})" if self.variant != "*" else ""
        )
        if self.kind == "overlap":
            return (
                f"{where}: levels {self.levels[0]} and {self.levels[1]} both match "
                f"{self.count:,} subscribers (the first, {self.levels[0]}, wins)"
            )
        return f"{where}: {self.count:,} subscribers match no level"


def _mask_type(levels: int) -> str:
    """The narrowest signed integer type holding ``levels`` level bits and the scope bit."""
    for bits, typ in ((7, "int8"), (15, "int16"), (31, "int32"), (63, "int64")):
        if levels + 1 <= bits:
            return typ
    raise RuleError(
        "a dimension has {n} levels; the data check handles at most 62 explicit levels",
        n=levels,
    )


def check_masks(t: ir.Table, rs: RuleSet) -> tuple[dict[str, ir.Value], list[tuple]]:
    """One integer column per dimension and line-type variant: bit ``i`` set when explicit
    level ``i`` matches, bit ``n`` (the number of explicit levels) when the row is in the
    dimension's scope. Each mask has the narrowest integer type that holds its bits (a byte
    for up to 6 levels), so the masks add little to the width of the month's result.

    The masks ride along with the output of the same query, so the data check costs no extra
    pass; :func:`issues_from_masks` turns them into overlap / uncovered counts.
    Returns ``(columns, meta)`` with meta ``(column, dimension, variant, codes, has_else,
    allow_overlap)``.
    """
    cols: dict[str, ir.Value] = {}
    meta: list[tuple] = []
    for dim in rs.dimensions:
        for variant, scope, conds in _variant_conditions(dim, t, rs):
            explicit = [(lv, c) for lv, c in conds if c is not None]
            typ = _mask_type(len(explicit))
            bits = ibis.literal(1 << len(explicit), type=typ)
            for i, (_, c) in enumerate(explicit):
                bits = bits + ibis.ifelse(c, ibis.literal(1 << i, type=typ), 0).cast(typ)
            # the levels are only tested inside the scope (a CASE evaluates THEN lazily)
            mask = ibis.ifelse(scope, bits, ibis.literal(0, type=typ))
            name = f"_chk_{dim.key}_{variant if variant != '*' else 'all'}"
            cols[name] = mask.cast(typ)
            codes = tuple(lv.code for lv, _ in explicit)
            meta.append(
                (name, dim.key, variant, codes, len(explicit) < len(conds), dim.allow_overlap)
            )
    return cols, meta


def issues_from_counts(counts: Mapping[str, Mapping[int, int]], meta: list[tuple]) -> list[Issue]:
    """Turn mask histograms (``{column: {mask value: rows}}``) into overlap / uncovered issues.

    A histogram is enough: the rows where levels ``i`` and ``j`` both match are the rows whose
    mask has both bits set, and the uncovered rows are those with only the scope bit (bit
    ``len(codes)``). Masks
    take few distinct values, so the histograms are small whatever the number of rows.
    """
    issues = []
    for name, dim, variant, codes, has_else, allow_overlap in meta:
        hist = counts.get(name, {})
        if not allow_overlap:
            for i in range(len(codes)):
                for j in range(i + 1, len(codes)):
                    both = (1 << i) | (1 << j)
                    n = sum(rows for m, rows in hist.items() if m & both == both)
                    if n:
                        issues.append(Issue("overlap", dim, variant, (codes[i], codes[j]), n))
        if not has_else:
            n = hist.get(1 << len(codes), 0)
            if n:
                issues.append(Issue("uncovered", dim, variant, (), n))
    return issues


def issues_from_masks(table, meta: list[tuple]) -> list[Issue]:
    """Count overlaps and uncovered rows from the mask columns of an Arrow table."""
    import pyarrow.compute as pc

    counts: dict[str, dict[int, int]] = {}
    for name, *_ in meta:
        vc = pc.value_counts(table.column(name))
        counts[name] = {
            m: n
            for m, n in zip(
                vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True
            )
            if m is not None
        }
    return issues_from_counts(counts, meta)


def check(feat: ir.Table, rs: RuleSet) -> list[Issue]:
    """Count, on the table's backend, levels that overlap and rows no level covers."""
    t = apply_rules(feat, rs)
    cols, meta = check_masks(t, rs)
    return issues_from_masks(t.select(**cols).to_pyarrow(), meta)


__all__ = [
    "SEGMENT_COLUMNS",
    "STABILITY_KEYS",
    "Issue",
    "apply_rules",
    "check",
    "check_masks",
    "compile_condition",
    "dimension_expr",
    "issues_from_counts",
    "issues_from_masks",
    "segment_table",
    "select_segments",
    "validate_ruleset",
]
