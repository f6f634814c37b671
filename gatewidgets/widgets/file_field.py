"""The field of a file signal on a card: a file upload, a path on the server, and a preview of what is chosen."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from gatewidgets import private
from gatewidgets.evidence import file_preview
from gatewidgets.evidence import to_html as evidence_html
from gatewidgets.settings import settings
from gatewidgets.types import GateFile
from gatewidgets.widgets.style import html as html_widget

__all__ = ["FileField"]


class FileField:
    """An upload (several files where the signal takes a list), a path on the server, a preview."""

    def __init__(self, many: bool) -> None:
        self.many = many
        self.upload = w.FileUpload(accept="", multiple=many, description="Choose files" if many else "Choose file")
        self.path = w.Text(placeholder="or a path on the server", layout=w.Layout(width="260px"))
        self.preview = html_widget()
        self.preview.add_class("gw-preview")
        self.widgets: list[w.Widget] = [w.HBox([self.upload, self.path]), self.preview]

    def uploads(self) -> list[dict[str, Any]]:
        """The files chosen in the upload."""
        return list(self.upload.value)

    def check(self) -> str:
        """Preview the chosen files (or the typed path); returns an error message ("" if ready)."""
        uploads = self.uploads()
        limit = settings.max_upload_bytes
        path = self.path.value.strip()
        error, previews = "", []
        if uploads:
            for upload in uploads:
                data = bytes(upload["content"])
                if len(data) > limit:
                    error = (f"{upload.get('name')} is {len(data)} bytes, larger than the limit of {limit} bytes "
                             "(c.GateWidgets.max_upload_bytes); choose a smaller file.")
                previews.append(file_preview(str(upload.get("name") or "upload"), len(data), data[:300_000]))
        elif path:
            if not os.path.isfile(path):
                error = f"No readable file at {path!r} on the server."
            elif os.path.getsize(path) > limit:
                error = f"{path} is larger than the limit of {limit} bytes (c.GateWidgets.max_upload_bytes)."
            else:
                with open(path, "rb") as fh:
                    previews.append(file_preview(os.path.basename(path), os.path.getsize(path), fh.read(300_000)))
        else:
            error = "Choose a file (or type the path of a file on the server)."
        self.preview.value = "".join(evidence_html(p) for p in previews)
        return error

    @contextmanager
    def value(self) -> Iterator[Any]:
        """The chosen files (or the typed path) as ``GateFile`` values (a list where the signal takes one), the
        uploaded bytes saved in a private temporary folder for as long as the block runs."""
        uploads = self.uploads()
        if not uploads:
            path = GateFile(self.path.value.strip())
            yield [path] if self.many else path
            return
        with tempfile.TemporaryDirectory(prefix="gatewidgets-upload-") as tmp:
            files = []
            for i, upload in enumerate(uploads):
                name = os.path.basename(str(upload.get("name") or "upload")) or "upload"
                private.make_folders(os.path.join(tmp, str(i)))
                saved = os.path.join(tmp, str(i), name)
                with os.fdopen(private.open_file(saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as fh:
                    fh.write(bytes(upload["content"]))
                files.append(GateFile(saved))
            yield files if self.many else files[0]
