"""Every error weixi raises on purpose reads in the user's language.

A :class:`~weixi.errors.WeixiError` is raised with an English template and keyword parameters
(``ConfigError("no plan for {month}", month=m)``), never with an f-string: the template is the
catalog's message id, so the CLI (``--lang zh-CN``) and the pages show the Chinese text with the
same values (:func:`weixi.errors.localized`). This scans the source for every construction of an
error class and checks its template has a translation with the same placeholders.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import string
from pathlib import Path

import pytest

import weixi
from weixi.errors import ConfigError, NotFoundError, WeixiError, localized
from weixi.i18n import catalog

SRC = Path(weixi.__file__).parent
PACKAGES = [
    *sorted(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()),
    "(top level)",
]


def _error_classes() -> dict[str, type]:
    for m in pkgutil.walk_packages(weixi.__path__, "weixi."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    out, todo = {}, [WeixiError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if not callable(getattr(sub, "render", None)):  # ImportProblem: its own msgids
                out[sub.__name__] = sub
    return out


def _fields(text: str) -> set[tuple[str, str, str]]:
    return {
        (name, spec or "", conv or "")
        for _lit, name, spec, conv in string.Formatter().parse(text)
        if name is not None
    }


def _files(package: str) -> list[Path]:
    if package == "(top level)":
        return sorted(SRC.glob("*.py"))
    return sorted((SRC / package).rglob("*.py"))


def _module_constant(path: Path, name: str) -> str | None:
    rel = path.relative_to(SRC.parent).with_suffix("")
    module = importlib.import_module(".".join(rel.parts).removesuffix(".__init__"))
    value = getattr(module, name, None)
    return value if isinstance(value, str) else None


def _problems(package: str) -> list[str]:
    classes = _error_classes()
    zh = catalog("zh-CN")
    problems = []
    for path in _files(package):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            # a method that builds the error from a template it is given (segmentation's
            # ``self.fail("unknown field {name!r}", name=…)``): its calls are checked
            builder = (
                name == "fail"
                and isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "self"
            )
            if (name not in classes and not builder) or not node.args:
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            arg = node.args[0]
            passed = any(k.arg is None for k in node.keywords)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                template = arg.value
            elif isinstance(arg, ast.Name) and _module_constant(path, arg.id) is not None:
                template = _module_constant(path, arg.id)
            elif isinstance(arg, ast.Name) and passed:
                continue  # ``RuleError(problem, **values)`` inside such a builder
            else:
                problems.append(
                    f"{where}: {name}(…) needs a literal template, not {ast.dump(arg)[:60]}"
                )
                continue
            keywords = {k.arg for k in node.keywords}
            used = {f[0].split(".")[0].split("[")[0] for f in _fields(template)}
            if used - keywords and not passed:
                problems.append(f"{where}: {template!r} lacks parameters {sorted(used - keywords)}")
            translated = zh.get(template)
            if not translated:
                problems.append(f"{where}: no Chinese for {template!r}")
            elif _fields(translated) != _fields(template):
                problems.append(f"{where}: the Chinese of {template!r} has other placeholders")
    return problems


@pytest.mark.parametrize("package", PACKAGES)
def test_errors_are_templates_with_a_chinese_translation(package):
    problems = _problems(package)
    assert not problems, "\n".join(problems)


def test_an_error_reads_in_the_users_language():
    template = "task {task} is already {status}: it takes no further outcome"
    err = NotFoundError(template, task=42, status="done")
    assert str(err) == "task 42 is already done: it takes no further outcome"
    assert localized(err, "en") == str(err)
    assert localized(err, "zh-CN") == catalog("zh-CN")[template].format(task=42, status="done")
    assert "42" in localized(err, "zh-CN") and "task" not in localized(err, "zh-CN")
    plain = ConfigError("a literal without parameters")
    assert plain.template == "a literal without parameters" and localized(plain, "zh-CN") == str(
        plain
    )
    assert localized(ValueError("engine text"), "zh-CN") == "engine text"  # not ours: as it is
    wrapped = ConfigError("campaign form: {error}", error=err)  # our error inside ours
    assert str(wrapped) == f"campaign form: {err}"
    assert localized(err, "zh-CN") in localized(wrapped, "zh-CN")
