"""A visual head fine-tuned for pointing: its dense map should peak on the object named.

The contrastive heads are trained on pooled features only, so nothing asks the per-location
projections (`DualEncoder.encode_image_dense`) to be high *where* a thing is: the dense map
of a phrase then lights up context as much as the object (the sky around a kite, the road
around a car). With the backbones frozen, this stage fine-tunes only the visual projection
on photos with object boxes (coco128's YOLO labels): for each class present, a softmax over
the map's locations of the phrase's standardised scores, and the loss is `-log` of the mass
that falls inside that class's boxes (a multiple-instance pointing loss: any location inside
any box will do). The text head stays as it is, and a drift penalty keeps the pooled image
embeddings where the contrastive stage put them, so search and zero-shot are unchanged
while the map learns to point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console
from rich.progress import Progress
from torch import nn

from sguardo.bundle.dense_grid import location_centres
from sguardo.bundle.pointing import read_yolo_boxes
from sguardo.model.dual_encoder import DualEncoder


@dataclass
class PointingConfig:
    steps: int = 300
    maps_per_step: int = 16
    lr: float = 3e-4
    temperature: float = 0.5  # of the softmax over standardised location scores
    drift_weight: float = 100.0  # × mean (1 - cosine) of pooled embeddings to the start's
    sides: tuple[int, ...] = (512, 768)  # short sides the training photos are seen at
    mirror: bool = True  # each side also mirrored
    max_side: int = 1024
    template: str = "una foto di {}."  # class name → phrase
    seed: int = 0


@dataclass(frozen=True)
class BoxedPhoto:
    image: Path
    boxes: dict[int, np.ndarray]  # class id → (n, 4) left, top, right, bottom in pixels


@dataclass
class PointingMap:
    """One photo at one size: its per-location backbone features and, for each class present,
    which locations fall inside that class's boxes (location centres, as the service puts
    them)."""

    features: torch.Tensor  # (locations, hidden), float16 to halve the memory
    inside: torch.Tensor  # (classes present, locations) bool
    classes: torch.Tensor  # (classes present,) class ids
    photo: int  # index of its photo in the list the maps were made from


@dataclass
class PointingResult:
    steps: int
    losses: list[float] = field(default_factory=list)  # pointing loss, every 10 steps


def read_boxed_photos(images_dir: Path, labels_dir: Path) -> list[BoxedPhoto]:
    """Every image of `images_dir` that has a non-empty YOLO label file, sorted by name."""
    photos = []
    for path in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in {".jpg", ".png"}):
        label_file = labels_dir / f"{path.stem}.txt"
        if not label_file.is_file():
            continue
        with Image.open(path) as image:
            width, height = image.size
        boxes = read_yolo_boxes(label_file, width, height)
        if boxes:
            photos.append(BoxedPhoto(path, boxes))
    return photos


@torch.inference_mode()
def pointing_maps(
    model: DualEncoder,
    photos: Sequence[BoxedPhoto],
    sides: Sequence[int],
    *,
    mirror: bool = False,
    max_side: int = 1024,
    label: str = "feature maps",
    progress: bool = True,
) -> list[PointingMap]:
    """The backbone's feature map of each photo at each short side (and mirrored), through the
    same whole-image preprocessing as the service's dense graph."""
    stride = model.vision_tower.dense_stride
    preprocessor = model.image_preprocessor
    maps: list[PointingMap] = []
    flips = (False, True) if mirror else (False,)
    # On stderr: stdout may be a `--json` report.
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task(label, total=len(photos) * len(sides) * len(flips))
        for index, photo in enumerate(photos):
            with Image.open(photo.image) as opened:
                image = opened.convert("RGB")
            width, height = image.size
            for side in sides:
                pixels = preprocessor.whole_to_array(image, side, max_side)
                for flip in flips:
                    array = np.ascontiguousarray(pixels[:, :, ::-1]) if flip else pixels
                    fmap = model.vision_tower.forward_dense(torch.from_numpy(array[None]))[0]
                    rows, cols, hidden = fmap.shape
                    ys = location_centres(rows, stride, array.shape[1]) * height
                    xs = location_centres(cols, stride, array.shape[2])
                    xs = (1 - xs if flip else xs) * width
                    classes = sorted(photo.boxes)
                    inside = np.stack([_inside(photo.boxes[c], ys, xs) for c in classes])
                    maps.append(
                        PointingMap(
                            features=fmap.reshape(-1, hidden).to(torch.float16).clone(),
                            inside=torch.from_numpy(inside.reshape(len(classes), -1)),
                            classes=torch.tensor(classes),
                            photo=index,
                        )
                    )
                    bar.advance(task)
    return maps


