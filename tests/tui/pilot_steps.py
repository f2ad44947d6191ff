"""What a user does in the TUI, as Pilot steps (keys, not widget calls, where it counts)."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input, Select

from app.protocol.ops import UPLOAD_OPS
from app.tui.app import VcsTui
from app.tui.jobs import Step, TrackedJob
from app.tui.screens.operation import OperationScreen


async def wait_until(
    pilot: Pilot[None], done: Callable[[], bool], what: str, timeout_s: float = 60
) -> None:
    """Let the app (and trio inside it) run until `done()`; bounded in time."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def app_of(pilot: Pilot[None]) -> VcsTui:
    assert isinstance(pilot.app, VcsTui)
    return pilot.app


async def open_form(pilot: Pilot[None], file_name: str) -> OperationScreen:
    """Move the tree's cursor to `file_name`, press enter, wait for the probe."""
    app = app_of(pilot)
    tree = app.main.files
    await wait_until(pilot, lambda: len(tree.root.children) > 0, "the folder listing")
    for _ in range(len(tree.root.children) + 1):
        highlighted = tree.highlighted_file()
        if highlighted is not None and highlighted.name == file_name:
            break
        await pilot.press("down")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, OperationScreen), "the form")
    form = app.screen
    assert isinstance(form, OperationScreen)
    await wait_until(pilot, lambda: form.probes is not None, "the local probe")
    return form


async def choose_op(pilot: Pilot[None], form: OperationScreen, op: str) -> None:
    names = list(UPLOAD_OPS)
    steps = names.index(op) - names.index(form.op)
    form.query_one("#op-select", Select).focus()
    await pilot.press("enter", *(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    first_field = f"#row-{UPLOAD_OPS[op].fields[0].name}"
    await wait_until(pilot, lambda: form.op == op and bool(form.query(first_field)), op)


async def fill(pilot: Pilot[None], form: OperationScreen, field: str, text: str) -> None:
    form.query_one(f"#param-{field}", Input).focus()
    await pilot.press("ctrl+a", "ctrl+k", *text)


async def gif_form(pilot: Pilot[None], start: str, end: str) -> OperationScreen:
    """The form for clip.mp4 with gif chosen and a range typed in."""
    form = await open_form(pilot, "clip.mp4")
    await choose_op(pilot, form, "gif")
    await fill(pilot, form, "start", start)
    await fill(pilot, form, "end", end)
    return form


def only_job(pilot: Pilot[None]) -> TrackedJob:
    jobs = app_of(pilot).runner.jobs
    assert len(jobs) == 1, jobs
    return jobs[0]


async def wait_for_step(pilot: Pilot[None], job: TrackedJob, *steps: Step) -> None:
    await wait_until(pilot, lambda: job.step in steps, f"{job.op} to reach {steps}")


def notifications(pilot: Pilot[None]) -> list[str]:
    return [f"{n.title}\n{n.message}" for n in pilot.app._notifications]
