"""Which parts learn: clip-italian's two phases (projections only, then everything with a
lower backbone learning rate) and LiT-style locked towers."""

from __future__ import annotations

from torch import nn

from sguardo.model.dual_encoder import DualEncoder


def trainable_towers(
    step: int, projection_steps: int, lock_text: bool, lock_image: bool
) -> tuple[bool, bool]:
    """(text tower learns, vision tower learns) at optimiser step `step`."""
    if step < projection_steps:
        return False, False
    return not lock_text, not lock_image


def apply_phase(model: DualEncoder, text: bool, vision: bool, deterministic: bool = False) -> None:
    """Set `requires_grad` and train/eval modes: a frozen tower runs in eval mode (dropout off,
    BatchNorm statistics untouched), so frozen really means frozen."""
    model.train()
    for tower, learns in ((model.text_tower, text), (model.vision_tower, vision)):
        tower.requires_grad_(learns)
        if not learns or deterministic:
            tower.eval()
        elif learns:
            _freeze_batchnorm_statistics(tower)
    for head in (model.text_projection, model.visual_projection):
        head.requires_grad_(True)


def _freeze_batchnorm_statistics(module: nn.Module) -> None:
    # Contrastive batches per rank are small: running statistics would drift from the
    # backbone's; the BatchNorm affine parameters still learn.
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def enable_gradient_checkpointing(model: DualEncoder) -> list[str]:
    """Turn it on where the backbone supports it; returns the towers that do."""
    enabled = []
    for name, tower in (("text", model.text_tower), ("vision", model.vision_tower)):
        encoder = tower.encoder
        if getattr(encoder, "supports_gradient_checkpointing", False):
            # transformers 5 renamed it; the old name still works, with a warning.
            method = "activation_checkpointing_enable"
            if not hasattr(encoder, method):
                method = "gradient_checkpointing_enable"
            getattr(encoder, method)()
            enabled.append(name)
    return enabled
