"""Entry point of the ``harness`` CLI: global options, plugin commands, one-line errors.

Bad input prints one line and exits 2; ``--debug`` shows the traceback. Nothing on this path
imports torch, transformers, deepspeed or lmms-eval.
"""
from __future__ import annotations

import errno
import os
import sys
import traceback

import click

import harness
from harness.errors import HarnessError
from harness.plugin_manager import first_line, get_plugins

EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("--home", type=click.Path(file_okay=False), envvar="HARNESS_HOME",
              help="Where runs, data and the results store live (env HARNESS_HOME; default ./harness_runs).")
@click.version_option(harness.__version__, prog_name="harness")
def cli(debug: bool, home: str | None) -> None:
    """Controlled LLM-backbone-swap studies of vision-language models, on lmms-eval.

    \b
      harness run task=vqa backbone=llama3                    one cell of the study
      harness run -m task=vqa backbone=llama1,llama2,llama3   the sweep
      harness leaderboard task=vqa                            the table
    """
    if home:
        os.environ["HARNESS_HOME"] = home


def build_cli() -> click.Group:
    """The CLI group with the core commands and every command plugins add."""
    from harness.cli import config_cmds, jobs_cmds, plugin_cmds, results_cmds, worker_cmds

    for module in (config_cmds, plugin_cmds, results_cmds, jobs_cmds, worker_cmds):
        for command in module.COMMANDS:
            cli.add_command(command)
    plugins = get_plugins()
    for impl in plugins.manager.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:
            from harness.plugin_manager import LoadError

            info = plugins.dist_of(impl.plugin_name)
            plugins.errors.append(LoadError(impl.plugin_name, info.dist if info else "?",
                                            info.version if info else "?", "register", first_line(exc)))
    return cli


def _report_plugin_errors(argv: list[str]) -> None:
    errors = get_plugins().errors
    if errors and "plugins" not in argv:
        names = ", ".join(f"{e.name} ({e.dist})" for e in errors)
        from harness.cli.output import warn

        warn(f"{len(errors)} plugin(s) failed to load: {names}; run `harness plugins` for details")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("HARNESS_DEBUG"))
    try:
        group = build_cli()
        _report_plugin_errors(argv)
        group.main(args=argv, prog_name="harness", standalone_mode=False)
    except HarnessError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.UsageError as exc:
        hint = " (see `harness --help`)" if exc.ctx is None or exc.ctx.command is cli else f" (see `harness {exc.ctx.command.name} --help`)"
        print(f"error: {' '.join(exc.format_message().split())}{hint}", file=sys.stderr)
        return EXIT_USAGE
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if debug:
            raise
        problem = filesystem_problem(exc)
        if problem is None:
            print(f"error: {first_line(exc)} (rerun with --debug for the traceback)", file=sys.stderr)
            return 1
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        print(f"error: {first_line(exc)} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0


# A path the user chose that cannot be written (or read) is bad input, not a bug.
FILESYSTEM_ERRNOS = {errno.EACCES: "permission denied", errno.EPERM: "not permitted", errno.ENOTDIR: "a parent is not a directory",
                     errno.EISDIR: "is a directory", errno.EEXIST: "already exists", errno.ENOSPC: "no space left on the device",
                     errno.EROFS: "read-only file system", errno.ENOENT: "no such file or directory"}


def filesystem_problem(exc: OSError) -> str | None:
    """One line for an OSError about a named path (with the fix), or None for any other OSError."""
    if exc.errno not in FILESYSTEM_ERRNOS or not exc.filename:
        return None
    fix = "free some space" if exc.errno == errno.ENOSPC else "pick another path, or fix the folder's permissions"
    return f"{exc.filename}: {FILESYSTEM_ERRNOS[exc.errno]}; {fix}"


if __name__ == "__main__":
    sys.exit(main())
