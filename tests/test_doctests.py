"""The examples in the modules' docstrings run and show what they print (``>>>`` blocks)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import weixi


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(weixi.__path__, prefix="weixi."):
        spec = importlib.util.find_spec(info.name)
        origin = getattr(spec, "origin", None) if spec else None
        if origin and origin.endswith(".py"):
            with open(origin, encoding="utf-8") as fh:
                if ">>>" in fh.read():
                    names.append(info.name)
    return names


MODULES = _modules()


def test_the_modules_with_examples_are_found():
    # a fixed few the walk must see (a broken walk would pass every case below by having none)
    assert {"weixi.i18n", "weixi.segment.exprs", "weixi.evaluate.external"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
