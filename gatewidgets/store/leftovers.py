"""The leftovers of interrupted copies in a store's ``files_dir``, found and removed the same way by every store
that keeps files there."""
from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import time
from typing import Callable, Iterator

from gatewidgets.store.base import Leftover
from gatewidgets.types.file.stored import PART_PREFIX

__all__ = ["clean", "SHA256"]

log = logging.getLogger(__name__)

SHA256 = re.compile(r"[0-9a-f]{64}")


def clean(files_dir: str, older_than: float, dry_run: bool, named: Callable[[], set[str]]) -> list[Leftover]:
    """Remove (or list, with ``dry_run``) the temp files (``.part-*``) and the content-addressed copies whose
    sha256 ``named()`` does not return, unchanged for ``older_than`` seconds (see ``ExecutorStore.clean_files``)."""
    cutoff = time.time() - older_than
    found = [(path, info, reason) for path, info, reason in _candidates(files_dir)
             if info.st_mtime <= cutoff]
    if any(reason == "unreferenced" for _, _, reason in found):
        kept = named()
        found = [f for f in found if f[2] != "unreferenced" or os.path.basename(os.path.dirname(f[0])) not in kept]
    removed = []
    for path, info, reason in found:
        if not dry_run and not _remove(files_dir, path, info, cutoff):
            continue
        removed.append(Leftover(path, info.st_size, reason))
    if removed and not dry_run:
        log.info("gatewidgets removed %d leftover files (%d bytes) from %s", len(removed),
                 sum(f.size for f in removed), files_dir)
    return removed


def _candidates(files_dir: str) -> Iterator[tuple[str, os.stat_result, str]]:
    """Regular files in ``files_dir`` a cleanup may remove: ``(path, lstat, reason)``; a linked folder is
    not entered."""
    for folder, _, names in os.walk(files_dir):
        parts = os.path.relpath(folder, files_dir).split(os.sep)
        for name in names:
            if folder == files_dir and name.startswith(PART_PREFIX):
                reason = "unfinished"
            elif len(parts) == 2 and SHA256.fullmatch(parts[1]) and parts[1][:2] == parts[0]:
                reason = "unreferenced"
            else:  # not a file gatewidgets writes: leave it
                continue
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode):
                    yield path, info, reason


def _remove(files_dir: str, path: str, seen: os.stat_result, cutoff: float) -> bool:
    """Remove ``path`` if it is still the old regular file seen and still inside ``files_dir`` (no folder on
    its way became a link); then its emptied folders. Whether it was removed."""
    inside = os.path.realpath(files_dir)
    folder = os.path.dirname(path)
    try:
        info = os.lstat(path)
        if not (stat.S_ISREG(info.st_mode) and info.st_ino == seen.st_ino and info.st_mtime <= cutoff
                and os.path.commonpath([inside, os.path.realpath(folder)]) == inside):
            return False
        os.unlink(path)
    except OSError:
        return False
    while os.path.realpath(folder) != inside:  # <sha>, then <sha[:2]>, if now empty
        try:
            os.rmdir(folder)
        except OSError:
            break
        folder = os.path.dirname(folder)
    return True
