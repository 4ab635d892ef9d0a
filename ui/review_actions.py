"""What the review desk's operations do in the store: decisions, confirmed overwrites, undo.

The desk sends every operation it has not seen acknowledged (`client.ops`); `apply_client` runs
as the component's callback, before the fragment reruns, applies each new operation once
(its id is remembered) and keeps an acknowledgement the desk shows. Every write passes the label
version the curator saw, so a decision made by someone else in between is reported, never
silently overwritten; a decision over another curator's label needs the desk's explicit confirm.
"""

from __future__ import annotations

import streamlit as st
from aligner.ui import desk, state

from aligner.errors import AlignerError
from aligner.store.review import StaleWriteError

ACKS_KEPT = 40  # acknowledgements sent back to the desk (it ignores those it has seen)
VERBS = {"accept": "accept", "correct": "correct", "not_alignable": "not alignable",
         "skip": "skip"}  # fmt: skip


def _acks() -> dict[str, dict]:
    return st.session_state.setdefault("_acks", {})


def recent_acks() -> list[dict]:
    return list(_acks().values())[-ACKS_KEPT:]


def apply_client() -> None:
    """Callback of the desk: apply the operations it reports that were not applied yet."""
    import time

    st.session_state["_applied_at"] = time.perf_counter()
    apply_ops(desk.client_state().get("ops") or [])


def apply_ops(ops: list) -> list[dict]:
    """Apply each new operation once; returns the acknowledgements of those applied now."""
    acks, done = _acks(), []
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("id"), str) or op["id"] in acks:
            continue
        ack = {"id": op["id"], "kind": op.get("kind"), **_run(op)}
        acks[op["id"]] = ack
        done.append(ack)
    for old in list(acks)[: max(0, len(acks) - 4 * ACKS_KEPT)]:
        del acks[old]
    return done


def _run(op: dict) -> dict:
    try:
        if op.get("kind") == "undo":
            return _undo()
        if op.get("kind") == "decide":
            return _decide(op)
        if op.get("kind") in ("edit_text", "split", "merge"):
            return _edit_text(op)
        return {"ok": False, "sid": None, "message": f"Unknown operation {op.get('kind')!r}."}
    except (KeyError, TypeError, ValueError) as err:  # a malformed op from the page
        return {"ok": False, "sid": None, "message": f"Not saved: bad request ({err})."}


def _decide(op: dict) -> dict:
    s, me = state.store(), state.curator()
    sid, action = int(op["sid"]), str(op["action"])
    number = s.sentence_number(sid)  # not the page's word for it: only what the store says
    base = {"sid": sid, "action": action}
    if number is None or action not in VERBS:
        return {**base, "ok": False, "message": "Not saved: unknown sentence or action."}
    label = s.label(sid)
    if label is not None and label["curator"] != me and not op.get("overwrite"):
        return {**base, "ok": False, "needs_confirm": True,
                "message": f"#{number}: {label['curator']} decided this; confirm to overwrite."}  # fmt: skip
    kwargs: dict = {}
    if action == "correct":
        kwargs["start"], kwargs["end"] = float(op["start"]), float(op["end"])
    elif action == "not_alignable":
        kwargs["reason"] = op.get("reason") or "other"
    try:
        version = s.record_decision(
            sid, action=action, curator=me, expected_version=int(op["expected_version"]), **kwargs
        )
    except StaleWriteError:
        return {**base, "ok": False, "message": f"Not saved: #{number} was changed by someone"
                " else meanwhile; it shows their decision now: decide again to overwrite."}  # fmt: skip
    except AlignerError as err:  # e.g. StoreBusyError: nothing was written
        return {**base, "ok": False, "message": f"Not saved #{number}: {err}"}
    return {**base, "ok": True, "version": version, "message": f"Saved #{number}: {VERBS[action]}"}


def _edit_text(op: dict) -> dict:
    s, me = state.store(), state.curator()
    sid = int(op["sid"])
    number = s.sentence_number(sid)
    base, kind = {"sid": sid, "action": "edit_text"}, op["kind"]
    expected = int(op["expected_version"])
    try:
        if kind == "split":
            version = s.split_sentence(sid, str(op["first"]), str(op["second"]),
                                       at_s=float(op["at_s"]), curator=me,
                                       expected_version=expected)  # fmt: skip
        elif kind == "merge":
            version = s.merge_with_next(sid, curator=me, expected_version=expected)
        else:
            version = s.edit_text(sid, str(op["text"]), curator=me, expected_version=expected)
    except StaleWriteError:
        return {**base, "ok": False, "message": f"Not saved: the words of #{number} were changed"
                " by someone else meanwhile; they show now: edit again."}  # fmt: skip
    except AlignerError as err:
        return {**base, "ok": False, "message": f"Not saved #{number}: {err}"}
    done = {"split": "split in two", "merge": "merged with the next"}.get(kind, "words")
    return {**base, "ok": True, "text_version": version, "message": f"Saved #{number}: {done}"}


def _undo() -> dict:
    s, me = state.store(), state.curator()
    sid = s.last_decision_by(me, st.session_state.get("video_id"))
    if sid is None:
        return {"ok": False, "sid": None, "message": "Nothing of yours to undo in this video."}
    version = s.undo_last(sid, curator=me)
    number = s.sentence_number(sid)
    return {"ok": True, "sid": sid, "version": version,
            "message": f"Undid your last decision on #{number}."}  # fmt: skip


def describe(value: dict | None) -> str:
    """A label value in words: "accepted 3.0–5.5 s", "not alignable (b_roll)", "(none)"."""
    if value is None:
        return "(none)"
    text = value["status"].replace("_", " ")
    if value.get("start") is not None:
        text += f" {value['start']:.1f}–{value['end']:.1f} s"
    if value.get("reason"):
        text += f" ({value['reason']})"
    return text
