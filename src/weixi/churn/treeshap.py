"""Exact TreeSHAP of shallow LightGBM trees by table look-up (vectorized, no per-row recursion).

LightGBM's ``pred_contrib`` runs the path-dependent TreeSHAP algorithm row by row: at 100 trees
of depth 3 about 40 µs a row and thread, which was most of the time of a month's reasons. For a
tree with ``m`` internal nodes, the contributions of a row depend on the row only through the
direction it takes at each of those nodes — its *pattern*, one of ``2**m`` — because the
path-dependent value function ``v(S)`` (follow the row at a node whose feature is in ``S``,
otherwise average the children by their training counts) reads nothing else of the row. So
each tree's Shapley values are computed once per pattern, exactly, from ``v(S)`` over the
subsets of the tree's own features; a row's contributions are then a look-up of its pattern
per tree. The model's trees have at most 7 internal nodes (8 leaves, depth 3): 128 patterns
and at most 128 subsets per tree.

The node decisions follow LightGBM's own: a numerical split sends a missing value the default
way (``missing_type`` NaN), treats it as 0 (``None``) or sends 0 and missing the default way
(``Zero``); a categorical split sends the listed categories left and missing or negative codes
right. ``tests/churn/test_treeshap.py`` checks the contributions against ``pred_contrib``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

#: A tree with more internal nodes than this is left to LightGBM (2**m patterns per tree).
MAX_INTERNAL_NODES = 10
#: Rows handled together: a chunk's columns and pattern codes stay in the CPU cache.
CHUNK_ROWS = 16_384
_ZERO = 1e-35  # LightGBM's kZeroThreshold


@dataclass
class _Node:
    feature: int
    categories: np.ndarray | None  # categorical split: the codes that go left
    threshold: float
    missing: str  # "None", "Zero" or "NaN"
    default_left: bool


@dataclass
class _Tree:
    nodes: list[_Node]
    features: np.ndarray  # the tree's distinct features
    table: np.ndarray  # (2**len(nodes), len(features)) contributions per pattern
    bias: float  # v(empty set): the tree's expected value


def _internal(node: dict) -> bool:
    return "split_index" in node


def _count(node: dict) -> float:
    return float(node["internal_count"] if _internal(node) else node["leaf_count"])


def _tree(structure: dict) -> _Tree | None:
    """One tree's table, or None when it has too many internal nodes."""
    nodes: list[dict] = []

    def collect(n: dict) -> None:
        if _internal(n):
            n["_k"] = len(nodes)
            nodes.append(n)
            collect(n["left_child"])
            collect(n["right_child"])

    collect(structure)
    m = len(nodes)
    if m > MAX_INTERNAL_NODES:
        return None
    if m == 0:
        return _Tree([], np.empty(0, np.int64), np.zeros((1, 0)), float(structure["leaf_value"]))
    features = np.array(sorted({int(n["split_feature"]) for n in nodes}), dtype=np.int64)
    position = {int(f): j for j, f in enumerate(features)}
    patterns = np.arange(2**m)
    left_bits = [((patterns >> k) & 1).astype(bool) for k in range(m)]

    def value(n: dict, subset: int) -> np.ndarray | float:
        """v(subset) at ``n`` for every pattern (the path-dependent expectation)."""
        if not _internal(n):
            return float(n["leaf_value"])
        lv = value(n["left_child"], subset)
        rv = value(n["right_child"], subset)
        if subset >> position[int(n["split_feature"])] & 1:
            return np.where(left_bits[n["_k"]], lv, rv)
        total = _count(n)
        return (_count(n["left_child"]) * lv + _count(n["right_child"]) * rv) / total

    size = len(features)
    v = np.empty((2**size, 2**m))
    for subset in range(2**size):
        v[subset] = value(structure, subset)
    weights = [
        math.factorial(s) * math.factorial(size - s - 1) / math.factorial(size) for s in range(size)
    ]
    table = np.zeros((2**m, size))
    for j in range(size):
        bit = 1 << j
        for subset in range(2**size):
            if not subset & bit:
                table[:, j] += weights[subset.bit_count()] * (v[subset | bit] - v[subset])
    spec = [
        _Node(
            feature=int(n["split_feature"]),
            categories=(
                np.array([int(c) for c in str(n["threshold"]).split("||")], dtype=np.float64)
                if n["decision_type"] == "=="
                else None
            ),
            threshold=float(n["threshold"]) if n["decision_type"] != "==" else 0.0,
            missing=str(n["missing_type"]),
            default_left=bool(n["default_left"]),
        )
        for n in nodes
    ]
    return _Tree(spec, features, table, float(v[0][0]))


def _goes_left(node: _Node, x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """LightGBM's decision at ``node`` for the column ``x`` (``missing``: its NaNs)."""
    if node.categories is not None:
        return np.isin(np.where(missing, -1.0, np.trunc(x)), node.categories)
    if node.missing == "NaN":
        return np.where(missing, node.default_left, x <= node.threshold)
    if node.missing == "Zero":
        filled = np.where(missing, 0.0, x)
        return np.where(np.abs(filled) <= _ZERO, node.default_left, filled <= node.threshold)
    return np.where(missing, node.threshold >= 0.0, x <= node.threshold)  # missing is 0


class TableShap:
    """Path-dependent TreeSHAP contributions of a booster whose trees are all shallow."""

    def __init__(self, trees: list[_Tree], n_features: int):
        self.trees = trees
        self.n_features = n_features
        self.used = np.unique(np.concatenate([t.features for t in trees] or [np.empty(0)]))

    @classmethod
    def from_booster(cls, booster: lgb.Booster) -> TableShap | None:
        """The tables of ``booster`` (binary, one tree per iteration); None when a tree has more
        than :data:`MAX_INTERNAL_NODES` internal nodes or the model is not of that kind."""
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output"):
            return None
        trees = []
        for info in dump["tree_info"]:
            tree = _tree(info["tree_structure"])
            if tree is None:
                return None
            trees.append(tree)
        return cls(trees, int(dump["max_feature_idx"]) + 1)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(rows, features + 1)``: each feature's contribution to the raw score, the last
        column the expected value — what ``booster.predict(X, pred_contrib=True)`` returns."""
        X = np.asarray(X, dtype=np.float64)
        n = len(X)
        out = np.zeros((self.n_features + 1, n))
        out[-1] = sum(t.bias for t in self.trees)
        for lo in range(0, n, CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, n)
            cols = {int(f): np.ascontiguousarray(X[lo:hi, f]) for f in self.used}
            nans = {f: np.isnan(c) for f, c in cols.items()}
            dest = out[:, lo:hi]
            for tree in self.trees:
                if not tree.nodes:
                    continue
                code = np.zeros(hi - lo, dtype=np.int32)
                for k, node in enumerate(tree.nodes):
                    left = _goes_left(node, cols[node.feature], nans[node.feature])
                    code |= left.astype(np.int32) << k
                for j, f in enumerate(tree.features):
                    dest[f] += tree.table[code, j]
        return np.ascontiguousarray(out.T)


def explainer(booster: lgb.Booster, *, num_threads: int = 1):
    """``X -> contributions`` of ``booster``: the tables when every tree is shallow enough,
    else LightGBM's ``pred_contrib`` (the same values, row by row)."""
    tables = TableShap.from_booster(booster)
    if tables is not None:
        return tables.contributions
    return lambda X: booster.predict(X, pred_contrib=True, num_threads=num_threads)
