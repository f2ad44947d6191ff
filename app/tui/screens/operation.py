"""The operation form: pick an op, fill its parameters, see what is wrong as you type.

Fields and rules come from the op table (`app.protocol.ops`, through `app.tui.op_form`):
a field with few values is a select, any other a text input checked as the server
checks it; ranges are fitted to the clips' probed duration. Nothing is sent until
every field is valid.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select

from app.protocol.ops import UPLOAD_OPS, Field
from app.tui.local_probe import LocalMedia, probe_local
from app.tui.op_form import Validated, hint, is_select, validate


@dataclass(frozen=True, slots=True)
class OperationRequest:
    op: str
    params: dict[str, Any]
    # The texts as typed, remembered as this op's defaults for next time.
    raw: dict[str, str]


def _widget(spec: Field, value: str) -> Widget:
    if is_select(spec):
        default = spec.default_shown
        return Select(
            [(choice, choice) for choice in spec.choices],
            value=value if value in spec.choices else Select.NULL,
            allow_blank=not spec.required,
            prompt=f"({default})" if default else "(choose)",
            compact=True,
            id=f"param-{spec.name}",
        )
    # Always text: times (00:01:02.5) and ratios (2.39:1) are typed with ':' in them,
    # and the table's check, not the widget, decides what is a number.
    return Input(
        value,
        placeholder="required" if spec.required else "optional",
        compact=True,
        id=f"param-{spec.name}",
    )


class ParamRow(Horizontal):
    def __init__(self, spec: Field, value: str) -> None:
        super().__init__(classes="param-row", id=f"row-{spec.name}")
        self.spec, self._value = spec, value

    def compose(self) -> ComposeResult:
        yield Label(self.spec.label, classes="param-label")
        yield _widget(self.spec, self._value)
        yield Label(hint(self.spec), classes="param-hint")

    def raw(self) -> str:
        widget = self.query_one(f"#param-{self.spec.name}")
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        assert isinstance(widget, Input)
        return widget.value

    def show_error(self, error: str | None) -> None:
        self.set_class(error is not None, "-invalid")
        self.query_one(".param-hint", Label).update(error or hint(self.spec))


def describe_files(paths: list[Path], probes: list[LocalMedia | None] | None) -> str:
    if len(paths) == 1:
        head = paths[0].name
    else:
        head = f"{len(paths)} files: " + ", ".join(p.name for p in paths[:2])
        head += ", …" if len(paths) > 2 else ""
    if probes is None:
        return f"{head} — probing…"
    known = [m for m in probes if m is not None]
    if not known:
        return f"{head} — not readable here; the server will check"
    if len(paths) == 1:
        return f"{head} — {known[0].describe()}"
    durations = [m.duration_s for m in known if m.duration_s is not None]
    return f"{head} — shortest {min(durations):.1f} s" if durations else head


class OperationScreen(ModalScreen[OperationRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Start"),
        Binding("escape", "dismiss(None)", "Cancel"),
    ]

    def __init__(
        self, paths: list[Path], last_op: str | None, op_defaults: dict[str, dict[str, str]]
    ) -> None:
        super().__init__()
        self.paths = paths
        self.op = last_op if last_op in UPLOAD_OPS else "compress"
        self._defaults = op_defaults
        self.probes: list[LocalMedia | None] | None = None

    @property
    def duration_s(self) -> float | None:
        """The shortest probed duration: a range must fit every selected clip."""
        durations = [m.duration_s for m in self.probes or [] if m and m.duration_s]
        return min(durations) if durations else None

    @property
    def frame_s(self) -> float:
        """The shortest frame of the selected clips: how far past its end a range may
        reach and be clamped (as the server does)."""
        rates = [m.fps for m in self.probes or [] if m and m.fps > 0]
        return 1 / max(rates) if rates else 0.0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="op-dialog"):
            yield Label("Run an operation", classes="dialog-title")
            yield Label(describe_files(self.paths, None), id="op-files")
            with Horizontal(classes="param-row", id="row-op"):
                yield Label("operation", classes="param-label")
                yield Select(
                    [(name, name) for name in UPLOAD_OPS],
                    value=self.op,
                    allow_blank=False,
                    compact=True,
                    id="op-select",
                )
            yield Label(UPLOAD_OPS[self.op].summary, id="op-summary")
            yield Vertical(id="op-params")
            yield Label("", id="op-error", classes="field-error")
            with Horizontal(id="op-buttons"):
                yield Button("Start", variant="primary", compact=True, id="op-start")
                yield Button("Cancel", compact=True, id="op-cancel")
                yield Label("ctrl+s start · esc cancel", classes="dialog-keys")

    async def on_mount(self) -> None:
        await self._show_params()
        self.run_worker(self._probe(), exclusive=True)

    async def _probe(self) -> None:
        self.probes = await asyncio.to_thread(lambda: [probe_local(p) for p in self.paths])
        self.query_one("#op-files", Label).update(describe_files(self.paths, self.probes))
        self.check()

    async def _show_params(self) -> None:
        box = self.query_one("#op-params", Vertical)
        await box.remove_children()
        values = self._defaults.get(self.op, {})
        specs = UPLOAD_OPS[self.op].fields
        await box.mount_all(ParamRow(spec, values.get(spec.name, "")) for spec in specs)
        self.query_one("#op-summary", Label).update(UPLOAD_OPS[self.op].summary)
        self.check()

    def raw(self) -> dict[str, str]:
        return {row.spec.name: row.raw() for row in self.query(ParamRow)}

    def check(self) -> Validated:
        """Validate the whole form and show each field's problem next to it."""
        result = validate(self.op, self.raw(), self.duration_s, self.frame_s)
        for row in self.query(ParamRow):
            row.show_error(result.errors.get(row.spec.name))
        self.query_one("#op-error", Label).update(result.errors.get("", ""))
        return result

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "op-select" and event.value != self.op:
            self.op = str(event.value)
            await self._show_params()
        else:
            self.check()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "op-start":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        result = self.check()
        if result.ok:
            self.dismiss(OperationRequest(self.op, result.params, self.raw()))
            return
        problems = "; ".join(f"{k or 'form'}: {v}" for k, v in result.errors.items())
        if result.first is not None:
            problems += f"\n→ {result.first.solution}"
        self.notify(problems, title="Fix the form first", severity="error", markup=False)
        first = next((row for row in self.query(ParamRow) if row.has_class("-invalid")), None)
        if first is not None:
            first.query_one(f"#param-{first.spec.name}").focus()
