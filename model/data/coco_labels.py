"""Italian captions from object labels ("una foto con un cane e due persone"), for image sets
such as coco128 that have YOLO boxes but no captions."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from sguardo.model.data.records import ImageCaptions

_NUMBERS = [
    "zero",
    "uno",
    "due",
    "tre",
    "quattro",
    "cinque",
    "sei",
    "sette",
    "otto",
    "nove",
    "dieci",
]
# Feminine nouns that do not end in -a, and nouns whose plural is the singular.
_FEMININE = {"automobile", "moto", "forbici"}
_INVARIANT = {
    "moto",
    "autobus",
    "camion",
    "sci",
    "frisbee",
    "snowboard",
    "skateboard",
    "hot",
    "mouse",
    "water",
    "broccoli",
    "forbici",
    "computer",
}
_VOWELS = "aeiouàèéìòù"
# Phrases whose singular or plural no rule above gets right.
_SINGULAR = {"forbici": "un paio di forbici", "broccoli": "dei broccoli"}
_PLURAL = {
    "computer portatile": "computer portatili",
    "tostapane": "tostapane",
    "forbici": "paia di forbici",
}


def is_feminine(noun: str) -> bool:
    head = noun.split()[0]
    return head in _FEMININE or (head.endswith("a") and head not in _INVARIANT)


def indefinite(noun: str) -> str:
    """`un cane`, `uno zaino`, `una mela`, `un'automobile`."""
    if noun in _SINGULAR:
        return _SINGULAR[noun]
    head = noun.split()[0]
    if is_feminine(noun):
        return f"un'{noun}" if head[0] in _VOWELS else f"una {noun}"
    impure = (
        head[0] in "zxy"
        or head[:2] in ("gn", "ps", "pn")
        or (head[0] == "s" and len(head) > 1 and head[1] not in _VOWELS)
    )
    return f"uno {noun}" if impure else f"un {noun}"


def plural(noun: str) -> str:
    """Regular Italian plural of the head word; the rest of the phrase is kept."""
    if noun in _PLURAL:
        return _PLURAL[noun]
    head, *rest = noun.split(" ", 1)
    if head in _INVARIANT or head[-1] not in "aeo":
        new = head
    elif head.endswith(("ca", "ga")):
        new = head[:-1] + "he"
    elif head.endswith(("cia", "gia")) and len(head) > 4 and head[-4] not in _VOWELS:
        new = head[:-2] + "e"
    elif head.endswith("io"):
        new = head[:-1]
    elif head.endswith("a") and not is_feminine(noun):
        new = head[:-1] + "i"
    elif head.endswith("a"):
        new = head[:-1] + "e"
    else:
        new = head[:-1] + "i"
    return " ".join([new, *rest])


def describe(counts: Counter[str], prefix: str = "una foto con ") -> str:
    """`una foto con un cane e due persone`: most frequent objects first."""
    phrases = []
    for noun, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n == 1:
            phrases.append(indefinite(noun))
        else:
            number = _NUMBERS[n] if n < len(_NUMBERS) else str(n)
            phrases.append(f"{number} {plural(noun)}")
    if not phrases:
        return prefix.rstrip() + " nessun oggetto"
    body = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " e " + phrases[-1]
    return prefix + body


def read_class_names(path: str | Path, column: str = "italian") -> dict[int, str]:
    with Path(path).open(newline="") as handle:
        return {int(row["id"]): row[column] for row in csv.DictReader(handle, delimiter="\t")}


CAPTION_PREFIXES = ("una foto con ", "un'immagine con ", "una fotografia che mostra ")


def read_yolo_labelled_images(
    images: str | Path,
    labels: str | Path,
    classes: str | Path,
    *,
    prefixes: tuple[str, ...] = CAPTION_PREFIXES,
    max_objects: int = 4,
) -> list[ImageCaptions]:
    """One record per image of `images` that has a label file in `labels` (YOLO: `class cx cy w
    h` per line); captions name its `max_objects` most frequent classes, one per prefix."""
    names = read_class_names(classes)
    records = []
    for image in sorted(Path(images).glob("*.jpg")):
        label_file = Path(labels) / f"{image.stem}.txt"
        if not label_file.is_file():
            continue
        counts: Counter[str] = Counter(
            names[int(line.split()[0])]
            for line in label_file.read_text().splitlines()
            if line.strip()
        )
        top = Counter(dict(counts.most_common(max_objects)))
        records.append(ImageCaptions(image, tuple(describe(top, p) for p in prefixes)))
    return records
