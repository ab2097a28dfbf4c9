from typer.testing import CliRunner

from weixi.cli import app


def test_version_and_help():
    runner = CliRunner()
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert "weixi" in result.stdout
    assert runner.invoke(app, ["--help"]).exit_code == 0
