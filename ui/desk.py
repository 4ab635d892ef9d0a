"""The review desk: player, timeline, frame strip and the sentence's actions in one component.

Keys, navigation and boundary edits happen in the browser, so the next sentence shows at once;
decisions go to Python as a queue of operations (`client.ops`, each with an id) in the
component's state value. The Review page's fragment applies each operation once and sends an
acknowledgement back (`data.acks`), which the desk shows as "Saved". Nothing but the fragment
reruns; a lost rerun is harmless because the desk keeps sending every operation not yet acked.

Python -> desk (`data`): rows of the video, nav (token + sentence to jump to), clip (source only
when the desk does not hold it yet), strip thumbnails of the server's current sentence, acks,
presence, notices, the keyboard map. Desk -> Python (`client`): ops, place (sentence id),
have_clip, have_strip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from aligner.ui.desk_js import CSS, HTML, JS

UNLIKELY_BELOW = 0.2  # alignability under this: "likely not alignable", no "shown" window
DESK_KEY = "desk"


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("aligner_desk", html=HTML, css=CSS, js=JS)


def _edited_text(edit: dict | None) -> str | None:
    """A sentence's words after a curator's edit (a split shows as "first | second")."""
    if edit is None or edit["text"] is None:
        return None
    if edit["kind"] == "split":
        return f"{edit['text']} | {edit['second_text']}"
    return edit["text"]


def desk_row(row: dict, edit: dict | None = None, merged_into: int | None = None) -> dict:
    """One sentence as the desk reads it: 1-based number `n`, windows as [start, end]; `text`
    is a curator's fixed words when there are any (`asr_text` then the original);
    `merged_into` the number of the sentence this one was merged into."""
    has_pred = row["pred_start"] is not None
    edited = _edited_text(edit)
    return {
        "sid": int(row["sentence_id"]), "n": int(row["idx"]) + 1,
        "text": edited if edited is not None else row["text"],
        "asr_text": row["text"] if edited is not None else None,
        "edit_kind": edit["kind"] if edited is not None else None, "merged_into": merged_into,
        "text_version": int(edit["version"]) if edit else 0,
        "asr": [float(row["asr_start"]), float(row["asr_end"])],
        "pred": [float(row["pred_start"]), float(row["pred_end"])] if has_pred else None,
        "align": float(row["alignability"]) if row["alignability"] is not None else None,
        "status": row["status"], "curator": row["curator"], "reason": row["reason"],
        "version": int(row["version"]),
        "lstart": row["label_start"], "lend": row["label_end"],
    }  # fmt: skip


def client_state() -> dict:
    """What the desk last reported (empty before it first mounted)."""
    import streamlit as st

    value = st.session_state.get(DESK_KEY)
    client = value.get("client") if hasattr(value, "get") else None
    return client if isinstance(client, dict) else {}


def mount(data: dict, on_client: Callable[[], None]):
    """Mount the desk (key `desk`) with `data`; `on_client` runs when the desk reports."""
    return _component()(key=DESK_KEY, data=data, on_client_change=on_client)
