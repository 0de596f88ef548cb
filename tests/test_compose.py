"""docker-compose.yml is a valid Compose file and runs only commands the streamrec CLI has.

No Docker engine runs where the tests run, so the file is checked statically: against the
Compose specification's JSON schema (the copy vendored by check-jsonschema, so no network is
needed), and every ``streamrec ...`` command in it against the CLI's subcommands and options.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _compose() -> dict:
    return YAML(typ="safe", pure=True).load(COMPOSE_FILE.read_text())


def _compose_schema() -> dict:
    """The Compose specification schema vendored by check-jsonschema.

    NOTE: the file is read from the installed package rather than through the
    ``check-jsonschema --builtin-schema vendor.compose-spec`` command, because importing
    check_jsonschema 0.38.1 fails with click 8.3.3 (``click.ParamType`` is not subscriptable
    there). The schema is the same; switch to the command when the two versions agree again.
    """
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec is not None and spec.submodule_search_locations, "check-jsonschema is missing"
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    schema_path = package_dir / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(schema_path.read_text())


def _streamrec_commands(compose: dict) -> dict[str, list[str]]:
    """Each service that runs ``streamrec``, with the arguments after the program name."""
    commands = {}
    for service_name, service in compose["services"].items():
        command = service.get("command")
        argv = shlex.split(command) if isinstance(command, str) else list(command or [])
        if argv and argv[0] == "streamrec":
            commands[service_name] = argv[1:]
    return commands


def _cli_commands() -> dict:
    """The click commands behind the typer app in ``streamrec/cli.py``, by subcommand name."""
    try:
        import typer

        from streamrec.cli import app
    except ImportError as exc:
        pytest.fail(f"cannot import the typer app `app` from streamrec/cli.py: {exc}")

    group = typer.main.get_command(app)
    return dict(group.commands)


def test_compose_file_matches_the_compose_specification() -> None:
    validator = Draft202012Validator(_compose_schema())

    errors = sorted(validator.iter_errors(_compose()), key=lambda error: list(error.path))

    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors
    )


def test_the_stack_runs_the_expected_streamrec_services() -> None:
    commands = _streamrec_commands(_compose())

    assert {name: argv[0] for name, argv in commands.items()} == {
        "topic-init": "topics",
        "producer": "simulate",
        "worker": "worker",
        "sink": "sink",
    }
    assert all(argv[argv.index("--bootstrap") + 1] == "kafka:9092" for argv in commands.values())


def test_every_streamrec_command_is_a_cli_subcommand_with_those_options() -> None:
    cli_commands = _cli_commands()
    problems = []

    for service_name, argv in _streamrec_commands(_compose()).items():
        subcommand, options = argv[0], [arg for arg in argv[1:] if arg.startswith("--")]
        if subcommand not in cli_commands:
            problems.append(f"{service_name}: `streamrec {subcommand}` is not a CLI subcommand")
            continue
        known = {opt for param in cli_commands[subcommand].params for opt in param.opts}
        problems += [
            f"{service_name}: `streamrec {subcommand}` has no option {option}"
            for option in options
            if option.split("=", 1)[0] not in known
        ]

    assert not problems, f"CLI subcommands: {sorted(cli_commands)}\n" + "\n".join(problems)


def test_worker_can_be_scaled() -> None:
    # --scale starts several containers from one service: a fixed container name or host
    # port would make the second one fail to start.
    worker = _compose()["services"]["worker"]

    assert "container_name" not in worker
    assert "ports" not in worker
