"""What every benchmark prints with its figures: the machine, and how loaded it is."""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import traceback
from collections.abc import Callable

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


def machine_line(with_load: bool = True) -> str:
    """The one line every benchmark prints first: CPU, cores, torch and its threads, Python (and load)."""
    m = machine()
    line = (f"CPU: {m['cpu']} ({m['cores']} cores) | torch {m['torch']}, {m['threads']} threads | "
            f"Python {m['python']}")  # fmt: skip
    return line + (f" | load average {load()}" if with_load else "")


def measure(main: Callable[[], object]) -> None:
    """Run a benchmark's main: a measurement never "fails", it prints the traceback and exits 0."""
    try:
        main()
    except Exception:
        traceback.print_exc()
    sys.exit(0)
