"""The command line. Usage and configuration errors: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from console import __version__

EPILOG = """exit codes: 0 success or promoted, 1 rolled back / aborted / verification failed,
2 usage or configuration error.
The ops API token comes from CANARY_OPS_TOKEN or --token-file (mode 0600 only)."""


class UsageError(Exception):
    """A bad command line or configuration: one line, exit 2."""


class Parser(argparse.ArgumentParser):
    """Usage errors in one line (the usage block is for --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"canary-console: error: {message} (see: {self.prog} --help)\n")


def default_db() -> Path:
    from platformdirs import user_data_path

    return user_data_path("canary-console") / "sessions.db"


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _rollout_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", type=Path, help="plan file (TOML); default: the built-in checklist plan")
    p.add_argument("--headless", action="store_true", help="no screen: one line per event on stdout")
    p.add_argument("--auto-promote", action="store_true", help="promote as soon as a bake is served and SLOs are green")
    p.add_argument("--readonly", action="store_true", help="watch only: no promote, rollback, attest or waive")
    p.add_argument("--new", action="store_true", help="abort the deployment's open session and start a new one")
    p.add_argument(
        "--idle-lock",
        type=_minutes,
        default=15.0,
        metavar="MIN",
        help="lock the controls after MIN idle minutes (0: never)",
    )
    p.add_argument("--take-over", metavar="ID", help="take over session ID whose driver stopped heartbeating")
    p.add_argument("--attest", action="append", default=[], metavar="ITEM[=NOTE]", help="attest a manual item")
    p.add_argument("--attest-all", metavar="NOTE", help="attest every manual item with this note")
    p.add_argument("--no-notify", action="store_true", help="send no notifications to the plan's channels")
    p.set_defaults(resume_id=None)


