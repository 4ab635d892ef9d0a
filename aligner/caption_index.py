"""A dataset-wide caption.json (HowTo100M's raw_caption.json: ~1.2M entries, several GB) read
without loading it: one pass finds where each entry starts, then a video's entry is read alone.

The pass looks for `": {` (a key followed by an object): in this format only the top-level
video ids are followed by an object (the "start" / "end" / "text" keys inside an entry are
followed by lists), and inside a JSON string a quote is always escaped, so the bytes `": {`
cannot come from caption text. The pass reads 16 MiB at a time (memory stays bounded, whatever
the file's size) and runs at about the speed of a regex search. The index (ids, byte offsets,
lengths) is cached as one .npz beside the store, keyed by the file's size and mtime, so the
next run looks entries up without reading the file again. An entry whose value is not an object
(`"id": [...]`) is not indexed: its video reads as having no captions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from aligner.atomic import atomic_write
from aligner.errors import InputError

CHUNK_BYTES = 16 << 20  # read this much at a time while indexing
OVERLAP_BYTES = 4096  # kept from the previous chunk: a video id is never this long
KEY_LOOKBACK = 64  # bytes looked back (vectorised) for the quote that opens a key
INDEX_FILE = "caption_index.npz"
_KEY_END = re.compile(rb'"\s*:\s*\{')  # the end of a key whose value is an object


class CaptionIndex:
    """Byte ranges of the entries of one caption.json; `entry(video_id)` reads one entry."""

    def __init__(self, path: Path, ids: np.ndarray, offsets: np.ndarray, lengths: np.ndarray):
        self.path = path
        self._ids, self._offsets, self._lengths = ids, offsets, lengths  # sorted by id

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, video_id: str) -> bool:
        return self._find(video_id) is not None

    def entry(self, video_id: str) -> Any:
        """The decoded entry of `video_id`; `InputError` when its JSON is malformed, KeyError
        when the file has no such entry."""
        i = self._find(video_id)
        if i is None:
            raise KeyError(video_id)
        with open(self.path, "rb") as f:
            f.seek(int(self._offsets[i]))
            raw = f.read(int(self._lengths[i]))
        try:
            value, _end = json.JSONDecoder().raw_decode(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            problem = getattr(err, "msg", None) or type(err).__name__
            raise InputError(
                self.path,
                f"cannot be read at entry {video_id!r} ({problem}); its captions are ignored",
            ) from None
        return value

    def _find(self, video_id: str) -> int | None:
        key = video_id.encode("utf-8")
        i = int(np.searchsorted(self._ids, key))
        return i if i < len(self._ids) and self._ids[i] == key else None


def open_caption_index(path: str | Path, *, cache_dir: str | Path | None = None) -> CaptionIndex:
    """The index of `path`: from `cache_dir` when it is there for this very file (size and
    mtime), else built with one pass (and saved to `cache_dir` when given). `InputError` when
    the file is not a JSON object."""
    path = Path(path)
    stat = path.stat()
    stamp = np.array([stat.st_size, stat.st_mtime_ns], dtype=np.int64)
    cached = Path(cache_dir) / INDEX_FILE if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as npz:
                if np.array_equal(npz["stamp"], stamp) and npz["path"].item() == str(path):
                    return CaptionIndex(path, npz["ids"], npz["offsets"], npz["lengths"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt
    index = build_caption_index(path)
    if cached is not None:
        arrays = {"ids": index._ids, "offsets": index._offsets, "lengths": index._lengths}
        # a full or read-only workspace: the index still works, and is rebuilt next run
        with contextlib.suppress(OSError):
            atomic_write(
                cached, lambda f: np.savez(f, stamp=stamp, path=np.array(str(path)), **arrays)
            )
    return index


def build_caption_index(path: Path) -> CaptionIndex:
    """One pass over the file (bounded memory); a repeated id keeps its last entry, as
    `json.load` would."""
    ids: list[bytes] = []
    key_starts: list[np.ndarray] = []
    value_starts: list[np.ndarray] = []
    with open(path, "rb") as f:
        _check_object(f.read(OVERLAP_BYTES), path)
        f.seek(0)
        for keys, quotes, braces in _scan_keys(f):
            ids.extend(keys)
            key_starts.append(quotes)
            value_starts.append(braces)
    size = os.path.getsize(path)
    if not ids:
        empty = np.zeros(0, np.int64)
        return CaptionIndex(path, np.array([], dtype="S1"), empty, empty)
    offsets = np.concatenate(value_starts)
    ends = np.append(np.concatenate(key_starts)[1:], size)
    id_array = np.array(ids, dtype=bytes)
    del ids
    order = np.argsort(id_array, kind="stable")
    sorted_ids = id_array[order]
    keep = order[np.append(sorted_ids[1:] != sorted_ids[:-1], True)]  # the last of equal ids
    return CaptionIndex(path, id_array[keep], offsets[keep], (ends - offsets)[keep])


def _check_object(head: bytes, path: Path) -> None:
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first != b"{":
        got = "a list" if first == b"[" else "not a JSON object"
        raise InputError(path, f"expected an object {{video_id: {{start, end, text}}}}, got {got}")


def _scan_keys(f):
    """Per chunk: (key bytes, file offsets of their opening quotes, of their values' `{`) for
    every key whose value is an object, in file order."""
    buf, base, scanned = b"", 0, 0  # buf[0] is at file offset `base`; keys before `scanned` done
    while True:
        chunk = f.read(CHUNK_BYTES)
        buf += chunk
        limit = len(buf) if not chunk else len(buf) - OVERLAP_BYTES
        quotes, ends, braces = _keys_in(buf, scanned, limit)
        keys = [buf[q + 1 : e] for q, e in zip(quotes.tolist(), ends.tolist(), strict=True)]
        keys = [json.loads(b'"' + k + b'"').encode() if b"\\" in k else k for k in keys]
        yield keys, quotes + base, braces + base
        if not chunk:
            return
        cut = max(0, limit - OVERLAP_BYTES)
        buf, base, scanned = buf[cut:], base + cut, limit - cut


def _keys_in(buf: bytes, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Opening quotes, closing quotes and value braces of the keys whose `{` lies in
    [start, stop). `{` is rare in caption text, so numpy finds every brace at memory speed and
    keeps those right after `":` or `": `; a regex or a Python loop over every quote of a
    multi-GB file is what made this slow."""
    data = np.frombuffer(buf, dtype=np.uint8)
    braces = np.flatnonzero(data[start:stop] == ord("{")) + start
    braces = braces[braces >= 3]
    before = data[braces - 1]
    colons = np.where(before == ord(":"), braces - 1, braces - 2)
    ok = (data[colons] == ord(":")) & ((before == ord(":")) | (before == ord(" ")))
    ok &= data[colons - 1] == ord('"')
    ends, braces = colons[ok] - 1, braces[ok]
    if len(ends) == 0:
        return _keys_by_regex(buf, start, stop)
    escaped = np.flatnonzero(data[ends - 1] == ord("\\"))  # maybe `\\": {` inside caption text
    text = [i for i in escaped.tolist() if _escaped(buf, int(ends[i]))]
    if text:
        ends, braces = np.delete(ends, text), np.delete(braces, text)
    quotes = _opening_quotes(buf, data, ends)
    found = quotes >= 0  # a key cut off at the start of the buffer is longer than any video id
    return quotes[found], ends[found], braces[found]


def _opening_quotes(buf: bytes, data: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The quote that opens each key: the nearest one before its closing quote (looked up
    KEY_LOOKBACK bytes at a time for all keys at once; longer keys one by one)."""
    back = np.maximum(ends[:, None] - np.arange(1, KEY_LOOKBACK + 1), 0)  # (keys, KEY_LOOKBACK)
    is_quote = data[back] == ord('"')
    quotes = ends - 1 - is_quote.argmax(axis=1)
    for i in np.flatnonzero(~is_quote.any(axis=1)).tolist():
        quotes[i] = buf.rfind(b'"', 0, int(ends[i]))
    return quotes


def _keys_by_regex(buf: bytes, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same for other whitespace around the colon (`"id" :\\n {`): slower, rarely needed."""
    found = []
    for match in _KEY_END.finditer(buf, max(0, start - 64), stop):
        brace = match.end() - 1
        if not start <= brace < stop or _escaped(buf, match.start()):
            continue
        quote = buf.rfind(b'"', 0, match.start())
        if quote >= 0:
            found.append((quote, match.start(), brace))
    arrays = np.array(found, dtype=np.int64).reshape(-1, 3)
    return arrays[:, 0], arrays[:, 1], arrays[:, 2]


def _escaped(buf: bytes, quote: int) -> bool:
    """True when the quote at `quote` follows an odd number of backslashes (it is text)."""
    n = 0
    while quote - n - 1 >= 0 and buf[quote - n - 1] == 0x5C:
        n += 1
    return n % 2 == 1
