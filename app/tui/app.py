"""The Textual app: wires the main screen to the trio job runner and the settings."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Final

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen

from app.client.address import SERVER_ENV, ServerAddress
from app.client.api import VcsClient
from app.client.workflow import DEFAULT_POLL_INTERVAL_S
from app.protocol import ErrorCode, ErrorInfo
from app.tui.job_runner import JobRunner
from app.tui.jobs import TrackedJob
from app.tui.screens.main import MainScreen
from app.tui.screens.operation import OperationRequest
from app.tui.settings import TuiSettings, settings_path
from app.tui.trio_guest import TrioGuest

ERROR_TIMEOUT_S: Final = 15.0


class JobChanged(Message):
    """A job's state or progress moved; only the latest per job matters."""

    def __init__(self, job: TrackedJob) -> None:
        super().__init__()
        self.job = job

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobChanged) and message.job is self.job


def pick_server(flag: ServerAddress | None, remembered: str | None) -> ServerAddress:
    """--server, else $VCS_SERVER, else the last server used, else 127.0.0.1:9000."""
    if flag is not None:
        return flag
    if remembered and not os.environ.get(SERVER_ENV):
        try:
            return ServerAddress.parse(remembered)
        except ValueError:
            pass
    return ServerAddress.default()


class VcsTui(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "vcs"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

    def __init__(
        self,
        server: ServerAddress | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        *,
        settings_file: Path | None = None,
        folder: Path | None = None,
    ) -> None:
        super().__init__()
        self._settings_file = settings_file or settings_path()
        self.settings = TuiSettings.load(self._settings_file)
        self.address = pick_server(server, self.settings.server)
        self.settings.server = str(self.address)
        self.guest = TrioGuest(on_crash=self._trio_crashed)
        self.runner = JobRunner(VcsClient(self.address), poll_interval_s, self)
        remembered = Path(self.settings.folder) if self.settings.folder else None
        start = folder or (remembered if remembered and remembered.is_dir() else Path.cwd())
        self.main = MainScreen(start.resolve())

    def get_default_screen(self) -> Screen[Any]:
        return self.main

    def on_mount(self) -> None:
        self.sub_title = str(self.address)
        self.guest.start()
        self.guest.start_soon(self.runner.run)
        for record in self.settings.jobs:
            self.runner.adopt(TrackedJob.from_record(record))

    async def on_unmount(self) -> None:
        # Cancels uploads (the server keeps nothing) and downloads (their partial file is
        # deleted) and waits until that cleanup has run.
        await self.guest.stop()
        self.settings.save(self._settings_file)

    def _trio_crashed(self, exc: BaseException) -> None:
        # A bug in a trio task: end the app with its traceback, as Textual does for workers.
        self._handle_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))

    # RunnerEvents: called from trio tasks, on this thread.

    def job_changed(self, job: TrackedJob) -> None:
        self.post_message(JobChanged(job))

    def problem(self, info: ErrorInfo, about: str) -> None:
        self.notify(
            f"{info.description}\n→ {info.solution}",
            # Connection problems carry the generic code; the code is news only otherwise.
            title=about if info.code is ErrorCode.INTERNAL else f"{about}: {info.code}",
            severity="error",
            timeout=ERROR_TIMEOUT_S,
            markup=False,
        )

    def notice(self, text: str) -> None:
        self.notify(text, markup=False)

    def on_job_changed(self, message: JobChanged) -> None:
        if self.main.is_mounted:
            self.main.jobs.show(message.job)
            self.main.transfers.show(message.job)
        self._remember_jobs()

    def _remember_jobs(self) -> None:
        """Keep the ids of jobs the server still holds, to fetch them after a restart."""
        ours = [j.to_record() for j in self.runner.jobs if j.job_id and j.step.on_server]
        tracked = {j.job_id for j in self.runner.jobs}
        others = [r for r in self.settings.jobs if r.get("job_id") not in tracked]
        if others + ours != self.settings.jobs:
            self.settings.jobs = others + ours
            self.settings.save(self._settings_file)

    # What the screens ask for.

    def _in_trio(self, fn: Callable[[], Awaitable[Any] | None]) -> None:
        async def task() -> None:
            result = fn()
            if result is not None:
                await result

        self.guest.start_soon(task)

    def submit(self, paths: list[Path], request: OperationRequest) -> None:
        self.settings.last_op = request.op
        self.settings.op_defaults[request.op] = request.raw
        self.settings.save(self._settings_file)
        jobs = [TrackedJob(path, request.op, request.params) for path in paths]
        self._in_trio(lambda: self.runner.submit(jobs))

    def refresh_jobs(self) -> None:
        self._in_trio(self.runner.request_refresh)

    def download(self, job: TrackedJob, folder: Path) -> None:
        self.settings.download_folder = str(folder)
        self.settings.save(self._settings_file)
        self._in_trio(lambda: self.runner.download(job, folder))

    def download_folder(self, job: TrackedJob) -> Path:
        remembered = self.settings.download_folder
        if remembered and Path(remembered).is_dir():
            return Path(remembered)
        return job.path.parent

    def cancel(self, job: TrackedJob) -> None:
        self._in_trio(lambda: self.runner.cancel(job))

    def set_server(self, address: ServerAddress) -> None:
        self.address = address
        self.runner.client = VcsClient(address)
        self.settings.server = self.sub_title = str(address)
        self.settings.save(self._settings_file)

    def remember_folder(self, folder: Path) -> None:
        self.settings.folder = str(folder)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main
        yield SystemCommand("Run an operation", "On the marked files", main.action_run_op)
        yield SystemCommand("Refresh jobs", "Ask the server now", main.action_refresh)
        yield SystemCommand("Download job", "The selected finished job", main.action_download)
        yield SystemCommand("Cancel job", "The selected job or transfer", main.action_cancel_job)
        yield SystemCommand("Go to folder", "Show another folder", main.action_go_to_folder)
        yield SystemCommand("Change server", "Another vcs-serve address", main.action_server)
        yield SystemCommand("Keys", "Every key binding", main.action_help)
