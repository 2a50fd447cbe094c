"""Caption cleaning on real MSCOCO-IT captions and WIT-like proper-noun captions."""

from __future__ import annotations

from pathlib import Path

from sguardo.model.data.cleaning import CaptionFilter, heuristic_proper_noun_share
from sguardo.model.data.readers import read_coco_captions
from sguardo.model.data.records import ImageCaptions


def test_real_captions_are_kept(shared_data: Path, tmp_path: Path) -> None:
    records = read_coco_captions(
        shared_data / "mscoco-it/captions_ita_testset_unvalidated.json.gz", tmp_path
    )
    total = sum(len(r.captions) for r in records)
    cleaned, report = CaptionFilter(use_tagger=False).clean(records)
    # Real descriptive captions: only exact duplicates (and a handful of others) go.
    assert report.kept > 0.98 * total
    assert report.dropped["duplicate"] > 0
    assert report.kept + sum(report.dropped.values()) == total
    assert len(cleaned) == len(records) - report.images_without_captions


def test_proper_noun_captions_dropped() -> None:
    assert heuristic_proper_noun_share("Giovanni Paolo II a Varsavia") >= 0.8
    assert heuristic_proper_noun_share("Un cane corre nel parco di Milano") < 0.2
    assert heuristic_proper_noun_share("UN CANE CORRE NEL PARCO") == 0.0
    records = [
        ImageCaptions("a.jpg", ("Roma, Piazza Navona", "una piazza con una fontana")),
        ImageCaptions("b.jpg", ("Stazione Termini", "ok")),
        ImageCaptions("c.jpg", ("una piazza con una fontana",)),
    ]
    cleaned, report = CaptionFilter(min_words=2, use_tagger=False).clean(records)
    assert [r.captions for r in cleaned] == [("una piazza con una fontana",)]
    assert report.dropped == {"proper_nouns": 2, "too_short": 1, "duplicate": 1}
    assert report.images_without_captions == 2
    assert report.as_dict()["examples"]["proper_nouns"] == [
        "Roma, Piazza Navona",
        "Stazione Termini",
    ]


def test_label_captions_keep_every_image_of_a_class() -> None:
    records = [
        ImageCaptions(f"{i}.jpg", ("una foto di un gatto", "una foto di un gatto"))
        for i in range(3)
    ]
    cleaned, report = CaptionFilter(dedupe_across_images=False, use_tagger=False).clean(records)
    assert len(cleaned) == 3 and report.dropped == {"duplicate": 3}
    cleaned, _ = CaptionFilter(use_tagger=False).clean(records)
    assert len(cleaned) == 1
