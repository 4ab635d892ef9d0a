"""Text of subtitle files: decoding bytes (BOMs, fallbacks) and cleaning cue text.

Cleaning happens in a fixed order, because each step must not eat what a later one needs:
  1. markup (WebVTT / SRT only): known tags are removed (`<c>`, `<i>`, `<v Bob>`, `<font ...>`,
     inline `<00:00:01.500>` times, ruby readings), then SSA override blocks (`{\\an8}`) and
     `\\h` / `\\N`; entities (`&lt;`, `&amp;`) are unescaped only *after* the tags are gone, so
     `x &lt; 5 and y &gt; 3` stays text, and a bare `<` or `>` is never taken for a tag;
  2. labels (every source): sound labels `[Music]`, `[ Bats Screeching ]`, all-capital
     `(LAUGHS)`, speaker changes `>>`, speaker names `ALICE:` / `MAN 1:` at a line start, a
     dialogue dash `- ` at a line start and music notes;
  3. whitespace collapsed to single spaces.
JSON captions (HowTo100M) carry no markup: only steps 2 and 3 apply to them.
"""

from __future__ import annotations

import codecs
import html
import io
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

Warn = Callable[[str], None]

# BOMs, longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # tried, with a warning, when a file is not UTF-8
SNIFF_BYTES = 4096  # bytes looked at to spot BOM-less UTF-16 (every other byte NUL)
CHECK_CHUNK = 1 << 20  # bytes decoded at a time when checking an encoding (bounded memory)

_TAGS = r"""
      </?(?:c|i|b|u|s|ruby|rt|rp|em|strong)(?:\.[\w-]+)*\s*>        # plain / class tags
    | </?(?:v|lang)(?:\.[\w-]+)*(?:\s[^<>\n]*)?>                      # <v Bob>, <lang en>
    | </?(?:font|span)(?:\s+[\w-]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s<>]+))*\s*>  # attributes
    | <br\s*/?>
"""
_TIMES = r"| <(?:\d+:)?\d{1,2}:\d{2}\.\d{1,3}>  # YouTube word times"
_TAG = re.compile(_TAGS + _TIMES, re.X | re.I)
_TAG_BUT_TIMES = re.compile(_TAGS, re.X | re.I)
_RUBY_TEXT = re.compile(r"<rt(?:\.[\w-]+)*\s*>.*?</rt\s*>", re.I | re.S)  # reading, not speech
_SSA_OVERRIDE = re.compile(r"\{\\[^{}]*\}")  # {\an8}, {\i1}, {\pos(10,20)}
_SSA_BREAK = re.compile(r"\\[hNn]")  # \h hard space, \N \n hard line breaks
_INVISIBLE = dict.fromkeys([0x200B, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0xFEFF])
_HAS_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\ufeff]")
_BRACKET_LABEL = re.compile(r"\[[^\[\]\n]*\]")  # [Music], [Applause], [llora]
_CAPS_LABEL = re.compile(r"\([^()a-z\n]*[A-Z][^()a-z\n]*\)")  # (LAUGHS), (DOOR SLAMS)
_CHEVRONS = re.compile(r"(?:^|(?<=\s))>{2,}(?=\s|$)", re.M)  # >> speaker change
_SPEAKER = re.compile(r"^(\s*(?:-\s*)?)([^\s:\[\]()][^:\n]{0,30}):(?=\s|$)", re.M)
_DIALOGUE_DASH = re.compile(r"^\s*-\s+", re.M)
_MUSIC = re.compile(r"[♪♫♩♬]+")
_WORDY = re.compile(r"\w")
# a line without any of these needs no cleaning beyond whitespace (most lines: the fast path)
_SPECIAL = re.compile(r"[<&{}\\\[(>:♪♫\u200b\u200e\u200f\u202a-\u202e\ufeff]|^\s*-", re.M)


def strip_markup(text: str, *, keep_times: bool = False) -> str:
    """WebVTT/SRT markup out, entities unescaped afterwards: '<i>a</i> &lt; b' -> 'a < b'.
    `keep_times`: leave YouTube's inline `<00:00:01.500>` word times in."""
    if "<" in text:
        text = (_TAG_BUT_TIMES if keep_times else _TAG).sub("", _RUBY_TEXT.sub("", text))
    if "{" in text:
        text = _SSA_OVERRIDE.sub("", text)
    if "\\" in text:
        text = _SSA_BREAK.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text.translate(_INVISIBLE) if _HAS_INVISIBLE.search(text) else text


