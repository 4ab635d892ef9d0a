"""An entity vocabulary mined from a dataset's own transcripts, and its text prompts.

No NLP package: a noun phrase is taken to be what follows a determiner ("the", "a", "some",
"your"...) up to the next function word or punctuation, at most `MAX_PHRASE_WORDS` words
("crack the eggs into the yellow bowl" -> "eggs", "yellow bowl"); each phrase's last word (its
head noun, "bowl") is a candidate too. Candidates are ranked by how many videos say them;
those said in at least `MIN_VIDEOS` videos are kept. Instructional narration names its objects
after a determiner almost always, so this light rule finds them without part-of-speech tags.

A user list (one entity per line, `#` comments) is added in front of the mined entities.
Every entity becomes the prompt "a video of {entity}" (ALPRO's prompter template).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from aligner.errors import InputError

PROMPT_TEMPLATE = "a video of {entity}"  # ALPRO's entity prompt
MAX_PHRASE_WORDS = 3  # words of a noun phrase after its determiner
MIN_VIDEOS = 2  # a mined entity is said in at least this many videos
MAX_ENTITIES = 200  # mined entities kept (most widely said first)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DETERMINERS = _words("the a an some your my our his her their this that these those any each every")
# function words, pronouns, fillers and the commonest verbs/adverbs of narration: they end a
# phrase and are never an entity
STOPWORDS = DETERMINERS | _words(
    """
    i me we us you he she it they them him what which who whom whose when where why how
    is are was were be been being am do does did doing have has had having will would shall
    should can could may might must not no nor and or but if then else so than too very just
    of in on at by for with about against between into through during before after above below
    to from up down out off over under again further once here there all both few more most
    other such own same only also now next first last well really okay ok oh hi hello yes
    let lets get got go going make made put take like want see look know think need use using
    until while because as one two three little lot bit way thing things something everything
    nice good great pretty simple sure favourite favorite gently slowly carefully neatly
    couple few straight back away around together again always never ever still even
    """
)
_WORD = re.compile(r"[a-z][a-z'-]*|[^\sa-z]")


def prompt(entity: str) -> str:
    """The text prompt of an entity: "a video of {entity}"."""
    return PROMPT_TEMPLATE.format(entity=entity)


def noun_phrases(sentence: str) -> list[str]:
    """Determiner-led phrases of one sentence (lower case), e.g. ["eggs", "yellow bowl"]."""
    tokens = _WORD.findall(sentence.lower())
    phrases = []
    for i, tok in enumerate(tokens):
        if tok not in DETERMINERS:
            continue
        words = []
        for nxt in tokens[i + 1 : i + 1 + MAX_PHRASE_WORDS]:
            if not nxt[0].isalpha() or nxt in STOPWORDS or "'" in nxt:
                break
            words.append(nxt)
        if words:
            phrases.append(" ".join(words))
    return phrases


def candidates(sentence: str) -> set[str]:
    """The phrases of a sentence and their head nouns (last words)."""
    out = set()
    for phrase in noun_phrases(sentence):
        out.add(phrase)
        out.add(phrase.split()[-1])
    return out


def mine_entities(
    transcripts: Iterable[tuple[str, str]],
    *,
    min_videos: int = MIN_VIDEOS,
    max_entities: int = MAX_ENTITIES,
) -> list[str]:
    """Entities from `(video_id, sentence text)` pairs: candidates said in at least
    `min_videos` videos, most widely said first (ties alphabetical)."""
    seen: dict[str, set[str]] = {}
    for video_id, text in transcripts:
        for cand in candidates(text):
            seen.setdefault(cand, set()).add(video_id)
    counts = Counter({c: len(v) for c, v in seen.items() if len(v) >= min_videos})
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    return ranked[:max_entities]


def read_entity_list(path: str | Path) -> list[str]:
    """A user's entity list: one per line, blank lines and `#` comments ignored."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "entity list not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(path, "entity list is not UTF-8 text") from None
    out = [" ".join(line.split("#", 1)[0].lower().split()) for line in lines]
    return [e for e in out if e]


def build_vocabulary(
    transcripts: Iterable[tuple[str, str]],
    user: Iterable[str] = (),
    *,
    mine: bool = True,
    max_entities: int = MAX_ENTITIES,
) -> list[str]:
    """User entities first (in their order), then the mined ones; no duplicates."""
    entities = list(dict.fromkeys(user))
    if mine:
        mined = mine_entities(transcripts, max_entities=max_entities)
        entities += [e for e in mined if e not in entities]
    return entities


def mentions(text: str, entities: list[str]) -> list[int]:
    """Indices of the entities a sentence names (whole words, lower case)."""
    padded = " " + " ".join(_WORD.findall(text.lower())) + " "
    return [i for i, e in enumerate(entities) if f" {e} " in padded]
