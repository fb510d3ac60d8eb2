"""The one size notation of ``healthcnn shapes`` and ``healthcnn summary``: channels last, as
the lecture writes sizes (``227x227x3`` image, ``5000x12`` signal, ``64x64x64x1`` volume).

A shape whose first number is a likely channel count (at most 4) and whose other numbers are
all larger (``3x227x227``, ``1x64x64x64``: the channels-first order) is refused with the
channels-last spelling, unless ``--in-channels`` equals its last number, which confirms the
reading. Small maps late in a network (``1x1x2048``, ``2x2x512``) read as channels last. A
channels-first signal (``12x5000``) cannot be told from a short many-channel one and is read
as written: 5000 channels.
"""

from __future__ import annotations

#: how --help and the errors name the notation
NOTATION = "channels last: 227x227x3 (image), 5000x12 (signal), 64x64x64x1 (volume)"


def written(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def check_channels_last(shape: tuple[int, ...], in_channels: int | None) -> tuple[int, ...]:
    """``shape`` (channels last) if it reads as channels last, else a ValueError saying how to
    write it; ``in_channels``, when given, must equal its last number."""
    if len(shape) < 2:
        return shape
    if in_channels is not None and in_channels != shape[-1]:
        raise ValueError(
            f"--in-channels {in_channels} disagrees with --input {written(shape)}, whose last "
            f"number ({shape[-1]}) is the channels ({NOTATION})"
        )
    if in_channels is None and shape[0] <= 4 < min(shape[1:]):
        moved = written((*shape[1:], shape[0]))
        raise ValueError(
            f"--input {written(shape)} reads as {shape[-1]} channels: sizes are channels last "
            f"(for {shape[0]} channel(s) write {moved}); if {shape[-1]} channels are meant, "
            f"confirm with --in-channels {shape[-1]}"
        )
    return shape
