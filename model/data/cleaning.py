"""Caption cleaning as clip-italian did for WIT: drop captions made mostly of proper nouns,
captions too short or too long, and exact duplicates; report what was dropped.

Proper nouns are found with spaCy's Italian tagger when a model (`it_core_news_sm` or larger)
is installed. Otherwise a heuristic: a word is a proper noun when it is capitalised and not the
first word of the caption, or when it is capitalised first word that is not a common Italian
sentence opener (articles, prepositions, ...). Captions written in capitals count no proper
nouns (case carries no information there). Numbers and punctuation do not count as words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sguardo.model.data.records import ImageCaptions

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
# Capitalised first words that are ordinary Italian, not names.
_OPENERS = {
    "un",
    "uno",
    "una",
    "il",
    "lo",
    "la",
    "i",
    "gli",
    "le",
    "l",
    "di",
    "del",
    "della",
    "dei",
    "in",
    "con",
    "su",
    "sul",
    "sulla",
    "per",
    "tra",
    "fra",
    "da",
    "dal",
    "dalla",
    "a",
    "al",
    "alla",
    "questo",
    "questa",
    "due",
    "tre",
    "quattro",
    "cinque",
    "molti",
    "molte",
    "alcuni",
    "alcune",
    "ci",
    "c",
    "e",
    "ecco",
    "foto",
    "immagine",
    "primo",
    "vista",
    "persone",
    "persona",
    "uomo",
    "donna",
    "ragazzo",
    "ragazza",
    "bambino",
    "bambina",
    "cane",
    "gatto",
    "grande",
    "piccolo",
    "piccola",
    "vecchio",
    "vecchia",
    "dentro",
    "sopra",
    "sotto",
    "davanti",
    "vicino",
}


def heuristic_proper_noun_share(caption: str) -> float:
    words = _WORD.findall(caption)
    if not words:
        return 0.0
    if sum(w.isupper() and len(w) > 1 for w in words) > len(words) / 2:
        return 0.0  # written in capitals: case says nothing about names
    proper = 0
    for i, word in enumerate(words):
        if not word[0].isupper():
            continue
        base = re.split(r"['’]", word)[0].lower()
        if i > 0 or base not in _OPENERS:
            proper += 1
    return proper / len(words)


def spacy_proper_noun_share() -> Callable[[str], float] | None:
    """A POS-tagger-based share function, or None when no Italian spaCy model is installed."""
    try:
        import spacy
    except ImportError:
        return None
    for name in ("it_core_news_lg", "it_core_news_md", "it_core_news_sm"):
        try:
            nlp = spacy.load(name, disable=["parser", "ner", "lemmatizer"])
        except OSError:
            continue

        def share(caption: str, nlp=nlp) -> float:
            tokens = [t for t in nlp(caption) if t.is_alpha]
            return sum(t.pos_ == "PROPN" for t in tokens) / len(tokens) if tokens else 0.0

        return share
    return None


@dataclass
class CleaningReport:
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    images_without_captions: int = 0
    tagger: str = "heuristic"

    def note(self, reason: str, caption: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(caption)

    def merge(self, other: CleaningReport) -> None:
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.images_without_captions += other.images_without_captions
        for reason, examples in other.examples.items():
            self.examples.setdefault(reason, []).extend(
                examples[: 5 - len(self.examples.get(reason, []))]
            )

    def as_dict(self) -> dict:
        return {
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "images_without_captions": self.images_without_captions,
            "tagger": self.tagger,
            "examples": self.examples,
        }


@dataclass
class CaptionFilter:
    min_words: int = 3
    max_words: int = 60
    max_proper_noun_share: float = 0.8
    use_tagger: bool = True
    # Captions generated from labels repeat across images of a class by design: for such
    # sources only duplicates within one image are dropped.
    dedupe_across_images: bool = True

    def clean(self, records: Sequence[ImageCaptions]) -> tuple[list[ImageCaptions], CleaningReport]:
        share = spacy_proper_noun_share() if self.use_tagger else None
        report = CleaningReport(tagger="spacy" if share else "heuristic")
        share = share or heuristic_proper_noun_share
        seen: set[str] = set()
        cleaned = []
        for record in records:
            if not self.dedupe_across_images:
                seen = set()
            kept = []
            for caption in record.captions:
                reason = self._reason(caption, seen, share)
                if reason:
                    report.note(reason, caption)
                    continue
                seen.add(" ".join(caption.split()).lower())
                kept.append(caption)
            report.kept += len(kept)
            if kept:
                cleaned.append(record.with_captions(tuple(kept)))
            else:
                report.images_without_captions += 1
        return cleaned, report

    def _reason(self, caption: str, seen: set[str], share: Callable[[str], float]) -> str | None:
        words = len(caption.split())
        if words < self.min_words:
            return "too_short"
        if words > self.max_words:
            return "too_long"
        if " ".join(caption.split()).lower() in seen:
            return "duplicate"
        if share(caption) >= self.max_proper_noun_share:
            return "proper_nouns"
        return None
