"""The main screen: the file tree and the highlighted file's details above, transfers
and the jobs table below."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DirectoryTree, Footer, Header, Tree
from textual.widgets._directory_tree import DirEntry

from app.client.address import ServerAddress
from app.tui.jobs import Step
from app.tui.probe_cache import ProbeCache
from app.tui.screens.dialogs import ConfirmScreen, FolderScreen, ServerScreen
from app.tui.screens.help import HelpScreen, Section
from app.tui.screens.job_report import JobReportScreen
from app.tui.screens.operation import OperationRequest, OperationScreen
from app.tui.widgets.file_browser import VideoTree
from app.tui.widgets.file_details import FileDetails
from app.tui.widgets.folder_input import display_path
from app.tui.widgets.jobs_table import JobsTable
from app.tui.widgets.transfers import TransferPanel

if TYPE_CHECKING:
    from app.tui.app import VcsTui

# Keys that are not in a BINDINGS list but a user needs to know.
BUILT_IN_KEYS: list[BindingType] = [
    Binding("tab,shift+tab", "", "Switch: file tree / jobs"),
    Binding("up,down", "", "Move the cursor"),
    Binding("enter", "", "Open folder / run op on file"),
    Binding("right", "", "Complete a folder name"),
    Binding("ctrl+p", "", "Command palette (all actions)"),
]


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "run_op", "Run op"),
        Binding("r", "refresh", "Refresh"),
        # Left out of the footer so it fits 80 columns; in the help and the palette.
        Binding("g", "go_to_folder", "Go to folder", show=False),
        Binding("s", "server", "Server address", show=False),
        Binding("question_mark,f1", "help", "Help"),
    ]

    def __init__(self, folder: Path, probes: ProbeCache | None = None) -> None:
        super().__init__()
        self._folder = folder
        self._probes = probes or ProbeCache()

    @property
    def vcs(self) -> VcsTui:
        return cast("VcsTui", self.app)

    @property
    def files(self) -> VideoTree:
        return self.query_one(VideoTree)

    @property
    def details(self) -> FileDetails:
        return self.query_one(FileDetails)

    @property
    def jobs(self) -> JobsTable:
        return self.query_one(JobsTable)

    @property
    def transfers(self) -> TransferPanel:
        return self.query_one(TransferPanel)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="browser"):
            yield VideoTree(self._folder, id="files")
            yield FileDetails(self._probes, id="details")
        yield TransferPanel(id="transfers")
        yield JobsTable(id="jobs")
        yield Footer()

    def on_mount(self) -> None:
        self.jobs.border_title = "Jobs"
        self.watch(self.files, "path", self._folder_changed)
        self._show_marks(0)
        for job in self.vcs.runner.jobs:  # changes before this screen was up
            self.jobs.show(job)
        self.files.focus()

    def _folder_changed(self, path: str | Path) -> None:
        folder = Path(path)
        self.files.border_title = display_path(folder)
        self.vcs.remember_folder(folder)

    def _show_marks(self, count: int) -> None:
        self.files.border_subtitle = f"{count} marked · o runs on them" if count else "space marks"

    def on_video_tree_marks_changed(self, event: VideoTree.MarksChanged) -> None:
        self._show_marks(len(event.marked))

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.action_run_op()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[DirEntry]) -> None:
        data = event.node.data
        self.details.show(Path(data.path) if data is not None else None)

    def on_video_tree_folder_changed(self, event: VideoTree.FolderChanged) -> None:
        # The highlighted file may be new, changed or gone.
        node = self.files.cursor_node
        self.details.show(Path(node.data.path) if node and node.data else None)

    # Actions (also in the command palette).

    def action_run_op(self) -> None:
        """Open the operation form for the marked files, or the highlighted one."""
        tree = self.files
        highlighted = tree.highlighted_file()
        paths = sorted(tree.marked) or ([highlighted] if highlighted else [])
        if not paths:
            self.notify("Highlight a file, or mark several with space.", severity="warning")
            return

        def submitted(request: OperationRequest | None) -> None:
            if request is not None:
                self.vcs.submit(paths, request)
                if tree.marked:
                    tree.clear_marks()
                self.jobs.focus()

        settings = self.vcs.settings
        form = OperationScreen(paths, settings.last_op, settings.op_defaults, self._probes)
        self.app.push_screen(form, submitted)

    def action_refresh(self) -> None:
        self.vcs.refresh_jobs()
        self.notify("Refreshing jobs…", timeout=2)

    def action_job_report(self) -> None:
        """The selected job's full report."""
        job = self.jobs.selected_job()
        if job is None:
            self.notify("Select a job in the jobs table.", severity="warning")
            return
        self.app.push_screen(JobReportScreen(job))

    def action_download(self) -> None:
        job = self.jobs.selected_job()
        if job is None or job.step is not Step.DONE:
            self.notify("Select a job that is done (in the jobs table).", severity="warning")
            return
        start = self.vcs.download_folder(job)

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.vcs.download(job, folder)

        self.app.push_screen(FolderScreen("Download to folder", start, writable=True), chosen)

    def action_cancel_job(self) -> None:
        job = self.jobs.selected_job()
        if job is None or job.step.final:
            self.notify("Select a job that is still going.", severity="warning")
            return
        if job.step is not Step.DONE:
            self.vcs.cancel(job)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.vcs.cancel(job)

        question = f"Discard the result of {job.op} on {job.path.name} from the server?"
        self.app.push_screen(ConfirmScreen(question), confirmed)

    def action_go_to_folder(self) -> None:
        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.files.path = folder
                self.files.focus()

        dialog = FolderScreen("Go to folder", self.files.folder, writable=False)
        self.app.push_screen(dialog, chosen)

    def action_server(self) -> None:
        def chosen(address: ServerAddress | None) -> None:
            if address is not None:
                self.vcs.set_server(address)

        self.app.push_screen(ServerScreen(self.vcs.address), chosen)

    def action_help(self) -> None:
        sections: list[Section] = [
            ("anywhere", [*self.app.BINDINGS, *self.BINDINGS, *BUILT_IN_KEYS]),
            ("file tree", VideoTree.BINDINGS),
            ("jobs table", JobsTable.BINDINGS),
            ("op form", OperationScreen.BINDINGS),
            ("job report", JobReportScreen.BINDINGS),
        ]
        self.app.push_screen(HelpScreen(sections))
