"""The box every process that reads an upload runs in: rlimits, no network, its own files.

Two levels, detected once per program at start-up (`ffmpeg_confinement` here,
`upload_probe.probe_confinement`) and logged:

- **bwrap** (Debian's `bubblewrap`): new network, pid, IPC and UTS namespaces (no
  network but a loopback of its own), a filesystem of its own: an empty root with the
  system libraries read-only (`/usr/lib`, `/lib*`), the program, its input files
  read-only and its output files writable — nothing else (no `/etc`, `/home`, other
  uploads). Files are bound from descriptors the server opened, so the box needs no
  path to them. When the server runs as root, bubblewrap runs privileged and `setpriv`
  makes the process `nobody`: the job's files are handed to that user for the run and
  handed back after. Otherwise a user namespace keeps the server's user.
- **rlimits** alone, when bubblewrap is missing or cannot run the program here, or
  when `VCS_MEDIA_SANDBOX=rlimits` says so.

Either way `prlimit` (util-linux) applies the rlimits: address space, file size, CPU
seconds, and processes when the box has a user of its own (RLIMIT_NPROC counts every
process of the user, so it is only meaningful for a dedicated one).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import trio

from app.media.limits import RunLimits

BOX_USER: Final = (65534, 65534)  # nobody:nogroup
# What a dynamically linked program needs from the system (glibc and its loader).
SYSTEM_DIRS: Final = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32")
SYSTEM_FILES: Final = ("/etc/ld.so.cache",)
BOX_ENV: Final = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
# Set to "rlimits" to go without bubblewrap even where it works (a container that
# forbids namespaces, or a measurement that needs FFmpeg as a direct child).
SANDBOX_ENV: Final = "VCS_MEDIA_SANDBOX"
_CHECK_TIMEOUT_S: Final = 20.0


@dataclass(frozen=True, slots=True)
class Confinement:
    """How this machine confines one program: with bubblewrap or rlimits alone."""

    prlimit: str | None
    bwrap: str | None = None
    # bubblewrap's --die-with-parent watches the *thread* that started it, and trio
    # starts processes from worker threads that exit when idle: `setsid --fork --wait`
    # is the parent instead, a process that lives exactly as long as the box.
    setsid: str | None = None
    # The server is root: bubblewrap runs privileged and `setpriv` drops to this user.
    setpriv: str | None = None
    user: tuple[int, int] | None = None
    why_not_bwrap: str = ""

    def describe(self) -> str:
        if self.bwrap is None:
            limits = "rlimits only" if self.prlimit else "no rlimits either (prlimit missing)"
            return f"{limits}, no namespaces ({self.why_not_bwrap})"
        who = f"as uid {self.user[0]}" if self.user else "as the server's user"
        return f"bubblewrap (no network, own files only, {who}) with rlimits"


@dataclass(slots=True)
class Launch:
    """A confined command, ready to start (its descriptors stay open until the `boxed`
    block ends)."""

    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=lambda: dict(BOX_ENV))

    async def start(self, nursery: trio.Nursery) -> trio.Process:
        """Run it in `nursery`, stdout and stderr piped: cancelling the nursery kills it
        (trio's deliver_cancel: SIGTERM, then SIGKILL)."""
        process: trio.Process = await nursery.start(
            functools.partial(
                trio.run_process,
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
                pass_fds=self.pass_fds,
                env=self.env,
            )
        )
        return process


def rlimit_args(prlimit: str | None, limits: RunLimits, *, own_user: bool) -> list[str]:
    if prlimit is None:
        return []
    args = [
        prlimit,
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.file_bytes}",
        f"--cpu={limits.cpu_s}",
    ]
    if own_user:
        args.append(f"--nproc={limits.processes}")
    return [*args, "--"]


def _system_args() -> list[str]:
    args = _parent_dirs([Path(name) for name in (*SYSTEM_DIRS, *SYSTEM_FILES)])
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    for name in SYSTEM_FILES:
        args += ["--ro-bind-try", name, name]
    return args


def bwrap_args(confinement: Confinement) -> list[str]:
    """The box without its files: namespaces, an empty root, the system libraries."""
    assert confinement.bwrap is not None and confinement.setsid is not None
    if confinement.setpriv is None:  # unprivileged: a user namespace of its own
        namespaces = ["--unshare-all", "--unshare-user", "--disable-userns"]
    else:  # privileged: no user namespace; setpriv needs these two to drop to the user
        namespaces = [
            *("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"),
            *("--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"),
        ]
    return [
        *(confinement.setsid, "--fork", "--wait"),
        confinement.bwrap,
        *namespaces,
        "--die-with-parent",
        "--new-session",
        "--tmpfs",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        *_system_args(),
    ]


def _user_args(confinement: Confinement) -> list[str]:
    """Before the command, as root: become the box's user, with no capabilities left."""
    if confinement.setpriv is None or confinement.user is None:
        return []
    uid, gid = confinement.user
    return [
        confinement.setpriv,
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--no-new-privs",
        "--",
    ]


def _parent_dirs(paths: Sequence[Path], dirs: Sequence[Path] = ()) -> list[str]:
    """`--dir` for every directory above the bound paths (and for `dirs`), readable by
    the box's user (bubblewrap would create them for root only)."""
    above = {parent for path in paths for parent in path.parents}
    parents = sorted(
        {str(d) for d in (*above, *dirs) if d != Path("/")},
        key=lambda name: (name.count("/"), name),
    )
    return [arg for name in parents for arg in ("--perms", "0755", "--dir", name)]


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """Paths not inside another of them (a directory bound shows what is inside it)."""
    return [p for p in paths if not any(o != p and o in p.parents for o in paths)]


