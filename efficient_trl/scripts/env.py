"""Print the versions and devices of this environment, to paste into a bug report (as `trl env` does).

efficient-trl env
"""

from __future__ import annotations

import argparse
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# distribution -> the name a report shows it under
PACKAGES = {
    "transformers": "Transformers",
    "trl": "TRL",
    "accelerate": "Accelerate",
    "peft": "PEFT",
    "datasets": "Datasets",
    "deepspeed": "DeepSpeed",
    "vllm": "vLLM",
    "math-verify": "math-verify",
}


def installed_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def devices() -> str:
    """The accelerators torch sees (name and count), else the CPU's cores."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
        return f"{len(names)} GPU(s): " + ", ".join(names)
    if torch is not None and torch.backends.mps.is_available():
        return "MPS (Apple GPU)"
    return f"CPU, {os.cpu_count()} cores"


def environment() -> dict[str, str]:
    """What a bug report needs: platform, Python, efficient-trl (and where it is imported from), torch (with its CUDA
    build and whether CUDA is usable), the libraries it trains and generates with, and the devices."""
    import efficient_trl

    torch_version = installed_version("torch")
    if torch_version != "not installed":
        import torch

        if torch.version.cuda is None:
            torch_version += " (CPU build)"
        else:
            torch_version += f" (CUDA {torch.version.cuda}, available: {'yes' if torch.cuda.is_available() else 'no'})"
    return {
        "Platform": platform.platform(),
        "Python": platform.python_version(),
        "efficient-trl": f"{efficient_trl.__version__} ({Path(efficient_trl.__file__).parent})",
        "PyTorch": torch_version,
        **{label: installed_version(distribution) for distribution, label in PACKAGES.items()},
        "Devices": devices(),
    }


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    lines = "\n".join(f"- {name}: {value}" for name, value in environment().items())
    print(f"\nCopy-paste the following information when reporting an issue:\n\n{lines}\n")
