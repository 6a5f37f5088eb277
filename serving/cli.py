"""The root `meterwise` command: mounts each package's CLI (features, training), adds `serve`, and turns every
error into one or two lines.

- Each package declares its commands in one place (:mod:`features.cli`, :mod:`training.cli`); this module mounts
  them and holds the commands of the serving package (``serve``).
- :class:`MeterwiseGroup` is the one error handler: a bad option, a named meterwise error, a bad value or an
  unexpected exception prints ``error: <what was wrong>`` and ``hint: <what to do>`` on stderr with a non-zero
  exit code (2 for usage and data errors, 1 for unexpected ones); ``meterwise -v ...`` shows the traceback.
- Logging is configured here once; third-party loggers and Python warnings (MLflow, LightGBM, numpy's
  ``Mean of empty slice`` ...) stay quiet unless ``-v``. Plots are drawn with matplotlib's Agg backend
  unless ``MPLBACKEND`` says otherwise (plot modules choose none themselves).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from features.cli import data_app, features_app
from features.errors import (
    ContractViolation,
    MeterwiseError,
    ModelNotReady,
    ModelRejected,
    SnapshotNotFound,
    UnknownCustomer,
    UnknownSeries,
)
from training import cli as training_cli

#: what to do about each error type (the most specific class in the error's MRO wins; an error's own
#: ``hint`` attribute wins over all)
HINTS: dict[type[BaseException], str] = {
    ContractViolation: "fix these rows in the export, or set them aside with `meterwise data validate --quarantine`",
    ModelNotReady: "train it first (`meterwise train <kind>` or `meterwise demo`), or check --tenant",
    ModelRejected: "the current champion keeps serving; check the new version's training run",
    SnapshotNotFound: "build one with `meterwise features build --as-of YYYY-MM-DD`",
    UnknownSeries: "choose a --level and --key from the available ones listed",
    UnknownCustomer: "check the customer ids against the tenant's customers table",
    MeterwiseError: "check the command's inputs",
    FileNotFoundError: "check the path (and --data-dir / --tenant)",
    PermissionError: "check the file permissions, or write somewhere else (--out)",
    ValueError: "check the values given",
}
#: third-party loggers held at WARNING (ERROR for the chattiest) unless -v
QUIET_LOGGERS = {
    "alembic": logging.WARNING,
    "urllib3": logging.WARNING,
    "distributed": logging.WARNING,
    "numexpr": logging.WARNING,
    "matplotlib": logging.WARNING,
    "PIL": logging.WARNING,
    "mlflow": logging.ERROR,  # pickle / signature / schema advice meant for MLflow users, not for ours
    "lightgbm": logging.ERROR,
    "py.warnings": logging.ERROR,  # Python warnings (captured below)
}
#: typer's click (vendored in recent typer): its usage error and the "no arguments: show help" signal
_CLICK_ERRORS = sys.modules[typer.BadParameter.__module__]
UsageError: type[Exception] = _CLICK_ERRORS.UsageError
NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(filter(None, [getattr(_CLICK_ERRORS, "NoArgsIsHelpError", None)]))
MAX_MESSAGE = 600  # characters of an error message shown (the rest is in the -v traceback)


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def hint_for(err: BaseException) -> str | None:
    """What to do about `err`: its own ``hint``, else the :data:`HINTS` entry of its closest class."""
    own = getattr(err, "hint", None)
    if isinstance(own, str) and own:
        return own
    return next((HINTS[cls] for cls in type(err).__mro__ if cls in HINTS), None)


def describe(err: BaseException, command: str) -> tuple[str, int]:
    """The (at most two) lines shown for `err` raised by `command`, and the exit code."""
    if isinstance(err, UsageError):
        ctx = getattr(err, "ctx", None)  # the (sub)command whose options were wrong; named as typed
        ctx_path = " ".join(["meterwise", *ctx.command_path.split()[1:]]) if ctx is not None else command
        return f"error: {_one_line(err.format_message())}\nhint: see `{ctx_path} --help`", err.exit_code
    if isinstance(err, KeyError) and not isinstance(err, MeterwiseError):  # a KeyError's str() is a bare repr
        message, known = f"{type(err).__name__}: {err}", False
    else:
        known = isinstance(err, MeterwiseError | ValueError | OSError)
        message = str(err) if known and str(err) else f"{type(err).__name__}: {err}"
    rerun = f"re-run as `meterwise -v {command.removeprefix('meterwise').strip()} ...` for the traceback"
    if not known:
        return f"unexpected error: {_one_line(message)}\nhint: {rerun}", 1
    hint = hint_for(err)
    if isinstance(err, ValueError) and not isinstance(err, MeterwiseError):  # a bad option value, most often
        hint = f"{hint}: see `{command} --help`"
    return f"error: {_one_line(message)}\nhint: {hint}; -v shows the traceback", 2


class MeterwiseGroup(TyperGroup):
    """The root group: runs a command and reports any error it raises in one or two lines (see :func:`describe`)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        ctx.meta["meterwise.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, *NO_ARGS_IS_HELP):
            raise
        except Exception as err:
            if ctx.params.get("verbose"):
                if isinstance(err, UsageError) and isinstance(err.__cause__, Exception):
                    raise err.__cause__ from None  # a command made it a usage error: show where it came from
                raise
            text, code = describe(err, self._command_path(ctx))
            typer.echo(text, err=True)
            raise typer.Exit(code) from None

    def _command_path(self, ctx: typer.Context) -> str:
        """`meterwise forecast`: the root's name and the subcommand names typed after it."""
        path, command = ["meterwise"], self
        for token in ctx.meta.get("meterwise.argv", []):
            sub = getattr(command, "commands", {}).get(token)
            if sub is None:
                if token.startswith("-"):
                    continue  # a root option such as -v
                break
            path.append(token)
            command = sub
        return " ".join(path)


app = typer.Typer(
    cls=MeterwiseGroup,
    help=(
        "meterwise: usage profiles, arrears risk, customer segments and load forecasts for an electricity "
        "supplier.\n\nStart with `meterwise demo` (validate → features → train → registry → predictions on the "
        "embedded demo tenant), then `meterwise serve`.\n\nEvery tenant command takes --tenant NAME (or "
        "METERWISE_TENANT; default demo): its folders, registered models and API are that tenant's only. "
        "Commands with --as-of default to the last day with a meter reading or an issued bill in the tenant's data."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
training_cli.mount(app)


@app.command("serve")
def serve_cmd(
    host: str = typer.Option(None, help="bind address (default: METERWISE_HOST or 127.0.0.1)"),
    port: int = typer.Option(None, help="bind port (default: METERWISE_PORT or 8000)"),
    no_registry: bool = typer.Option(False, "--no-registry", help="serve models/<kind>/model.joblib bundles only"),
    tenant: str = typer.Option(
        None,
        help="tenant served: its champions meterwise-<tenant>-<kind>, snapshots and models/<tenant>/ "
        "(default: METERWISE_TENANT or demo)",
    ),
) -> None:
    """Start the prediction API for one tenant (its champion of each kind from the MLflow registry, else models/)."""
    from features.settings import settings_error
    from serving import server
    from serving.settings import ServingSettings

    overrides = {"host": host, "port": port, "tenant": tenant}
    try:
        settings = ServingSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as err:
        raise typer.BadParameter(settings_error(err)) from None
    if no_registry:
        settings = settings.model_copy(update={"use_registry": False})
    server.run_server(settings)


def configure_logging(verbose: bool) -> None:
    """Logging once, at the edge: our INFO (or METERWISE_LOG_LEVEL) on stderr; third parties quiet unless -v."""
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("METERWISE_LOG_LEVEL", "INFO").upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.captureWarnings(True)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level if verbose else max(level, quiet))
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # stdout carries our output only
    if not verbose:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our own bar shows the step
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow configures its logger when imported
    os.environ.setdefault("MPLBACKEND", "Agg")  # commands only write PNGs; read when matplotlib picks a backend


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging, third-party warnings, tracebacks"),
) -> None:
    """Configure logging once, at the edge."""
    configure_logging(verbose)
