"""Test factories: synthetic canonical months from the synthetic operator (seeded).

Example:
    >>> from tests.factories import make_month
    >>> make_month(100, seed=1).num_rows
    100
"""

from __future__ import annotations

from weixi.synth.generate import SyntheticOperator, canonical_schema, make_history, make_month

__all__ = ["SyntheticOperator", "canonical_schema", "make_history", "make_month"]
