"""`vcs OP FILE... [--recursive DIR]`: the files one after another (the server runs one job
per client address, docs/operations.md), past any that fail, with a summary at the end.

A file's own trouble (refused, the job failed, a corrupt download, an unreadable input)
is a failed row and the batch goes on. A server that cannot be reached or trusted stops
it: every later file would fail the same way. Ctrl-C stops it cleanly (app/cli/
interruption.py): the current file's upload is dropped (the server keeps nothing), its
job cancelled, its partial download deleted; what finished is summed up.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from app.cli.batch_display import BatchBars, print_finished, print_summary
from app.cli.batch_inputs import BatchPlan, BatchUsageError, plan_batch
from app.cli.batch_outcome import (
    FileOutcome,
    Result,
    failed_outcome,
    finished_outcome,
    interrupted_outcome,
    not_run_outcome,
)
from app.cli.display import Bars, console, shown
from app.cli.exit_codes import EXIT_JOB_FAILED, EXIT_OK, EXIT_USAGE, exit_for_unusable_server
from app.cli.interruption import until_interrupted
from app.cli.op_run import FileRun, RunOptions, run_op
from app.client.api import VcsClient
from app.client.errors import ConnectionFailed, ServerError, TransferCorrupted
from app.protocol import ErrorCode, ErrorInfo, VcsError
from app.wire.key_files import KeyFileError


@dataclass
class _Progress:
    """What the batch has done so far; read after an interruption too."""

    outcomes: list[FileOutcome] = field(default_factory=list)
    current: FileRun | None = None
    current_size: int = 0
    # The error that made the batch stop early (the server unreachable or untrusted).
    stopped_by: VcsError | None = None


def local_error(exc: OSError, what: str) -> ErrorInfo:
    where = f" {exc.filename}" if exc.filename else ""
    return ErrorInfo(
        ErrorCode.INTERNAL,
        f"Cannot use{where}: {exc.strerror or exc}.",
        f"Check that {what} exists, that you may read it and that the result's folder is "
        "writable, with enough free space.",
    )


async def run_batch_command(client: VcsClient, args: argparse.Namespace, show: bool) -> int:
    """`vcs OP` with several FILEs or --recursive: plan, say what is left out, run."""
    try:
        plan = plan_batch(
            args.files, args.recursive, args.output, include_results=args.include_results
        )
    except BatchUsageError as problem:
        console.print(f"[bold red]error[/]: {shown(problem)}")
        return EXIT_USAGE
    for folder in plan.unreadable_folders:
        console.print(f"[yellow]warning[/]: cannot list {shown(folder)}; its files are left out")
    if plan.skipped_results:
        names = ", ".join(p.name for p in plan.skipped_results[:3])
        more = ", ..." if len(plan.skipped_results) > 3 else ""
        console.print(
            f"skipping {len(plan.skipped_results)} result(s) of earlier runs "
            f"({shown(names + more)}); --include-results runs them too"
        )
    if not plan.inputs:
        console.print("no video files to run on")
        return EXIT_OK
    opts = RunOptions(args.poll_interval, True, None, Bars(show), args.force, announce=False)
    return await run_batch(client, args.command, plan, args.params, opts, json_lines=args.json)


async def run_batch(
    client: VcsClient,
    op: str,
    plan: BatchPlan,
    params: dict[str, Any],
    opts: RunOptions,
    *,
    json_lines: bool,
) -> int:
    """Run every input of `plan`; the exit code (0 all done, 1 any not, 4/5 the server
    became unusable, 130/143 interrupted)."""
    started = time.monotonic()
    bars = BatchBars(len(plan.inputs), plan.total_bytes, opts.bars.enabled)
    done = _Progress()

    def record(outcome: FileOutcome) -> None:
        done.outcomes.append(outcome)
        if json_lines:
            print(json.dumps(outcome.to_json()), flush=True)
        else:
            print_finished(outcome)
        bars.finish_file(outcome.input_size)

    with bars:
        ended = await until_interrupted(
            lambda: _run_files(
                client, op, plan, params, replace(opts, bars=bars), bars, done, record
            )
        )
        if ended.signal is not None and done.current is not None:
            record(interrupted_outcome(done.current, done.current_size))
        for item in plan.inputs[len(done.outcomes) :]:
            record(not_run_outcome(item.path, item.size_bytes))
    if not json_lines:
        print_summary(done.outcomes, time.monotonic() - started)
    if ended.exit_code is not None:
        return ended.exit_code
    if done.stopped_by is not None:
        console.print("the batch stopped early: the server cannot be used (see the error above)")
        return exit_for_unusable_server(done.stopped_by)
    return EXIT_OK if all(o.result is Result.DONE for o in done.outcomes) else EXIT_JOB_FAILED


async def _run_files(
    client: VcsClient,
    op: str,
    plan: BatchPlan,
    params: dict[str, Any],
    opts: RunOptions,
    bars: BatchBars,
    done: _Progress,
    record: Callable[[FileOutcome], None],
) -> None:
    for number, item in enumerate(plan.inputs, 1):
        run = done.current = FileRun(item.path)
        done.current_size = item.size_bytes
        bars.start_file(number, shown(item.path.name))
        folder = item.result_folder
        file_opts = replace(opts, output=folder, output_is_folder=folder is not None)
        try:
            await run_op(client, op, run, params, file_opts)
        except (ConnectionFailed, KeyFileError) as exc:
            done.current = None
            record(failed_outcome(run, done.current_size, exc.info))
            done.stopped_by = exc
            return
        except (ServerError, TransferCorrupted) as exc:
            outcome = failed_outcome(run, done.current_size, exc.info)
        except OSError as exc:
            outcome = failed_outcome(run, done.current_size, local_error(exc, "the file"))
        else:
            outcome = finished_outcome(run, done.current_size)
        done.current = None
        record(outcome)
