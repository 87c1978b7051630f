"""Incremental multipart/form-data scanning of a transcription upload, shared by the gateway (which
watches the body go by on its way to the ASR service) and the ASR service (which spools the file
part). Small forms (the custom-voice routes) are FastAPI's to read; an upload streams, so its text
fields are collected here as they pass and validated with ``common.api_types.parse_form``.

The file part is the first part named ``file``; other parts are text fields, kept in memory up to
a byte limit. A form is complete only once its closing boundary has been seen.
"""

from __future__ import annotations

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from common.errors import APIError, invalid

FILE_FIELD = "file"


def form_boundary(content_type: bytes | str | None, file_field: str = FILE_FIELD) -> bytes:
    """The boundary of a multipart/form-data Content-Type, or 415/400 naming what is expected."""
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        shown = (content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type) or "none"
        raise APIError(
            415,
            f"Content-Type must be multipart/form-data (got {shown[:100]}): send the audio as the form field "
            f"'{file_field}'.",
            code="unsupported_media_type",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise invalid("The multipart/form-data Content-Type has no boundary.", None, "invalid_multipart")
    return boundary


def malformed(reason: str) -> APIError:
    return invalid(f"Malformed multipart/form-data body: {reason}.", None, "invalid_multipart")


def missing_file(file_field: str = FILE_FIELD) -> APIError:
    return APIError(
        400,
        f"Missing required parameter: '{file_field}'. Send the audio as the multipart form field '{file_field}'.",
        param=file_field,
        code="missing_required_parameter",
    )


class FormScanner:
    """Feed it the body chunk by chunk; read ``fields``, ``file_seen`` and ``complete``.

    With ``keep_file`` the file part's bytes are collected for ``take_file_data()``; without it
    they are only counted (``file_size``), never copied.
    """

    def __init__(
        self, boundary: bytes, max_field_bytes: int, *, keep_file: bool = False, file_field: str = FILE_FIELD
    ) -> None:
        self.file_field = file_field
        self.fields: dict[str, list[str]] = {}
        self.fields_version = 0  # bumps with every text field, to notice fields that follow the file
        self.file_seen = False
        self.file_name: str | None = None
        self.file_size = 0
        self.complete = False
        self._keep_file = keep_file
        self._file_data = bytearray()
        self._max_field_bytes = max_field_bytes
        self._field_bytes = 0
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._part_name: str | None = None
        self._part_file_name: str | None = None
        self._value = bytearray()
        self._in_file = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def feed(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except MultipartParseError as exc:
            raise malformed(str(exc).rstrip(".")) from None

    def take_file_data(self) -> bytes:
        """The file bytes seen since the last call (``keep_file`` only)."""
        data = bytes(self._file_data)
        self._file_data.clear()
        return data

    def _part_begin(self) -> None:
        self._part_name = self._part_file_name = None
        self._value.clear()
        self._in_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            _, options = parse_options_header(bytes(self._header_value))
            name, file_name = options.get(b"name"), options.get(b"filename")
            self._part_name = name.decode("utf-8", "replace") if name is not None else None
            self._part_file_name = file_name.decode("utf-8", "replace") if file_name is not None else None
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        if self._part_name == self.file_field and not self.file_seen:
            self._in_file = self.file_seen = True
            self.file_name = self._part_file_name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.file_size += end - start
            if self._keep_file:
                self._file_data += data[start:end]
            return
        self._field_bytes += end - start
        if self._field_bytes > self._max_field_bytes:
            raise APIError(
                413,
                f"The form's text fields exceed {self._max_field_bytes} bytes (MAX_FORM_FIELD_BYTES); "
                f"only the '{self.file_field}' field may be large.",
                code="request_too_large",
            )
        self._value += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            return
        if self._part_name is not None:
            self.fields.setdefault(self._part_name, []).append(self._value.decode("utf-8", "replace"))
            self.fields_version += 1

    def _end(self) -> None:
        self.complete = True
