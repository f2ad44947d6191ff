"""The help screen: every key, read from the bindings themselves so it cannot go stale."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

INTRO = (
    "Pick videos in the file tree (space marks several), press o to choose an operation, "
    "watch the job in the table below, press d on a finished job to download it."
)

Section = tuple[str, Iterable[BindingType]]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss(None)", "Close help"),
    ]

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help-dialog"):
            yield Label("vcs tui — keys", classes="dialog-title")
            yield Label(INTRO, id="help-intro")
            yield DataTable[str](id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Label("esc close", classes="dialog-keys")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("Where", "Key", "Does")
        for where, bindings in self._sections:
            for binding in bindings:
                if isinstance(binding, Binding) and binding.description:
                    keys = " / ".join(
                        self.app.get_key_display(Binding(key, binding.action))
                        for key in binding.key.split(",")
                    )
                    table.add_row(where, keys, binding.description)
        table.focus()
