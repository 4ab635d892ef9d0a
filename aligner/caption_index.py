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

import json
import os
import re
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from aligner.atomic import atomic_write
from aligner.errors import InputError

CHUNK_BYTES = 16 << 20  # read this much at a time while indexing
OVERLAP_BYTES = 4096  # kept from the previous chunk: a video id is never this long
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
        atomic_write(cached, lambda f: np.savez(f, stamp=stamp, path=np.array(str(path)), **arrays))
    return index


def build_caption_index(path: Path) -> CaptionIndex:
    """One pass over the file (bounded memory); a repeated id keeps its last entry, as
    `json.load` would."""
    ids: list[bytes] = []
    key_starts, value_starts = array("q"), array("q")
    with open(path, "rb") as f:
        _check_object(f.read(OVERLAP_BYTES), path)
        f.seek(0)
        for key, key_start, value_start in _scan_keys(f):
            ids.append(key)
            key_starts.append(key_start)
            value_starts.append(value_start)
    size = os.path.getsize(path)
    offsets = np.frombuffer(value_starts, dtype=np.int64) if ids else np.zeros(0, np.int64)
    ends = np.append(np.frombuffer(key_starts, dtype=np.int64)[1:], size) if ids else offsets
    id_array = np.array(ids, dtype=bytes) if ids else np.array([], dtype="S1")
    order = np.argsort(id_array, kind="stable")
    sorted_ids = id_array[order]
    last = np.append(sorted_ids[1:] != sorted_ids[:-1], True) if ids else np.zeros(0, bool)
    keep = order[last]
    return CaptionIndex(path, id_array[keep], offsets[keep], (ends - offsets)[keep])


def _check_object(head: bytes, path: Path) -> None:
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first != b"{":
        got = "a list" if first == b"[" else "not a JSON object"
        raise InputError(path, f"expected an object {{video_id: {{start, end, text}}}}, got {got}")


def _scan_keys(f):
    """(key bytes, offset of its opening quote, offset of its value's `{`) for every key whose
    value is an object, in file order."""
    buf, base, scanned = b"", 0, 0  # buf[0] is at file offset `base`; keys before `scanned` done
    while True:
        chunk = f.read(CHUNK_BYTES)
        buf += chunk
        limit = len(buf) if not chunk else len(buf) - OVERLAP_BYTES
        quotes, ends, braces = _keys_in(buf, scanned, limit)
        for quote, end, brace in zip(quotes, ends, braces, strict=True):
            key = buf[quote + 1 : end]
            if b"\\" in key:
                key = json.loads(b'"' + key + b'"').encode("utf-8")
            yield key, base + quote, base + brace
        if not chunk:
            return
        cut = max(0, limit - OVERLAP_BYTES)
        buf, base, scanned = buf[cut:], base + cut, limit - cut


def _keys_in(buf: bytes, start: int, stop: int) -> tuple[list[int], list[int], list[int]]:
    """Opening quotes, closing quotes and value braces of the keys whose `{` lies in
    [start, stop). `{` is rare in caption text, so numpy finds every brace at memory speed and
    keeps those right after `":` or `": `; a regex over every quote of a multi-GB file is
    what made this slow."""
    data = np.frombuffer(buf, dtype=np.uint8)
    braces = np.flatnonzero(data[start:stop] == ord("{")) + start
    braces = braces[braces >= 3]
    before = data[braces - 1]
    colons = np.where(before == ord(":"), braces - 1, braces - 2)
    ok = (data[colons] == ord(":")) & ((before == ord(":")) | (before == ord(" ")))
    colons, braces = colons[ok], braces[ok]
    ends = colons - 1
    ok = data[ends] == ord('"')
    ends, braces = ends[ok], braces[ok]
    if len(ends) == 0:
        return _keys_by_regex(buf, start, stop)
    ends_list = ends.tolist()
    keep = [not (buf[end - 1] == 0x5C and _escaped(buf, end)) for end in ends_list]  # `\\": {`
    quotes = [
        buf.rfind(b'"', 0, end) if ok else -1 for end, ok in zip(ends_list, keep, strict=True)
    ]
    kept = [i for i, quote in enumerate(quotes) if quote >= 0]
    braces_list = braces.tolist()
    return [quotes[i] for i in kept], [ends_list[i] for i in kept], [braces_list[i] for i in kept]


def _keys_by_regex(buf: bytes, start: int, stop: int) -> tuple[list[int], list[int], list[int]]:
    """The same for other whitespace around the colon (`"id" :\n {`): slower, rarely needed."""
    quotes, ends, braces = [], [], []
    for match in _KEY_END.finditer(buf, max(0, start - 64), stop):
        brace = match.end() - 1
        if not start <= brace < stop or _escaped(buf, match.start()):
            continue
        quote = buf.rfind(b'"', 0, match.start())
        if quote >= 0:
            quotes.append(quote), ends.append(match.start()), braces.append(brace)
    return quotes, ends, braces


def _escaped(buf: bytes, quote: int) -> bool:
    """True when the quote at `quote` follows an odd number of backslashes (it is text)."""
    n = 0
    while quote - n - 1 >= 0 and buf[quote - n - 1] == 0x5C:
        n += 1
    return n % 2 == 1