def build_parser() -> argparse.ArgumentParser:
    db_help = "session store (default: sessions.db in the user data dir)"
    # --db is accepted before or after the command; SUPPRESS keeps a subcommand's
    # absent --db from overwriting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=argparse.SUPPRESS, help=db_help)

    parser = Parser(
        prog="canary-console",
        description="Take a release from 0% to 100% of traffic as a canary, safely.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", type=Path, default=None, help=db_help)
    parser.add_argument("--version", action="version", version=f"canary-console {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", parents=[common], help="run a rollout against the embedded simulator (no setup)")
    from console.scenarios import SCENARIOS

    demo.add_argument("--scenario", default="healthy", help=f"one of: {', '.join(SCENARIOS)} (default healthy)")
    demo.add_argument("--speed", type=_speed, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    demo.add_argument(
        "--fail-check", action="append", default=[], metavar="TARGET", help="make this simulated health check fail"
    )
    _rollout_options(demo)

    run = sub.add_parser("run", parents=[common], help="run a rollout against a real ops API and Prometheus")
    run.add_argument("--ops-url", required=True, help="base URL of the internal ops API")
    run.add_argument("--prometheus-url", required=True, help="base URL of Prometheus")
    run.add_argument("--token-file", type=Path, help="file holding the ops API token (mode 0600)")
    _rollout_options(run)

    sim = sub.add_parser("sim", help="serve the simulated ops API and /metrics over HTTP")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    sim.add_argument("--scenario", default="healthy", help=f"one of: {', '.join(SCENARIOS)}")
    sim.add_argument("--speed", type=_speed, default=1.0, help="simulated seconds per real second (default 1)")
    sim.add_argument("--seed", type=int, default=0, help="simulator seed")
    sim.add_argument("--token-file", type=Path, help="require this bearer token (file mode 0600)")
    sim.add_argument("--call-log", type=Path, help="append every ops call as a JSON line to this file")
    sim.add_argument("--viewer-token-file", type=Path, help="also accept this token, for a user with role viewer only")
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="misbehave on purpose, e.g. fail_next_rollback=3, timeout_after_apply=promote (repeatable)",
    )

    resume = sub.add_parser("resume", parents=[common], help="resume an open session after a crash (same command line)")
    resume.add_argument("id", nargs="?", help="session id or unique prefix (default: the newest open session)")
    resume.add_argument("--headless", action="store_true", help="no screen: one line per event on stdout")
    resume.add_argument("--take-over", action="store_true", help="take it over if its driver stopped heartbeating")

    attach = sub.add_parser(
        "attach", parents=[common], help="open a live session from any terminal (admins get control)"
    )
    attach.add_argument("id", nargs="?", help="session id or unique prefix (default: the newest open session)")
    attach.add_argument("--readonly", action="store_true", help="watch only")
    attach.add_argument(
        "--idle-lock",
        type=_minutes,
        default=15.0,
        metavar="MIN",
        help="lock the controls after MIN idle minutes (0: never)",
    )

    sessions = sub.add_parser("sessions", parents=[common], help="list past and open sessions, or prune old ones")
    sessions.add_argument("action", nargs="?", choices=("prune",), help="prune: delete finished sessions (keeps heads)")
    sessions.add_argument("--json", action="store_true", help="JSON output")
    sessions.add_argument("--tui", action="store_true", help="a screen listing them; enter opens the replay")
    sessions.add_argument("--outcome", choices=("succeeded", "rolled_back", "aborted", "open"), help="only these")
    sessions.add_argument("--since", metavar="AGE|DATE", help="started within 7d, 24h, 90m or since a UTC date")
    sessions.add_argument("--older-than", metavar="AGE", help="prune: sessions that ended more than 90d, 12h, 30m ago")
    sessions.add_argument("--dry-run", action="store_true", help="prune: only print what would be pruned")

    audit = sub.add_parser("audit", parents=[common], help="audit the session log")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_sub.add_parser("verify", parents=[common], help="check the hash chain; exit 1 naming the bad row")
    verify.add_argument("id", nargs="?", help="session id or unique prefix (default: all sessions)")

    replay = sub.add_parser("replay", parents=[common], help="replay a recorded session in the TUI (read-only)")
    replay.add_argument("id", help="session id or unique prefix")
    replay.add_argument("--speed", type=_speed, default=60.0, help="session seconds per real second (default 60)")
    replay.add_argument("--plan", type=Path, help="plan file, when the session's plan is not the built-in one")

    export = sub.add_parser("export", parents=[common], help="the post-deployment record of a session")
    export.add_argument("id", help="session id or unique prefix")
    export.add_argument("--format", choices=("md", "json"), default="md", help="Markdown (default) or JSON")
    export.add_argument("--plan", type=Path, help="plan file, when the session's plan is not the built-in one")
    export.add_argument("--output", type=Path, help="write to this file (mode 0600) instead of stdout")

    backtest = sub.add_parser("backtest", parents=[common], help="what another plan would have decided")
    backtest.add_argument("id", help="session id or unique prefix")
    backtest.add_argument("--plan", type=Path, required=True, help="the other plan file (TOML)")
    backtest.add_argument("--json", action="store_true", help="the differences as a JSON list")

    plan = sub.add_parser("plan", help="show every item of the plan and how the console handles it")
    plan.add_argument("--plan", type=Path, help="plan file (TOML); default: the built-in checklist plan")
    plan.add_argument("--json", action="store_true", help="JSON output")
    return parser


def setup_logging() -> None:
    """Log to a file under the user state dir, never to the terminal (the screen owns it)."""
    import logging

    from platformdirs import user_log_path

    try:
        path = user_log_path("canary-console")
        path.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path / "console.log", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("demo", "run", "sim", "resume"):
        setup_logging()
    from console import commands
    from console.ops_models import OpsError
    from console.plan import PlanError
    from sessions.errors import StoreError

    try:
        return commands.dispatch(args)
    except (UsageError, PlanError, StoreError, OpsError) as exc:
        print(f"canary-console: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("canary-console: interrupted; the session stays open in the store", file=sys.stderr)
        return 130
