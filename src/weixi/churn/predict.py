"""Scoring: encode features into one float matrix, run the trees, calibrate (pure functions).

The same float matrix feeds LightGBM and the compiled (lleaves) model: categorical columns are
encoded as integer codes of the levels seen in training (unknown or missing -> NaN), which is
how LightGBM itself treats integer-coded categorical features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype

log = logging.getLogger(__name__)


def fit_levels(df: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    """Sorted category levels of each categorical column (learned on training data)."""
    out = {}
    for c in categorical:
        vals = df[c].astype(object)
        out[c] = sorted(str(v) for v in vals[vals.notna()].unique())
    return out


#: Rows :func:`encode` fills at a time: a block's features sit in a buffer of ~9 MB
#: (features × rows, each feature's values contiguous) before they are set into the matrix.
ENCODE_BLOCK_ROWS = 16_384


def encode(
    df: pd.DataFrame,
    names: list[str],
    levels: dict[str, list[str]],
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Return the ``float64`` matrix (rows x ``names``) the boosters are trained and scored on.

    ``rows`` (positions, in the order wanted): encode only those rows of ``df``, one column at
    a time, instead of first copying the frame's rows (a training frame of millions of lines
    holds several gigabytes; a copy of it per split was the training step's peak memory).

    Numeric and category columns are filled ``ENCODE_BLOCK_ROWS`` rows at a time: each
    feature's values into one contiguous row of a small buffer, then the block's rows into the
    matrix at once. Writing each feature straight into its column of the (rows × features)
    matrix strides across all of it: on a 1 M × 72 frame 1.6 s against 0.5 (and 1.1 against
    0.5 s in the 262 144-row batches training and the drift reference encode), which was a
    fifth of a 10 M province's training step.
    """
    n = len(df) if rows is None else len(rows)
    X = np.empty((n, len(names)), dtype=np.float64)
    fills: list[tuple[int, np.ndarray, np.ndarray | None]] = []  # (column, values, lookup)
    for j, c in enumerate(names):
        if c not in df.columns:
            X[:, j] = np.nan
            continue
        col = df[c]
        if c in levels and isinstance(col.dtype, pd.CategoricalDtype):
            # a category column: its few categories looked up once (the training levels'
            # positions, NaN when unseen, and NaN last for the null code -1), then its codes
            lut = pd.Index(levels[c]).get_indexer(col.cat.categories.astype(object))
            lut = np.append(np.where(lut < 0, np.nan, lut.astype(np.float64)), np.nan)
            fills.append((j, col.cat.codes.to_numpy(), lut))
        elif c in levels:
            # position in the training levels; unseen values and nulls → −1 → NaN
            part = col if rows is None else col.iloc[rows]
            codes = pd.Index(levels[c]).get_indexer(part.astype(object))
            X[:, j] = np.where(codes < 0, np.nan, codes)
        elif col.dtype.kind in "fiub" and not isinstance(col.dtype, ExtensionDtype):
            fills.append((j, col.to_numpy(), None))  # plain NumPy numbers: read as they are
        else:
            part = col if rows is None else col.iloc[rows]
            X[:, j] = pd.to_numeric(part, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    if not fills:
        return X
    at = np.array([j for j, _, _ in fills])
    buf = np.empty((len(fills), min(ENCODE_BLOCK_ROWS, n)), dtype=np.float64)
    for lo in range(0, n, ENCODE_BLOCK_ROWS):
        hi = min(lo + ENCODE_BLOCK_ROWS, n)
        idx = slice(lo, hi) if rows is None else rows[lo:hi]
        out = buf[:, : hi - lo]
        for i, (_, values, lut) in enumerate(fills):
            if lut is None:
                out[i] = values[idx]
            else:
                np.take(lut, values[idx], out=out[i])
        X[lo:hi, at] = out.T
    return X


def encode_arrow_columns(batch, names: list[str], levels: dict[str, list[str]]) -> np.ndarray:
    """:func:`encode` of an Arrow table or record batch (no pandas), transposed: one contiguous
    row per feature (features × lines). Its ``.T`` is :func:`encode`'s matrix; the compiled
    trees take a C-contiguous copy of it, the drift counts read the rows. Filling a row per
    feature and transposing once is faster than writing each feature into a column of a
    (lines × features) matrix, which strides across all of it (0.46 → 0.25 s, median, on a
    250 000 × 64 batch)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = np.empty((len(names), batch.num_rows), dtype=np.float64)
    have = set(batch.schema.names)
    for j, c in enumerate(names):
        if c not in have:
            cols[j] = np.nan
            continue
        col = batch.column(c)
        if c in levels:
            text = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
            codes = pc.index_in(text, value_set=pa.array(levels[c], pa.string()))
            col = pc.cast(codes, pa.float64())
        elif not pa.types.is_floating(col.type):
            col = pc.cast(col, pa.float64())
        cols[j] = col.to_numpy(zero_copy_only=False)
    return cols


def horizon_probabilities(
    meta: dict, predict: Callable[[int, np.ndarray], np.ndarray], X: np.ndarray
) -> dict[int, np.ndarray]:
    """Calibrated churn probability per horizon (months) of the rows of ``X``.

    ``predict(h, X)`` gives horizon ``h``'s raw booster output; each is prior-corrected and
    calibrated as recorded in the model's ``meta``, and a longer horizon is never below a
    shorter one. The one definition the DuckDB path and the Spark executors both run.
    """
    from weixi.churn.calibrate import Calibrator, apply_calibrator, prior_correct

    probs: dict[int, np.ndarray] = {}
    prev = None
    for h in sorted(int(k) for k in meta["horizons"]):
        hm = meta["horizons"][str(h)]
        raw = prior_correct(predict(h, X), hm["negative_rate"])
        p = apply_calibrator(Calibrator.model_validate(hm["calibrator"]), raw)
        if prev is not None:
            p = np.maximum(p, prev)
        probs[h] = prev = p
    return probs


class Scorer:
    """Raw probabilities of one booster, through lleaves when compiled, else LightGBM."""

    def __init__(self, model_file: Path, *, engine: str = "auto", num_threads: int = 2):
        self.model_file = Path(model_file)
        self.num_threads = num_threads
        self.booster = lgb.Booster(model_file=str(self.model_file))
        self.compiled = None
        if engine in {"auto", "lleaves"}:
            self.compiled = compile_model(self.model_file, required=engine == "lleaves")
        self.engine = "lleaves" if self.compiled is not None else "lightgbm"
        self._explain = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probability of churn before calibration."""
        if self.compiled is not None:
            return self.compiled.predict(X, n_jobs=self.num_threads)
        return self.booster.predict(X, num_threads=self.num_threads)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contributions to the log-odds (SHAP values); last column is the bias.

        LightGBM's ``pred_contrib`` values, by table look-up for shallow trees
        (:mod:`weixi.churn.treeshap`)."""
        return self.explaining()._explain(X)

    def explaining(self) -> Scorer:
        """This scorer with its explainer built (the SHAP tables, once): a scorer kept for
        later calls, from several threads, is built this way first."""
        if self._explain is None:
            from weixi.churn.treeshap import explainer

            self._explain = explainer(self.booster, num_threads=self.num_threads)
        return self


def compile_model(model_file: Path, *, required: bool = False):
    """Compile a LightGBM model file with lleaves, caching the shared object next to it.

    Returns None (LightGBM's own predict is used) when lleaves is not installed or fails,
    unless ``required``.
    """
    try:
        import lleaves
    except ImportError:
        if required:
            from weixi.errors import ModelError

            raise ModelError("lleaves is not installed; pip install 'weixi[fast]'") from None
        return None
    # the "large" code model: with "small", the JIT links the forest with 32-bit relative
    # relocations, and in a process of several GiB the sections can land > 2 GiB apart — LLVM
    # then aborts the whole process (an assertion in RuntimeDyldELF, seen in a 200 k-line
    # simulation). "large" costs nothing measurable (1 M rows × 100 trees: 0.30 s against 0.47 s).
    # The cache name carries the code model, so objects built with "small" are never loaded.
    cache = model_file.with_suffix(".large.so")
    try:
        _patch_lleaves()
        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(cache), fcodemodel="large")
        return model
    except Exception as exc:  # compilation problems must not stop scoring
        if required:
            from weixi.errors import ModelError

            raise ModelError(
                "lleaves could not compile {model_file}: {error}",
                model_file=model_file,
                error=str(exc),
            ) from exc
        log.warning("lleaves compile failed for %s (%s); using LightGBM predict", model_file, exc)
        return None


def _patch_lleaves() -> None:
    """Make lleaves 1.3 work with llvmlite >= 0.45 (new pass manager, automatic init).

    lleaves calls ``llvm.initialize()`` (now an error) and ``PassManagerBuilder`` (removed).
    The generated IR is unchanged; only the optimisation step uses the new pass builder.
    """
    import llvmlite.binding as llvm

    if hasattr(llvm, "PassManagerBuilder"):
        return
    import llvmlite.ir
    from lleaves import compiler, llvm_binding
    from lleaves.compiler.ast import parse_to_ast
    from lleaves.compiler.codegen import gen_forest

    if getattr(compiler, "_weixi_patched", False):
        return

    def _init() -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()

    def compile_to_module(
        file_path,
        fblocksize=34,
        finline=True,
        raw_score=False,
        froot_func_name="forest_root",
        use_fp64=True,
    ):
        forest = parse_to_ast(file_path)
        forest.raw_score = raw_score
        ir = llvmlite.ir.Module(name="forest")
        gen_forest(forest, ir, fblocksize, froot_func_name, use_fp64)
        ir.triple = llvm.get_process_triple()
        module = llvm.parse_assembly(str(ir))
        module.name = str(file_path)
        module.verify()
        _init()
        tm = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine()
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
        pb.getModulePassManager().run(module, pb)
        return module

    llvm_binding._initialize_llvm = _init
    compiler.compile_to_module = compile_to_module
    compiler._weixi_patched = True
