"""A tqdm progress bar that listens to the trainer's progress events."""
from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


class ProgressBar:
    """Callable ``progress(event, info)``: one bar over all batches, with loss, reconstruction and KL."""

    def __init__(self, desc: str = "training", file=None):
        self.desc, self.file, self.bar = desc, file or sys.stderr, None

    def __call__(self, event: str, info: dict) -> None:
        if event == "start":
            self.batches = info["batches"]
            total = info["epochs"] * info["batches"]
            self.bar = tqdm(total=total, initial=info["epoch"] * info["batches"], desc=self.desc,
                            unit="batch", file=self.file, dynamic_ncols=True, leave=True)  # fmt: skip
        elif event == "step" and self.bar is not None:
            self.bar.update(1)
        elif event == "epoch" and self.bar is not None:
            val = info["val_loss"]
            self.bar.set_postfix(
                epoch=info["epoch"], loss=f"{info['train_loss']:.2f}", rec=f"{info['train_reconstruction']:.2f}",
                kl=f"{info['train_kl']:.2f}", val=f"{val:.2f}" if val == val else "-", refresh=False,
            )  # fmt: skip

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class CountBar:
    """Callable ``progress(done, total)`` for work counted in examples (scoring)."""

    def __init__(self, desc: str = "scoring", file=None):
        self.desc, self.file, self.bar, self.done, self.total = desc, file or sys.stderr, None, 0, None

    def __call__(self, done: int, total: int) -> None:
        # A new pass (e.g. calibration after scoring): counted down again, or of another size (12 rows scored, then
        # 40 validation rows in one batch counted on past the first bar's total)
        if self.bar is None or done < self.done or total != self.total:
            self.close()
            self.bar = tqdm(total=total, desc=self.desc, unit="ex", file=self.file, dynamic_ncols=True)
            self.done, self.total = 0, total
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def next_pass(self, desc: str) -> "CountBar":
        """The bar of the next pass, under its own name (score's second bar, the validation split's, looked like
        the first: an audit)."""
        self.close()
        self.desc = desc
        return self


def named_pass(progress: Any, desc: str) -> Any:
    """``progress`` ready for a pass named ``desc`` where it is a :class:`CountBar`; any other callable as it is."""
    return progress.next_pass(desc) if isinstance(progress, CountBar) else progress
