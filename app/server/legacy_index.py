"""Jobs kept by servers from before the job store: imported once, on the first start.

Those servers kept one JSON record per job in `storage_dir/jobs/` and raw uploads as
bare files in `storage_dir/raw/`. On the first start with a new SQLite store on the
same directory, each record becomes a row (a finished result stays downloadable, an
unfinished job is failed as `server_restarted`, as a restart always did) and each raw
file a row holding its bytes; the JSON files are then deleted. Without this, the
first start's sweep of files no row owns would delete those results.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Final

from app.protocol.errors import ErrorInfo
from app.server.stores.blob_store import RAW, RESULTS, UPLOADS, check_key
from app.server.stores.job_store import JobRecord, JobState
from app.server.stores.sql_core import server_restarted
from app.server.stores.sql_jobs import SqlJobStore

log = logging.getLogger(__name__)

JSON_INDEX: Final = "jobs"


def _key(area: str, path: object) -> str | None:
    """The blob key of a file a record named (its base name under today's directory)."""
    if not isinstance(path, str) or not path:
        return None
    try:
        return check_key(f"{area}/{Path(path).name}")
    except ValueError:
        return None


def record_from_json(doc: dict[str, Any], storage_dir: Path, node: str) -> JobRecord:
    """One old record as a row; KeyError/ValueError/TypeError if it is not one."""
    state = JobState(doc["state"])
    error = ErrorInfo.from_json(doc["error"]) if doc.get("error") else None
    result = _key(RESULTS, doc.get("result_path"))
    result_size = doc.get("result_size")
    kept = (
        state is JobState.DONE
        and not doc.get("downloaded")
        and result is not None
        and (storage_dir / result).is_file()
    )
    if not state.finished:
        state, error = JobState.FAILED, server_restarted()
    if not kept:
        result = None
    finished_at = doc.get("finished_at")
    created_at = float(doc["created_at"])
    return JobRecord(
        id=str(doc["id"]),
        op=str(doc["op"]),
        params=dict(doc["params"]),
        client_ip=str(doc["client_ip"]),
        owner=None,
        filename=str(doc["filename"]),
        input_key=_key(UPLOADS, doc.get("input_path")) or f"{UPLOADS}/{doc['id']}",
        input_size=int(doc["input_size"]),
        input_media_type=str(doc["input_media_type"]),
        state=state,
        phase=str(state),
        progress=1.0 if state is JobState.DONE else 0.0,
        eta_s=None,
        error=error,
        result_key=result,
        result_media_type=doc.get("result_media_type"),
        result_size=None if result_size is None else int(result_size),
        result_sha256=doc.get("result_sha256"),
        report=dict(doc.get("report") or {}),
        created_at=created_at,
        finished_at=float(finished_at) if finished_at is not None else created_at,
        downloaded=bool(doc.get("downloaded")),
        input_reserved=0,
        result_reserved=int(result_size or 0) if kept else 0,
        node=node,
        attempts=1,
    )


async def import_legacy_storage(store: SqlJobStore, storage_dir: Path) -> int:
    """Rows for the JSON records and raw files of an older server; how many jobs."""
    imported = 0
    index = storage_dir / JSON_INDEX
    for path in sorted(index.glob("*.json")) if index.is_dir() else []:
        try:
            record = record_from_json(json.loads(path.read_text()), storage_dir, store.node)
        except (ValueError, KeyError, TypeError, OSError):
            log.warning("dropping unreadable job record %s", path)
        else:
            imported += await store.import_job(record)
        path.unlink(missing_ok=True)
    if index.is_dir():
        for leftover in index.glob(".*"):  # a crash's half-written record
            leftover.unlink(missing_ok=True)
        try:
            index.rmdir()
        except OSError:
            log.warning("%s still holds files the server did not write; left as it is", index)
    raw = storage_dir / RAW
    for path in sorted(raw.glob("*.mp4")) if raw.is_dir() else []:
        stat = path.stat()
        await store.import_raw(f"{RAW}/{path.name}", stat.st_size, stat.st_mtime)
    if imported:
        log.info("imported %d job(s) from the JSON index of an older server", imported)
    return imported
