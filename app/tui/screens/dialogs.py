"""Small dialogs: pick a folder, set the server address, confirm a discard."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from app.client.address import ServerAddress
from app.tui.widgets.folder_input import FolderInput, folder_problem, typed_path


class FolderScreen(ModalScreen[Path | None]):
    """Type a folder (→ completes); enter accepts it once it exists."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, start: Path, *, writable: bool) -> None:
        super().__init__()
        self._title, self._start, self._writable = title, start, writable

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield FolderInput(self._start, id="folder-input")
            yield Label("", id="folder-error", classes="field-error")
            yield Label("→ complete · enter accept · esc cancel", classes="dialog-keys")

    def on_input_changed(self, event: Input.Changed) -> None:
        problem = folder_problem(typed_path(event.value), self._writable)
        self.query_one("#folder-error", Label).update(problem or "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = typed_path(event.value)
        if folder_problem(path, self._writable) is None:
            self.dismiss(path.resolve())
        else:
            self.app.bell()


class ServerScreen(ModalScreen[ServerAddress | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, current: ServerAddress) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("vcs-serve address (HOST:PORT)", classes="dialog-title")
            yield Input(str(self._current), id="server-input")
            yield Label("", id="server-error", classes="field-error")
            yield Label("enter accept · esc cancel", classes="dialog-keys")

    def on_input_changed(self, event: Input.Changed) -> None:
        try:
            ServerAddress.parse(event.value)
        except ValueError as exc:
            self.query_one("#server-error", Label).update(str(exc))
        else:
            self.query_one("#server-error", Label).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(ServerAddress.parse(event.value))
        except ValueError:
            self.app.bell()


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "dismiss(True)", "Yes"),
        Binding("n,escape", "dismiss(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._question, classes="dialog-title")
            yield Label("y yes · n no", classes="dialog-keys")
