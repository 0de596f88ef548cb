"""The ``streamrec`` command: brokers, topics, schemas, the worker, the simulator, the analysis.

Each subcommand is a thin layer over a function of ``stream/``, ``producers/`` or ``analysis/``;
this module is the only place that parses arguments and configures logging.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stream.admin import TopicMissing
from stream.assignment import Experiment
from stream.brokers.process import BrokerStartError
from stream.events import SCHEMAS
from stream.snapshots import SnapshotError
from stream.topics import DEFAULT_PARTITIONS, TOPICS, Topics
from streamrec.demo import WorkerFailed

app = typer.Typer(
    help="Streaming recommender with a built-in multi-arm experiment.",
    no_args_is_help=True,
    add_completion=False,
    # Failures reach main(), which prints them as one line unless --verbose asks for more.
    pretty_exceptions_enable=False,
)
# Reports are 100 columns wide; written to a file or a pipe they would otherwise be cut to 80.
console = Console(width=None if sys.stdout.isatty() else 120)
logger = logging.getLogger("streamrec")

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_LOG_DIR = Path("var/log")


def _check_bootstrap(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65_536:
        raise typer.BadParameter(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:9092")
    return value


Bootstrap = Annotated[
    str,
    typer.Option(
        "--bootstrap", "-b", help="Kafka bootstrap server, HOST:PORT.", callback=_check_bootstrap
    ),
]
LogDir = Annotated[
    Path, typer.Option("--log-dir", help="Folder of the Parquet event log (written by 'sink').")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")]
TopicPrefix = Annotated[
    str, typer.Option("--topic-prefix", help="Put this before every topic name.")
]

Salt = Annotated[
    str, typer.Option("--salt", help="Experiment salt: users are split by hash(salt, user_id).")
]
Weights = Annotated[
    str,
    typer.Option("--weights", help="Comma-separated share of each arm A..E, e.g. 1,1,1,1,1."),
]


def _configure_logging(verbose: bool, level: int = logging.INFO) -> None:
    """Structured, quiet logs on stderr: milestones at INFO, per-event detail at DEBUG."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("aiokafka", "faust", "mode", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    # kafka-python warns about its own event loop's timing at WARNING; only errors matter here.
    logging.getLogger("kafka").setLevel(logging.INFO if verbose else logging.ERROR)


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so every command stops as it does on Ctrl-C."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@app.command()
def broker(
    port: Annotated[
        int, typer.Option(help="Port to listen on, on 127.0.0.1.", min=1, max=65_535)
    ] = 9092,
    kafka: Annotated[
        bool, typer.Option("--kafka", help="Run Apache Kafka (Java) instead of Tansu.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Start a local broker on loopback and keep it running until Ctrl-C.

    By default the embedded Tansu broker (memory only: it keeps nothing across a restart);
    with --kafka, Apache Kafka in KRaft mode from its Maven jars (needs Java 17 and Maven; the
    first start downloads the jars).
    """
    from stream.brokers.kafka import ApacheKafkaBroker
    from stream.brokers.tansu import TansuBroker, tansu_version

    _configure_logging(verbose)
    _stop_on_sigterm()
    launcher = ApacheKafkaBroker(port=port) if kafka else TansuBroker(port=port)
    name = "Apache Kafka" if kafka else tansu_version()

    try:
        with launcher:
            console.print(f"[green]{name} broker ready[/] at 127.0.0.1:{port}; Ctrl-C stops it.")
            signal.pause()
    except KeyboardInterrupt:
        pass
    console.print(f"{name} broker stopped.")


@app.command()
def topics(
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    partitions: Annotated[int, typer.Option(help="Partitions of each new topic.", min=1)] = (
        DEFAULT_PARTITIONS
    ),
    topic_prefix: TopicPrefix = "",
    verbose: Verbose = False,
) -> None:
    """Create the experiment's topics; topics that exist already are left as they are."""
    from stream.admin import create_topics, wait_for_broker

    _configure_logging(verbose)
    wait_for_broker(bootstrap, timeout_s=60)
    names = TOPICS.with_prefix(topic_prefix).all()
    created = create_topics(bootstrap, names, partitions=partitions)

    existing = sorted(set(names) - set(created))
    console.print(f"created: {', '.join(created) or 'none'}")
    console.print(f"already there: {', '.join(existing) or 'none'}")


@app.command()
def schema(
    name: Annotated[
        str | None, typer.Argument(help=f"One of: {', '.join(SCHEMAS)}. All when omitted.")
    ] = None,
) -> None:
    """Print the JSON Schema of the messages on the wire."""
    if name is not None and name not in SCHEMAS:
        raise typer.BadParameter(f"unknown schema {name!r}; choose from {', '.join(SCHEMAS)}")

    chosen = {name: SCHEMAS[name]} if name else SCHEMAS
    documents = {key: model.model_json_schema() for key, model in chosen.items()}
    print(json.dumps(documents[name] if name else documents, indent=2))


@app.command()
def watch(
    topic: Annotated[str, typer.Argument(help="Topic to tail, e.g. recommendations.")],
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest message.")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Stop after this many messages.", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line each.")] = False,
    verbose: Verbose = False,
) -> None:
    """Tail a topic live in readable form (from its end unless --from-beginning)."""
    from stream.watch import watch_topic

    _configure_logging(verbose)
    _stop_on_sigterm()
    with contextlib.suppress(KeyboardInterrupt):
        watch_topic(bootstrap, topic, console, from_beginning, limit, as_json)


def _experiment(salt: str, weights: str) -> Experiment:
    """The experiment named on the command line: five arms A to E with the given shares."""
    try:
        shares = tuple(float(part) for part in weights.split(","))
        if not all(math.isfinite(share) for share in shares):
            raise ValueError("weights must be finite numbers")
        return Experiment(salt=salt, weights=shares)
    except ValueError as error:
        raise typer.BadParameter(f"--weights {weights!r}: {error}") from error


def _folder(path: Path, what: str) -> Path:
    """``path`` if it is a folder or can become one; a clear error otherwise."""
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{what} {path} is a file, not a folder")
    return path


@app.command()
def worker(
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    state_dir: Annotated[
        Path, typer.Option(help="Folder of this worker's snapshot; one per worker.")
    ] = Path("var/state"),
    salt: Salt = Experiment.salt,
    weights: Weights = "1,1,1,1,1",
    snapshot_interval: Annotated[
        float, typer.Option("--snapshot-interval", help="Seconds between state snapshots.")
    ] = 10.0,
    web_port: Annotated[
        int, typer.Option(help="Port of the HTTP views (/arms/); 0 turns them off.")
    ] = 6066,
    topic_prefix: TopicPrefix = "",
    app_id: Annotated[
        str, typer.Option(help="Faust app id: the consumer group the workers share.")
    ] = "streamrec-worker",
    verbose: Verbose = False,
) -> None:
    """Run the stream worker: learn each arm from its users' events and serve slates.

    Run one per experiment: several workers do share the partitions, but each then learns only
    from its share of the shoppers. The worker snapshots its learned state into --state-dir
    and resumes from it after a restart.
    """
    from stream.admin import wait_for_broker
    from stream.brokers.process import port_is_free
    from stream.worker import WorkerSettings, run_worker

    _configure_logging(verbose)
    if web_port and not port_is_free("127.0.0.1", web_port):
        raise typer.BadParameter(f"--web-port {web_port} is in use; choose another or 0")
    wait_for_broker(bootstrap, timeout_s=30)
    settings = WorkerSettings(
        bootstrap=bootstrap,
        state_dir=_folder(state_dir, "--state-dir"),
        experiment=_experiment(salt, weights),
        snapshot_interval_s=snapshot_interval,
        web_port=web_port or None,
        topics=TOPICS.with_prefix(topic_prefix),
        app_id=app_id,
    )
    run_worker(settings, loglevel="DEBUG" if verbose else "INFO")


@app.command()
def simulate(
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world and its shoppers.")] = 7,
    days: Annotated[float, typer.Option(help="Simulated days to run.", min=0.01)] = 1.0,
    items: Annotated[int, typer.Option(help="Catalog size.", min=50)] = 2_000,
    shoppers: Annotated[int, typer.Option(help="Number of shoppers.", min=10)] = 10_000,
    rate: Annotated[
        float | None, typer.Option(help="Messages per second at most; unlimited when omitted.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Prefix of request ids; give each run its own.")
    ] = None,
    topic_prefix: TopicPrefix = "",
    verbose: Verbose = False,
) -> None:
    """Simulated shoppers: send rec-requests, react to the slates, browse and buy organically."""
    from producers.driver import DriveSettings, drive
    from producers.simulator import ShopperSimulator

    _configure_logging(verbose)
    simulator = ShopperSimulator(seed=seed, n_items=items, n_shoppers=shoppers, run_id=run_id)
    settings = DriveSettings(duration_s=days * 86_400.0, rate=rate)
    topics = TOPICS.with_prefix(topic_prefix)
    report = drive(simulator, bootstrap, settings, topics=topics, show_progress=True)

    counters = simulator.counters
    console.print(
        f"sent {sum(report.messages_sent.values()):,} messages in {report.wall_s:.0f} s: "
        f"{counters.requests_sent:,} requests, {report.slates_received:,} slates answered, "
        f"{report.requests_expired:,} expired, {counters.n_events:,} interactions, "
        f"{counters.references:,} references"
    )


@app.command()
def sink(
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    out: Annotated[Path, typer.Option("--out", help="Root folder of the Parquet log.")] = (
        DEFAULT_LOG_DIR
    ),
    roll_seconds: Annotated[
        float, typer.Option(help="Longest wait before buffered messages become a file.")
    ] = 60.0,
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without a message.")
    ] = None,
    topic_prefix: TopicPrefix = "",
    verbose: Verbose = False,
) -> None:
    """Write every topic to Parquet under --out, committing offsets once each file is durable."""
    from stream.sink import run_sink

    _configure_logging(verbose)
    topics = TOPICS.with_prefix(topic_prefix)
    stats = run_sink(
        bootstrap,
        _folder(out, "--out"),
        topics=topics,
        roll_seconds=roll_seconds,
        idle_seconds=idle_exit,
    )
    console.print(f"wrote {sum(stats.rows_written.values()):,} rows: {stats.rows_written}")


@app.command()
def demo(
    days: Annotated[float, typer.Option(help="Simulated days of shopping.", min=0.01)] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Where runs leave their files.")] = Path(
        "var/demo"
    ),
    verbose: Verbose = False,
) -> None:
    """Run the closed loop on the embedded broker and print the arm comparison.

    Starts Tansu, the topics, a Faust worker and the event-log sink; simulated shoppers ask
    for slates and react to them; then the Parquet log is analysed.
    """
    from streamrec.demo import DemoSettings, run_demo

    # The demo narrates its own steps; library milestones would drown them.
    _configure_logging(verbose, level=logging.WARNING)
    run = run_demo(DemoSettings(days=days, seed=seed, out_dir=out), console)
    console.rule("arm comparison")
    _analyze(run.log_dir, Experiment())
    console.print(
        f"The log stays in {run.log_dir}: try "
        f'[bold]streamrec sql --log-dir {run.log_dir} "select arm, count(*) from '
        f'recommendations group by arm"[/]'
    )


@app.command()
def analyze(
    log_dir: LogDir = DEFAULT_LOG_DIR,
    salt: Salt = Experiment.salt,
    weights: Weights = "1,1,1,1,1",
    topic_prefix: TopicPrefix = "",
    verbose: Verbose = False,
) -> None:
    """Compare the arms from the Parquet log: sample-ratio check first, then every metric."""
    _configure_logging(verbose)
    _analyze(log_dir, _experiment(salt, weights), TOPICS.with_prefix(topic_prefix))


def _analyze(log_dir: Path, experiment: Experiment, topics: Topics = TOPICS) -> None:
    from analysis.render import print_report
    from analysis.views import connect

    _require_log(log_dir)
    print_report(connect(log_dir, topics), experiment, console)


def _require_log(log_dir: Path) -> None:
    if not log_dir.is_dir():
        raise typer.BadParameter(
            f"{log_dir} is not a folder; run 'streamrec sink' or 'streamrec demo' first"
        )


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the views events, recommendations, ...")],
    log_dir: LogDir = DEFAULT_LOG_DIR,
    topic_prefix: TopicPrefix = "",
) -> None:
    """Run a DuckDB query on the views of the Parquet log and print the result.

    Views: events, recommendations, slate_items, rec_requests, "references" (quoted: it is an
    SQL keyword), catalog, dead_letters, user_arm, and raw_<view> with duplicates kept.
    """
    import duckdb

    from analysis.report import run_sql

    _require_log(log_dir)
    if not query.strip():
        raise typer.BadParameter("the query is empty")
    try:
        columns, rows = run_sql(log_dir, query, TOPICS.with_prefix(topic_prefix))
    except duckdb.Error as error:
        console.print(f"[red]query failed:[/] {error}")
        raise typer.Exit(code=1) from error
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(value) for value in row))
    console.print(table)


BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def bench(
    context: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(help="Benchmark to run, e.g. models; all of them when omitted."),
    ] = None,
) -> None:
    """Run the benchmarks in bench/ (numbers and ratios measured side by side in one run).

    Arguments after the name go to the benchmark, e.g. 'streamrec bench models --events 50000'.
    """
    import runpy

    if not BENCH_DIR.is_dir():
        raise typer.BadParameter(f"{BENCH_DIR} is missing: benchmarks run from a source checkout")
    available = sorted(path.stem.removeprefix("bench_") for path in BENCH_DIR.glob("bench_*.py"))
    if name is not None and name not in available:
        raise typer.BadParameter(f"unknown benchmark {name!r}; choose from {', '.join(available)}")

    for chosen in [name] if name else available:
        console.rule(f"bench {chosen}")
        sys.argv = [f"bench_{chosen}.py", *context.args]
        runpy.run_path(str(BENCH_DIR / f"bench_{chosen}.py"), run_name="__main__")


@app.command()
def replay(
    dataset_dir: Annotated[Path, typer.Argument(help="Folder of the dataset's files.")],
    fmt: Annotated[str, typer.Option("--format", help="movielens, online-retail or retailrocket.")],
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    limit: Annotated[
        int | None, typer.Option(help="Replay only the first N interactions.", min=1)
    ] = None,
    window: Annotated[int, typer.Option(help="Interactions per round trip at most.")] = 1_000,
    lookahead: Annotated[
        int, typer.Option(help="How far a window may reach past a waiting interaction.")
    ] = 10_000,
    worker_web_port: Annotated[
        int | None,
        typer.Option(help="Wait for this worker's /arms/ view to catch up before each window."),
    ] = None,
    topic_prefix: TopicPrefix = "",
    verbose: Verbose = False,
) -> None:
    """Replay a real dataset through Kafka into the running worker, by the prequential protocol.

    For each window of interactions: publish new catalog items, ask each user's slate, read
    the slates back, then send the interactions with their request id, arm and position.
    Score the log afterwards with 'streamrec replay-score'.
    """
    from producers.replay import ReplaySettings, worker_view_progress
    from producers.replay import replay as replay_dataset

    _configure_logging(verbose)
    settings = ReplaySettings(window=window, lookahead=lookahead)
    probe = worker_view_progress(worker_web_port) if worker_web_port else None
    report = replay_dataset(
        dataset_dir,
        fmt,
        bootstrap,
        TOPICS.with_prefix(topic_prefix),
        limit=limit,
        settings=settings,
        worker_progress=probe,
    )
    console.print(report.description)
    console.print(
        f"replayed {len(report.outcomes):,} interactions in {report.n_windows:,} windows in "
        f"{report.wall_s:.0f} s; {report.requests_expired:,} requests expired, "
        f"{report.slates_foreign:,} foreign slates"
    )


