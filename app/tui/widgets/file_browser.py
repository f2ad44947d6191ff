"""A directory tree for picking videos: videos stand out, other files are dimmed, and
space marks files so one operation can run on several."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DirectoryTree
from textual.widgets._directory_tree import DirEntry
from textual.widgets._tree import TreeNode

from app.tui.local_probe import looks_like_video

MARK: str = "● "


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

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.marked: set[Path] = set()

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
