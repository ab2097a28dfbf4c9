"""The CLI's help is bilingual: every command's and option's help text has a Chinese translation,
and ``--lang zh-CN`` / ``WEIXI_LANG`` show it (typer's own panel titles too)."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from weixi.cli import _argv_locale, command, typer_texts
from weixi.i18n import catalog


def _texts(cmd, path="weixi"):
    """(where, text) of every help text of the command tree."""
    out = []
    for text in (cmd.help, cmd.short_help):
        if text:
            out.append((path, text))
    for p in cmd.params:
        if getattr(p, "help", None):
            out.append((f"{path} {p.opts[0] if p.opts else p.name}", p.help))
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        out.extend(_texts(sub, f"{path} {name}"))
    return out


def test_every_help_text_has_a_chinese_translation():
    zh = catalog("zh-CN")
    texts = _texts(command("en"))
    assert len(texts) > 250  # the whole tree: every command and option
    missing = [(where, text[:60]) for where, text in texts if not zh.get(text)]
    assert not missing, missing


def test_help_in_chinese_and_english():
    runner = CliRunner()
    with typer_texts("zh-CN"):
        res = runner.invoke(command("zh-CN"), ["import", "--help"], prog_name="weixi")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "导入一个月的用户快照" in out and "示例：weixi import" in out
    assert "要导入的月份，YYYY-MM。" in out  # an option's help
    assert "选项" in out and "参数" in out and "[必填]" in out  # typer's own texts
    assert "显示此帮助信息并退出。" in out  # click's --help option
    with typer_texts("zh-CN"):  # a message typer passes through gettext
        res = runner.invoke(command("zh-CN"), ["imprt"], prog_name="weixi")
    assert res.exit_code == 2 and "没有命令 'imprt'" in res.output
    # nothing leaks into an English run after the block
    res = runner.invoke(command("en"), ["import", "--help"], prog_name="weixi")
    assert res.exit_code == 0
    assert "Import one month of subscriber snapshots" in res.output
    assert "Options" in res.output and "选项" not in res.output and "导入" not in res.output
    res = runner.invoke(command("en"), ["imprt"], prog_name="weixi")
    assert "No such command 'imprt'" in res.output


def test_the_language_comes_from_lang_then_the_environment():
    assert _argv_locale(["--lang", "zh-CN", "import", "--help"]) == "zh-CN"
    assert _argv_locale(["--lang=en", "plan"]) == "en"
    assert _argv_locale(["plan", "--month", "2026-03"]) is None
    env = {**os.environ, "WEIXI_LANG": "zh-CN", "COLUMNS": "120"}
    res = subprocess.run(
        [sys.executable, "-m", "weixi", "segment", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "对某月分层" in res.stdout and "选项" in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "weixi", "--lang", "en", "segment", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "Segment a month" in res.stdout and "选项" not in res.stdout


def test_parse_errors_in_chinese():
    """click's parse errors (plain English f-strings in typer's bundled click) and the option
    value checks are shown in the CLI's language; English runs are unchanged."""
    runner = CliRunner()
    cases = {
        ("bench", "--subscribers", "abc"): "'--subscribers' / '-n' 的值无效：应为整数",
        ("bench", "--subscribers", "10"): "'--subscribers' / '-n' 的值无效：至少为 1000",
        ("bench", "--bogus"): "没有选项 --bogus",
        ("import",): "缺少参数 'paths'。",
        ("generate", "--out"): "选项 '--out' 需要一个值。",
        ("bench", "extra"): "多余的参数：extra",
    }
    for args, want in cases.items():
        with typer_texts("zh-CN"):
            res = runner.invoke(command("zh-CN"), list(args), prog_name="weixi")
        assert res.exit_code == 2, (args, res.output)
        text = " ".join(res.output.replace("│", " ").split())
        assert want in text, (args, text)
        assert "用法：weixi" in text or args == ("generate", "--out"), text
    res = runner.invoke(command("en"), ["bench", "--subscribers", "10"], prog_name="weixi")
    text = " ".join(res.output.replace("│", " ").split())
    assert "Input should be greater than or equal to 1000" in text and "Usage: weixi" in text


def test_every_parse_error_message_has_a_chinese_translation():
    from weixi.cli import _ERRORS

    zh = catalog("zh-CN")
    assert not [m for _p, m in _ERRORS if not zh.get(m)]
    assert zh.get("Usage: ")