def _inside(boxes: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(rows, cols): location centres inside any of the boxes."""
    mask = np.zeros((len(ys), len(xs)), dtype=bool)
    for left, top, right, bottom in boxes:
        mask |= ((ys >= top) & (ys <= bottom))[:, None] & ((xs >= left) & (xs <= right))[None]
    return mask


def pooled_features(maps: Sequence[PointingMap]) -> torch.Tensor:
    """(maps, hidden): each map's mean, which is what the pooled graph embeds."""
    return torch.stack([m.features.float().mean(0) for m in maps])


def pointing_loss(scores: torch.Tensor, inside: torch.Tensor, temperature: float) -> torch.Tensor:
    """`scores` (locations, classes), `inside` (classes, locations): mean over classes of
    `-log` of the softmax mass (over locations, of standardised scores) inside the boxes."""
    z = (scores - scores.mean(0)) / (scores.std(0) + 1e-6) / temperature
    log_p = torch.log_softmax(z.T, dim=-1)
    return -torch.logsumexp(log_p.masked_fill(~inside, float("-inf")), dim=-1).mean()


def train_pointing_head(
    head: nn.Linear,
    maps: Sequence[PointingMap],
    class_embeddings: torch.Tensor,
    config: PointingConfig,
    anchors: torch.Tensor | None = None,
) -> PointingResult:
    """Fine-tune `head` (a model's `visual_projection`) in place. `class_embeddings`
    (class ids, embed_dim): each class's phrase through the (fixed) text head; `anchors`
    (n, hidden): pooled features whose embeddings must not drift [default: the maps' own].
    Classes whose boxes hold no location centre (objects smaller than a stride) are left out."""
    usable = []
    for m in maps:
        keep = m.inside.any(dim=1)
        if keep.any():
            usable.append((m.features, m.inside[keep], m.classes[keep]))
    if not usable:
        raise ValueError("no feature map has a class whose boxes hold a location")
    anchors = pooled_features(maps) if anchors is None else anchors
    start = F.normalize(anchors @ head.weight.detach().T, dim=-1)
    texts = class_embeddings.detach().float()
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr)
    result = PointingResult(steps=config.steps)
    with torch.enable_grad():
        for step in range(config.steps):
            picks = torch.randint(len(usable), (config.maps_per_step,), generator=generator)
            point = torch.stack(
                [
                    pointing_loss(head(feats.float()) @ texts[cls].T, inside, config.temperature)
                    for feats, inside, cls in (usable[i] for i in picks.tolist())
                ]
            ).mean()
            drift = (1 - (F.normalize(head(anchors), dim=-1) * start).sum(-1)).mean()
            loss = point + config.drift_weight * drift
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % 10 == 0 or step == config.steps - 1:
                result.losses.append(float(point.detach()))
    return result


@torch.no_grad()
def pointing_accuracy(
    head: nn.Module, maps: Sequence[PointingMap], class_embeddings: torch.Tensor
) -> float:
    """Share of (map, class present) pairs whose dense-map maximum sits inside a box of that
    class: the pointing game on one map, without the service's crops or smoothing."""
    hits = []
    for m in maps:
        scores = head(m.features.float()) @ class_embeddings[m.classes].T
        best = scores.argmax(dim=0)
        hits += m.inside[torch.arange(len(m.classes)), best].tolist()
    return float(np.mean(hits)) if hits else float("nan")
