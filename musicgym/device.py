"""Which torch device fits and training run on: "auto" (a GPU when there is one), "cpu", "cuda".

The choice comes from an argument, else from the `MUSICGYM_DEVICE` environment variable, else
"auto". Only fitting and training move to the device: the env's user models run on CPU numpy
(`NumpyResponse`) whatever was chosen, so a fit on a GPU is loaded and used like any other.
"""

from __future__ import annotations

import os

import torch

DEVICE_VARIABLE = "MUSICGYM_DEVICE"
CHOICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    """A device name that cannot be used here."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device for `device`: a name ("auto", "cpu", "cuda", "cuda:N") or None.

    None reads `$MUSICGYM_DEVICE` (unset or empty: "auto"); "auto" is "cuda" when
    `torch.cuda.is_available()`, else "cpu".

    :raises DeviceError: an unknown name, or "cuda" on a machine without a usable GPU.
    """
    source = "device"
    if device is None:
        device, source = os.environ.get(DEVICE_VARIABLE, "") or "auto", f"${DEVICE_VARIABLE}"
    if isinstance(device, torch.device):
        device = str(device)
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind, colon, index = name.partition(":")
    if kind not in ("cpu", "cuda") or (colon and (kind == "cpu" or not index.isdigit())):
        raise DeviceError(f"{source} ({device!r}) must be one of {', '.join(CHOICES)} "
                          "(or cuda:N); set it to 'auto' to use a GPU when there is one")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{source} ({device!r}) asks for a GPU, but torch sees none here; "
                              "use 'cpu' or 'auto'")
        if index and int(index) >= torch.cuda.device_count():
            raise DeviceError(f"{source} ({device!r}): this machine has "
                              f"{torch.cuda.device_count()} GPU(s); use cuda:0 or 'auto'")
    return torch.device(name)
