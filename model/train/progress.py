"""A Rich progress bar for training (a no-op on non-zero ranks or when disabled)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainProgress:
    def __init__(self, total: int, completed: int = 0, enabled: bool = True):
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]train[/bold] epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            disable=not enabled,
        )
        self._task = self._progress.add_task(
            "train", total=total, completed=completed, loss=float("nan"), epoch=0
        )

    def __enter__(self) -> TrainProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def update(self, step: int, loss: float, epoch: int) -> None:
        self._progress.update(self._task, completed=step, loss=loss, epoch=epoch)