def strip_labels(text: str) -> str:
    """Sound and speaker labels out (line starts kept, so this runs before lines are joined)."""
    if "[" in text:
        text = _BRACKET_LABEL.sub(" ", text)
    if "(" in text:
        text = _CAPS_LABEL.sub(" ", text)
    if ">>" in text:
        text = _CHEVRONS.sub(" ", text)
    if ":" in text:
        text = _SPEAKER.sub(_drop_speaker, text)
    if "-" in text:
        text = _DIALOGUE_DASH.sub("", text)
    if "♪" in text or "♫" in text:
        text = _MUSIC.sub(" ", text)
    return text


def _drop_speaker(match: re.Match) -> str:
    name = match.group(2)
    # only names in capitals ("ALICE:", "MAN 1:"): "Note: stir" is speech
    is_name = name.isupper() and sum(ch.isalpha() for ch in name) >= 2
    return match.group(1) if is_name else match.group(0)


def clean_text(text: str, *, markup: bool = True) -> str:
    """One cue's text as plain words on one line (`markup=False` for JSON captions)."""
    if not _SPECIAL.search(text):
        return " ".join(text.split())
    if markup:
        text = strip_markup(text)
    return " ".join(strip_labels(text).split())


def has_words(text: str) -> bool:
    """False for near-empty fragments ('-', '...', '♪'): nothing a narrator said."""
    return bool(_WORDY.search(text))


# -- decoding ----------------------------------------------------------------------------------
# A subtitle file is decoded from its bytes in memory or straight from its path, a chunk at a
# time: a 50 MB file is never held whole (nor twice, as bytes and as text).
Source = bytes | Path


def chunks(source: Source) -> Iterator[bytes]:
    """The bytes of `source` in pieces of at most `CHECK_CHUNK`."""
    if isinstance(source, bytes):
        for offset in range(0, len(source), CHECK_CHUNK):
            yield source[offset : offset + CHECK_CHUNK]
        return
    with open(source, "rb") as f:
        while chunk := f.read(CHECK_CHUNK):
            yield chunk


def _head(source: Source, size: int) -> bytes:
    if isinstance(source, bytes):
        return source[:size]
    with open(source, "rb") as f:
        return f.read(size)


def detect_encoding(source: Source, path: str | Path, *, warn: Warn) -> tuple[str, int]:
    """(encoding, bytes to skip): a BOM wins; then BOM-less UTF-16 (NUL bytes); then UTF-8;
    then cp1252 and latin-1 with one warning naming the file (latin-1 never fails)."""
    head = _head(source, SNIFF_BYTES)
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    if head.count(0) * 4 >= len(head):  # ASCII text in UTF-16: every other byte is NUL
        encoding = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        if _first_error(chunks(source), encoding) is None:
            return encoding, 0
    bad = _first_error(chunks(source), "utf-8")
    if bad is None:
        return "utf-8", 0
    for encoding in FALLBACK_ENCODINGS:
        if _first_error(chunks(source), encoding) is None:
            warn(f"{path}: not UTF-8 (byte {bad}); decoded as {encoding}")
            return encoding, 0
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def decode_text(source: Source, path: str | Path, *, warn: Warn) -> str:
    """The whole file as one string (for small files such as JSON subtitles)."""
    encoding, skip = detect_encoding(source, path, warn=warn)
    data = source if isinstance(source, bytes) else source.read_bytes()
    return data[skip:].decode(encoding)


def iter_lines(source: Source, path: str | Path, *, warn: Warn) -> Iterator[str]:
    """The file's lines without line endings (LF, CRLF or CR), decoded a chunk at a time so a
    50 MB file never exists as one big string (and, read from its path, never as bytes)."""
    encoding, skip = detect_encoding(source, path, warn=warn)
    # a BytesIO over bytes shares their buffer (over a memoryview it would copy it)
    raw = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    with raw:
        raw.seek(skip)
        for line in io.TextIOWrapper(raw, encoding=encoding, newline=None):
            yield line.rstrip("\n")


def is_blank(source: Source) -> bool:
    """True when the file holds nothing but ASCII whitespace."""
    return not any(chunk.strip() for chunk in chunks(source))


def _first_error(pieces: Iterable[bytes], encoding: str) -> int | None:
    """Offset of the first byte `encoding` cannot decode, or None when all of it decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    for piece in pieces:
        try:
            decoder.decode(piece)
        except UnicodeDecodeError as err:
            # the error's bytes are what the decoder held back plus this piece
            return offset + len(piece) - len(err.object) + err.start
        offset += len(piece)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        return offset - len(err.object) + err.start
    return None
