"""Numbered schema migrations, applied in order when a store is opened.

Append a new `Migration` to change the schema; never edit one that has shipped. Numbers may
leave gaps (each area of the code takes its own range) but must only grow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


INITIAL_SCHEMA = """
CREATE TABLE videos (
    video_id        TEXT PRIMARY KEY,
    path            TEXT NOT NULL,          -- relative to the dataset folder
    duration        DOUBLE,                 -- seconds
    fps             DOUBLE,
    width           INTEGER,
    height          INTEGER,
    size_bytes      BIGINT,
    mtime           DOUBLE,                 -- of the video file, to notice a change
    subtitle_path   TEXT,                   -- relative; NULL when none or from caption.json / ASR
    subtitle_source TEXT,                   -- vtt | srt | json | caption.json | asr | NULL
    input_key       TEXT,                   -- hash of subtitle input + sentencify parameters
    status          TEXT NOT NULL,          -- ok | no_subtitles | error
    error           TEXT,                   -- one readable line when status = error
    ingested_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE sentence_id_seq START 1;
CREATE TABLE sentences (
    sentence_id BIGINT PRIMARY KEY DEFAULT nextval('sentence_id_seq'),
    video_id    TEXT NOT NULL,
    idx         INTEGER NOT NULL,           -- order within the video, from 0
    start       DOUBLE NOT NULL,            -- ASR start, seconds
    "end"       DOUBLE NOT NULL,            -- ASR end, seconds
    text        TEXT NOT NULL,
    UNIQUE (video_id, idx)
);

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,              -- train | predict | auto-align | asr | ...
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP,
    status      TEXT NOT NULL,              -- running | done | failed
    model       TEXT,                       -- e.g. tan, tan-stage1, dual, asr-baseline
    checkpoint  TEXT,                       -- path of the checkpoint used or written
    params      JSON,
    timings     JSON,                       -- seconds per stage
    metrics     JSON
);

CREATE TABLE predictions (
    run_id            TEXT NOT NULL,
    sentence_id       BIGINT NOT NULL,
    alignability      DOUBLE NOT NULL,      -- probability the sentence is visually alignable
    start             DOUBLE NOT NULL,      -- predicted visual start, seconds
    "end"             DOUBLE NOT NULL,      -- predicted visual end, seconds
    peak              DOUBLE NOT NULL,      -- second of highest similarity
    dual_alignability DOUBLE,               -- the dual encoder's own view, for doubt ranking
    dual_peak         DOUBLE,
    PRIMARY KEY (run_id, sentence_id)
);

-- the current human decision per sentence; `version` grows with every change (stale-write check)
CREATE TABLE labels (
    sentence_id BIGINT PRIMARY KEY,
    status      TEXT NOT NULL,              -- accepted | corrected | not_alignable | skipped
    alignable   BOOLEAN,                    -- NULL for skipped
    start       DOUBLE,                     -- visual start, seconds (NULL when not alignable)
    "end"       DOUBLE,
    reason      TEXT,                       -- for not_alignable: talking_head | off_screen | b_roll | other
    curator     TEXT NOT NULL,
    decided_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    version     INTEGER NOT NULL
);

-- append-only history of every decision, with the values before and after
CREATE SEQUENCE label_event_id_seq START 1;
CREATE TABLE label_events (
    event_id    BIGINT PRIMARY KEY DEFAULT nextval('label_event_id_seq'),
    sentence_id BIGINT NOT NULL,
    curator     TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    action      TEXT NOT NULL,              -- accept | correct | not_alignable | skip | undo
    before_value JSON,                       -- label row before (NULL when there was none)
    after_value JSON,                        -- label row after (NULL when removed by undo)
    version     INTEGER NOT NULL            -- label version after this event
);

-- a curator working on a video, so others see it; expires on its own
CREATE TABLE claims (
    video_id   TEXT PRIMARY KEY,
    curator    TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
"""

# review (20-29): each run's doubt per sentence, computed once so the queue over 1M sentences
# is a scan + top-N instead of a 1M x 1M join on every page load
REVIEW_DOUBT = """
CREATE TABLE review_doubt (
    run_id      TEXT NOT NULL,
    sentence_id BIGINT NOT NULL,
    video_id    TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    doubt       DOUBLE NOT NULL              -- 0..1, see aligner.store.review.review_queue
);
"""

# review app for a day's work (40-49): where each curator was, who is on a video now, and
# sign-in sessions (only a hash of the token is stored)
REVIEW_PLACE = """
CREATE TABLE review_place (
    curator     TEXT PRIMARY KEY,
    video_id    TEXT NOT NULL,
    sentence_id BIGINT,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE presence (
    video_id    TEXT NOT NULL,
    curator     TEXT NOT NULL,
    sentence_id BIGINT,
    seen_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (video_id, curator)
);
CREATE TABLE review_sessions (
    token_hash  TEXT PRIMARY KEY,           -- sha256 of the cookie's token
    curator     TEXT NOT NULL,
    role        TEXT NOT NULL,              -- curator | admin
    expires_at  TIMESTAMP NOT NULL
);
"""

# an admin's resolution of a disagreement between curators; `event_id` is the decision it wrote
ADJUDICATIONS = """
CREATE TABLE adjudications (
    sentence_id  BIGINT PRIMARY KEY,
    resolved_by  TEXT NOT NULL,
    chosen       TEXT NOT NULL,              -- the curator whose decision was taken
    event_id     BIGINT NOT NULL,
    resolved_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""

# a curator's fix of a sentence's words (ASR errors), a split in two or a merge with the next;
# the newest row per sentence is its state (`after_text` NULL and kind text = back to the ASR
# text); `sentences` itself is never changed
TEXT_EDITS = """
CREATE SEQUENCE text_edit_id_seq START 1;
CREATE TABLE text_edits (
    edit_id     BIGINT PRIMARY KEY DEFAULT nextval('text_edit_id_seq'),
    sentence_id BIGINT NOT NULL,
    curator     TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    kind        TEXT NOT NULL DEFAULT 'text', -- text | split | merge
    before_text TEXT,
    after_text  TEXT,                       -- split: the first part; merge: both texts joined
    second_text TEXT,                       -- split: the second part
    split_s     DOUBLE,                     -- split: where the second part starts, seconds
    merged_with BIGINT,                     -- merge: the next sentence, absorbed into this one
    version     INTEGER NOT NULL            -- grows per sentence (stale-write check)
);
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema", INITIAL_SCHEMA),
    Migration(20, "review doubt cache", REVIEW_DOUBT),
    Migration(40, "review place, presence and sign-in sessions", REVIEW_PLACE),
    Migration(41, "adjudications", ADJUDICATIONS),
    Migration(42, "text edits", TEXT_EDITS),
]
