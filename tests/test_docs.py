"""Docs are tested: the CLI reference is generated and current, every command has an example."""

from pathlib import Path

from weixi.cli import app
from weixi.cli.reference import iter_commands, render_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    expected = render_markdown(app)
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == expected, (
        "docs/cli.md is stale: run `python -m weixi.cli.reference > docs/cli.md`"
    )


def test_every_command_has_help_with_example():
    missing = []
    for name, cmd in iter_commands(app):
        if name == "weixi":
            continue
        is_plain_group = hasattr(cmd, "commands") and not getattr(
            cmd, "invoke_without_command", False
        )
        if not cmd.help or (not is_plain_group and "Example" not in cmd.help):
            missing.append(name)
    assert not missing, f"commands without help text and an Example: {missing}"


def test_readme_has_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
