"""The command line refuses bad arguments with a clear message, and prints the schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamrec.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["analyze", "--weights", "a,b"], "could not convert"),
        (["analyze", "--weights", "nan,1,1,1,1"], "finite"),
        (["analyze", "--weights", "1,2"], "5 arms but 2 weights"),
        (["topics", "-b", "notaport"], "HOST:PORT"),
        (["broker", "--port", "0"], "--port"),
        (["topics", "--partitions", "0"], "--partitions"),
        (["schema", "events"], "unknown schema"),
        (["analyze", "--log-dir", "/no/such/folder"], "not a folder"),
    ],
)
def test_bad_arguments_get_a_clear_error(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, arguments)

    assert result.exit_code == 2
    assert message in " ".join(result.output.split()), result.output


def test_an_empty_query_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sql", "--log-dir", str(tmp_path), " "])

    assert result.exit_code == 2
    assert "empty" in result.output


def test_schema_prints_every_json_schema() -> None:
    result = runner.invoke(app, ["schema"])

    documents = json.loads(result.output)
    assert set(documents) >= {"interaction", "recommendation", "dead_letter", "catalog_item"}
    assert documents["interaction"]["additionalProperties"] is False