@app.command("replay-score")
def replay_score(
    log_dir: LogDir = DEFAULT_LOG_DIR,
    topic_prefix: TopicPrefix = "",
    k: Annotated[int, typer.Option(help="Slate length the replay asked for.")] = 10,
) -> None:
    """Per-arm hit-rate@k and NDCG@k of the replayed interactions in the Parquet log."""
    from analysis.replay_metrics import render_replay_table, replay_metrics
    from analysis.views import connect

    if not log_dir.exists():
        raise typer.BadParameter(f"{log_dir} does not exist; run 'streamrec sink' first")
    metrics = replay_metrics(connect(log_dir, TOPICS.with_prefix(topic_prefix)), k)
    render_replay_table(metrics, console, title=f"dataset replay: {log_dir}", k=k)


#: Failures that say what went wrong in their message (no broker, a port in use, a missing
#: topic, a snapshot of another experiment); anything else is a bug, whose traceback is
#: printed as usual.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    BrokerStartError,
    SnapshotError,
    TopicMissing,
    WorkerFailed,
)


def main() -> None:
    """Run the command line; print an expected failure as one line and exit with status 1."""
    from kafka.errors import KafkaError

    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    try:
        app()
    except (*EXPECTED_FAILURES, KafkaError) as error:
        if verbose:
            raise
        message = str(error).strip() or type(error).__name__
        console.print(f"[red]error:[/] {message}", highlight=False)
        console.print("(run again with --verbose for the details)", style="dim")
        sys.exit(1)


if __name__ == "__main__":
    main()