# Files handed to the box user, with how many runs hold them and their real owner: runs
# side by side (a job's chunks) share the source, and the last one to end gives it back
# (each restoring the owner it saw would give the source to the box user for good, and
# the first to end would take it from the others while they still read it).
_handed: dict[Path, tuple[int, int, int]] = {}
_handed_lock = threading.Lock()


@contextlib.contextmanager
def _handed_to(user: tuple[int, int] | None, paths: Sequence[Path]) -> Iterator[None]:
    """Give `paths` to the box's user for the run, and back to their owners after the
    last run holding them."""
    if user is None:
        yield
        return
    held: list[Path] = []
    try:
        for path in dict.fromkeys(p.absolute() for p in paths):  # each once: restored once
            with _handed_lock:
                count, uid, gid = _handed.get(path, (0, -1, -1))
                if count == 0:
                    st = path.stat()
                    uid, gid = st.st_uid, st.st_gid
                    os.chown(path, *user)
                _handed[path] = (count + 1, uid, gid)
                held.append(path)
        yield
    finally:
        for path in held:
            with _handed_lock:
                count, uid, gid = _handed.pop(path)
                if count > 1:
                    _handed[path] = (count - 1, uid, gid)
                    continue
                with contextlib.suppress(OSError):
                    os.chown(path, uid, gid)


@contextlib.contextmanager
def boxed(
    confinement: Confinement,
    argv: Sequence[str],
    *,
    programs: Sequence[Path],
    reads: Sequence[Path],
    writes: Sequence[Path],
    limits: RunLimits,
) -> Iterator[Launch]:
    """`argv` confined: `programs` (files or directories it runs from) and `reads`
    read-only, `writes` (created empty here if missing) writable, nothing else."""
    for path in writes:
        path.touch(exist_ok=True)
    if confinement.bwrap is None:
        limited = rlimit_args(confinement.prlimit, limits, own_user=False)
        yield Launch([*limited, *argv], env=dict(os.environ))
        return
    shown = [
        *((p, "--ro-bind-fd") for p in _outermost([p.absolute() for p in programs])),
        *((p.absolute(), "--ro-bind-fd") for p in reads),
        *((p.absolute(), "--bind-fd") for p in writes),
    ]
    if confinement.setpriv is not None:
        shown.append((Path(confinement.setpriv), "--ro-bind-fd"))
    # Relative paths in `argv` mean what they mean here: the box starts in this directory.
    cwd = Path.cwd()
    fds: list[int] = []
    binds = _parent_dirs([path for path, _ in shown], [cwd])
    try:
        # Bound from descriptors: the box needs no path to them, and a path swapped for
        # a symlink after this point changes nothing.
        for path, kind in shown:
            fds.append(os.open(path, os.O_PATH | os.O_CLOEXEC))
            binds += [kind, str(fds[-1]), str(path)]
        limited = rlimit_args(confinement.prlimit, limits, own_user=confinement.user is not None)
        with _handed_to(confinement.user, [*reads, *writes]):
            yield Launch(
                [
                    *limited,
                    *bwrap_args(confinement),
                    *binds,
                    "--chdir",
                    str(cwd),
                    "--",
                    *_user_args(confinement),
                    *argv,
                ],
                pass_fds=tuple(fds),
            )
    finally:
        for fd in fds:
            os.close(fd)


def detect(check_argv: Sequence[str], programs: Sequence[Path]) -> Confinement:
    """Which confinement runs `check_argv` (a quick command that must exit 0) here."""
    prlimit = shutil.which("prlimit")
    bwrap = shutil.which("bwrap")
    setsid = shutil.which("setsid")
    if os.environ.get(SANDBOX_ENV) == "rlimits":
        return Confinement(prlimit, why_not_bwrap=f"{SANDBOX_ENV}=rlimits")
    if bwrap is None:
        return Confinement(prlimit, why_not_bwrap="bubblewrap is not installed")
    if setsid is None:
        return Confinement(prlimit, why_not_bwrap="setsid (util-linux) is missing")
    candidate = Confinement(prlimit, bwrap, setsid)
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return Confinement(prlimit, why_not_bwrap="setpriv (util-linux) is missing")
        candidate = Confinement(prlimit, bwrap, setsid, setpriv, BOX_USER)
    check_limits = RunLimits(2 << 30, 1 << 20, 60, 256)
    try:
        with boxed(
            candidate, check_argv, programs=programs, reads=(), writes=(), limits=check_limits
        ) as launch:
            done = subprocess.run(
                launch.argv,
                capture_output=True,
                timeout=_CHECK_TIMEOUT_S,
                check=False,
                pass_fds=launch.pass_fds,
                env=launch.env,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        return Confinement(prlimit, why_not_bwrap=f"bubblewrap cannot start: {exc}")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        why = f"bubblewrap cannot run {check_argv[0]} here: {said[0][:200]}"
        return Confinement(prlimit, why_not_bwrap=why)
    return candidate


@functools.cache
def ffmpeg_confinement(ffmpeg: str) -> Confinement:
    """The confinement of this FFmpeg's runs (blocking the first time: ~50 ms)."""
    return detect([ffmpeg, "-hide_banner", "-loglevel", "error", "-version"], [Path(ffmpeg)])
