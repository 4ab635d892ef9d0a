"""Export page (admins): the cleaned dataset as a download, through `aligner.export`.

Written through the app's own store connection (the app holds the DuckDB file) into a
temporary folder, then offered as one file; subtitle formats (one file per video) are left to
`aligner export`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st
from aligner.ui import state

from aligner.errors import AlignerError
from aligner.export import export_dataset

FILE_FORMATS = {"jsonl": "records.jsonl", "csv": "records.csv", "parquet": "records.parquet",
                "howto100m": "caption.json", "htm-align": "htm_align.json"}  # fmt: skip


def _export(fmt: str, filters: dict) -> tuple[bytes, str] | None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / FILE_FORMATS[fmt]
        try:
            summary = export_dataset(state.workspace(), fmt=fmt, out=out, store=state.store(),
                                     **filters)  # fmt: skip
        except AlignerError as err:
            st.error(str(err))
            return None
        st.text(str(summary).replace(str(out), out.name))
        return out.read_bytes(), out.name


def render() -> None:
    st.title("Export")
    if not state.is_admin():
        st.info("Only an admin can export.")
        return
    c = st.columns([2, 3])
    fmt = c[0].selectbox("Format", list(FILE_FORMATS), key="export_format")
    with c[1]:
        filters = {
            "reviewed_only": st.checkbox("only sentences a curator decided", key="export_reviewed"),
            "accepted_only": st.checkbox("only accepted or corrected", key="export_accepted"),
            "exclude_not_alignable": st.checkbox("leave out not alignable", key="export_excl"),
        }
    if st.button("Prepare the export", key="export_go", type="primary"):
        made = _export(fmt, filters)
        if made is not None:
            st.download_button(f"Download {made[1]}", made[0], file_name=made[1],
                               key="export_download")  # fmt: skip
