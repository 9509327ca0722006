"""The body of OpenAI's file upload: ``multipart/form-data``, parsed as it streams in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO


class MultipartReader:
    """A small streaming ``multipart/form-data`` parser: form fields to memory, the file to disk.

    Starlette's own form parsing needs ``python-multipart``; this one needs nothing and never holds
    the file in memory, which matters for 200 MB batch inputs.
    """

    def __init__(self, boundary: bytes, sink: Path) -> None:
        self.delimiter = b"--" + boundary
        self.separator = b"\r\n--" + boundary
        self.sink = sink
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.done = False
        self._buffer = bytearray()
        self._state = "preamble"
        self._name = ""
        self._value = bytearray()
        self._file: BinaryIO | None = None

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while not self.done and self._step():
            pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _step(self) -> bool:
        buffer = self._buffer
        if self._state in ("preamble", "boundary"):
            index = buffer.find(self.delimiter)
            if index < 0:
                return False
            del buffer[: index + len(self.delimiter)]
            self._state = "after_boundary"
        elif self._state == "after_boundary":
            if buffer[:2] == b"--":
                self.done = True
                return False
            index = buffer.find(b"\r\n")
            if index < 0:
                return False
            del buffer[: index + 2]
            self._state = "headers"
        elif self._state == "headers":
            index = buffer.find(b"\r\n\r\n")
            if index < 0:
                return False
            self._open_part(bytes(buffer[:index]).decode("latin-1"))
            del buffer[: index + 4]
            self._state = "body"
        else:
            index = buffer.find(self.separator)
            if index < 0:
                keep = len(self.separator) - 1
                if len(buffer) > keep:
                    self._write(buffer[:-keep])
                    del buffer[:-keep]
                return False
            self._write(buffer[:index])
            del buffer[: index + 2]
            self._close_part()
            self._state = "boundary"
        return True

    def _open_part(self, headers: str) -> None:
        name = re.search(r'\bname="([^"]*)"', headers)
        filename = re.search(r'\bfilename="([^"]*)"', headers)
        self._name = name.group(1) if name else ""
        if filename is not None:
            self.filename = filename.group(1)
            self._file = self.sink.open("wb")

    def _write(self, data: bytearray) -> None:
        if self._file is not None:
            self._file.write(data)
            self.size += len(data)
        elif len(self._value) < 65536:
            self._value += data

    def _close_part(self) -> None:
        if self._file is None:
            self.fields[self._name] = self._value.decode()
        self.close()
        self._value = bytearray()
