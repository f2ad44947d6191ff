"""A directory tree for picking videos: videos stand out, other files are dimmed, space
marks files so one operation can run on several, and the open folders are watched so a
result saved into one (by this TUI, `vcs`, anything) shows up without a key press."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Final

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DirectoryTree
from textual.widgets._directory_tree import DirEntry
from textual.widgets._tree import TreeNode

from app.tui.local_probe import looks_like_video

MARK: str = "● "
# Open folders are looked at this often (one stat each), at most this many of them.
WATCH_EVERY_S: Final = 1.0
MAX_WATCHED_FOLDERS: Final = 64


def _mtime_ns(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class VideoTree(DirectoryTree):
    # Plain-text icons: emoji widths differ between terminals, tmux and fonts.
    ICON_NODE_EXPANDED = "▾ "
    ICON_NODE = "▸ "
    ICON_FILE = "  "

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_mark", "Mark"),
        Binding("backspace", "parent", "Up"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "video-tree--video",
        "video-tree--other",
        "video-tree--mark",
    }

    class MarksChanged(Message):
        def __init__(self, marked: frozenset[Path]) -> None:
            super().__init__()
            self.marked = marked

    class FolderChanged(Message):
        """A watched folder's entries changed and the tree shows them now."""

        def __init__(self, folder: Path) -> None:
            super().__init__()
            self.folder = folder

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.marked: set[Path] = set()
        # The modification time of each open folder when last looked at.
        self._folder_mtimes: dict[Path, int | None] = {}

    def on_mount(self) -> None:
        self.set_interval(WATCH_EVERY_S, self._look_for_changes)

    def _open_folders(self) -> list[TreeNode[DirEntry]]:
        """The root and every expanded folder below it, shallowest first, bounded."""
        found: list[TreeNode[DirEntry]] = []
        queue = [self.root]
        while queue and len(found) < MAX_WATCHED_FOLDERS:
            node = queue.pop(0)
            if node.data is None or not node.data.loaded:
                continue
            found.append(node)
            queue.extend(c for c in node.children if c.allow_expand and c.is_expanded)
        return found

    def _listing_differs(self, node: TreeNode[DirEntry]) -> bool:
        assert node.data is not None
        try:
            names = {p.name for p in self.filter_paths(Path(node.data.path).iterdir())}
        except OSError:
            return False
        return names != {c.data.path.name for c in node.children if c.data is not None}

    async def _look_for_changes(self) -> None:
        """Reload the shallowest open folder whose entries changed since the last look (a
        folder seen for the first time is compared with what the tree lists)."""
        seen: dict[Path, int | None] = {}
        changed: TreeNode[DirEntry] | None = None
        for node in self._open_folders():
            assert node.data is not None
            path = Path(node.data.path)
            seen[path] = _mtime_ns(path)
            if changed is not None:
                continue
            if path in self._folder_mtimes:
                if seen[path] != self._folder_mtimes[path]:
                    changed = node
            elif self._listing_differs(node):
                changed = node
        self._folder_mtimes = seen
        if changed is not None and changed.data is not None:
            await self.reload_node(changed)
            self.post_message(self.FolderChanged(Path(changed.data.path)))

    @property
    def folder(self) -> Path:
        return Path(self.path)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")]

    def render_label(self, node: TreeNode[DirEntry], base_style: Style, style: Style) -> Text:
        if node.allow_expand or node.data is None or not self.is_mounted:
            return super().render_label(node, base_style, style)
        path = node.data.path
        kind = "video-tree--video" if looks_like_video(path) else "video-tree--other"
        label = node._label.copy()
        label.stylize(style)
        label.stylize_before(self.get_component_rich_style(kind, partial=True))
        mark = MARK if path in self.marked else self.ICON_FILE
        return Text.assemble((mark, self.get_component_rich_style("video-tree--mark")), label)

    def highlighted_file(self) -> Path | None:
        node = self.cursor_node
        if node is None or node.data is None or node.allow_expand:
            return None
        return node.data.path

    def action_toggle_mark(self) -> None:
        """Mark or unmark the file under the cursor; on a folder, open or close it."""
        node = self.cursor_node
        if node is None or node.data is None:
            return
        if node.allow_expand:
            node.toggle()
            return
        self.marked ^= {node.data.path}
        node.refresh()
        self.post_message(self.MarksChanged(frozenset(self.marked)))
        self.action_cursor_down()

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()
        self.post_message(self.MarksChanged(frozenset()))

    def action_parent(self) -> None:
        parent = self.folder.resolve().parent
        if parent != self.folder.resolve():
            self.path = parent
