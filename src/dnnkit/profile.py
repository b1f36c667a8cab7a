"""The course's run profiles and the device a notebook runs on.

``quick`` (the default) runs on a laptop CPU in minutes with offline data; ``full`` uses
book-scale data and epochs and is meant for a GPU (e.g. Colab). Chosen by the environment
variable ``DNNKIT_PROFILE``.
"""

from __future__ import annotations

import os
from typing import TypeVar

from dnnkit._checks import check_one_of

__all__ = ["PROFILES", "get_profile", "is_quick", "pick", "device_description", "run_summary"]

#: The profile names ``DNNKIT_PROFILE`` accepts.
PROFILES = ("quick", "full")

T = TypeVar("T")


def get_profile() -> str:
    """Return the active profile name, ``"quick"`` unless ``DNNKIT_PROFILE`` says otherwise."""
    name = os.environ.get("DNNKIT_PROFILE", "quick").strip().lower() or "quick"
    return check_one_of("DNNKIT_PROFILE", name, PROFILES)


def is_quick() -> bool:
    """True when the quick (CPU, small data, few epochs) profile is active."""
    return get_profile() == "quick"


def pick(quick: T, full: T) -> T:
    """Return ``quick`` in the quick profile and ``full`` in the full profile."""
    return quick if is_quick() else full


def device_description() -> str:
    """Describe the accelerator TensorFlow sees, e.g. ``"GPU (1 x NVIDIA H100)"`` or ``"CPU"``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return f"GPU ({len(gpus)} x {', '.join(sorted(set(names)))})"


def run_summary(data: str) -> str:
    """One line for the top of a notebook: profile, data set and device."""
    return f"profile: {get_profile()} | data: {data} | device: {device_description()}"
