"""Render the CLI reference (docs/cli.md) from the Typer app itself, so docs cannot drift."""

from __future__ import annotations

import typer


def _walk(cmd, path: list[str]):
    yield path, cmd
    if hasattr(cmd, "commands"):  # a group (Typer vendors its own click classes)
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], [*path, name])


def iter_commands(app: typer.Typer):
    """Yield ``(full command name, click command)`` for every command and group of ``app``."""
    root = typer.main.get_command(app)
    for path, cmd in _walk(root, ["weixi"]):
        yield " ".join(path), cmd


def render_markdown(app: typer.Typer) -> str:
    """Return the Markdown reference of every command: usage, help text and options."""
    root = typer.main.get_command(app)
    lines = [
        "# Command-line reference",
        "",
        "Generated from the CLI itself (`python -m weixi.cli.reference > docs/cli.md`);",
        "`tests/test_docs.py` fails when it is out of date. Every command accepts the global",
        "options `--debug` (tracebacks) and `--lang en|zh-CN` placed before the command name.",
        "The help is bilingual: `weixi --lang zh-CN COMMAND --help` (or `WEIXI_LANG=zh-CN`)",
        "shows every description and option below in Chinese (`locale/zh_CN/LC_MESSAGES/clihelp.po`),",
        "and so are the errors: a mistyped option or value (`weixi.cli.error_text`) and every error",
        "the product raises on purpose, which is an English template with its values",
        '(`ConfigError("no plan for {month}", month=m)`, never an f-string) translated in the',
        "catalogs (`weixi.errors.localized`; `tests/test_error_messages.py` checks every one).",
        "",
    ]
    for name, cmd in iter_commands(app):
        if cmd is root:
            continue
        ctx = cmd.context_class(cmd, info_name=name)
        lines.append(f"## `{name}`")
        lines.append("")
        help_text = (cmd.help or "").strip()
        if help_text:
            lines.append(help_text.replace("\b\n", ""))
            lines.append("")
        lines.append("```")
        lines.append(f"{name} " + " ".join(cmd.collect_usage_pieces(ctx)))
        lines.append("```")
        lines.append("")
        opts = [p for p in cmd.params if p.name != "help"]
        if opts:
            lines.append("| option | help |")
            lines.append("|---|---|")
            for p in opts:
                decl = (
                    ", ".join(getattr(p, "opts", []) + getattr(p, "secondary_opts", [])) or p.name
                )
                if p.param_type_name == "argument":
                    decl = (p.name or "").upper()
                helptext = (getattr(p, "help", None) or "").replace("|", "\\|").replace("\n", " ")
                lines.append(f"| `{decl}` | {helptext} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    from weixi.cli import app

    print(render_markdown(app), end="")
