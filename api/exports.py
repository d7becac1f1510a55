"""Whole-result downloads (CSV, XLSX) streamed from the engine, never held in memory."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime

import xlsxwriter
from fastapi.responses import StreamingResponse

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows of one XLSX sheet, its header included (the format's limit): more go to a next sheet.
XLSX_SHEET_ROWS = 1_048_576


def _text(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime | date) else value


def csv_download(columns: list[str], batches: Iterator[list[tuple]], filename: str):
    def chunks() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        yield ("\ufeff" + buffer.getvalue()).encode()  # BOM: spreadsheets read it as UTF-8
        for rows in batches:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows([[_text(v) for v in row] for row in rows])
            yield buffer.getvalue().encode()

    return StreamingResponse(
        chunks(),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def xlsx_download(columns: list[str], batches: Iterator[list[tuple]], filename: str):
    """Rows go to a temporary file in xlsxwriter's constant-memory mode, then stream out.
    Past a sheet's row limit the rows continue on the next sheet (``segment (2)``, ...),
    each with the header: nothing is cut off."""

    def chunks() -> Iterator[bytes]:
        handle, path = tempfile.mkstemp(suffix=".xlsx")
        os.close(handle)
        try:
            workbook = xlsxwriter.Workbook(path, {"constant_memory": True})
            sheet = workbook.add_worksheet("segment")
            sheet.write_row(0, 0, columns)
            row_number, sheets = 1, 1
            for rows in batches:
                for row in rows:
                    if row_number == XLSX_SHEET_ROWS:
                        sheets += 1
                        sheet = workbook.add_worksheet(f"segment ({sheets})")
                        sheet.write_row(0, 0, columns)
                        row_number = 1
                    if sheet.write_row(row_number, 0, [_text(v) for v in row]) != 0:
                        raise RuntimeError(f"xlsxwriter refused row {row_number}")
                    row_number += 1
            workbook.close()
            with open(path, "rb") as file:
                while chunk := file.read(1 << 16):
                    yield chunk
        finally:
            os.unlink(path)

    return StreamingResponse(
        chunks(),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )
