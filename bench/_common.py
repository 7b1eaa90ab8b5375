"""What every benchmark prints with its figures: the machine, and how loaded it is."""
from __future__ import annotations

import contextlib
import os
import platform

import torch


def machine() -> dict[str, str]:
    """CPU model, cores, torch version and threads, Python version."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return {"cpu": cpu, "cores": str(os.cpu_count()), "torch": torch.__version__,
            "threads": str(torch.get_num_threads()), "python": platform.python_version()}  # fmt: skip


def load() -> str:
    """The 1-minute load average. At the start it shows other processes (~0 on an idle machine);
    while a script computes it counts its own threads too (~2), so well above 2 means competition."""
    with contextlib.suppress(OSError, AttributeError):
        return f"{os.getloadavg()[0]:.2f}"
    return "unknown"


def quiet_pythae() -> None:
    """pythae adds console handlers at INFO on import; quieten every pythae logger."""
    import logging

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
