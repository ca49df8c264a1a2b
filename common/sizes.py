"""Image sizes and aspect ratios: one pattern and one nearest-ratio rule.

The API's `size` -> `aspect_ratio` mapping and every adapter that turns a size into a
ratio (edits, BFL ultra, Replicate) use these, so a size maps to the same ratio
wherever it goes.
"""

from __future__ import annotations

import math
import re

# "1024x1024", also "1024 X 1024", "1024*1024" and with U+00D7 (the multiplication sign).
SIZE_PATTERN = re.compile(r"^\s*(\d{1,5})\s*[xX\u00d7*]\s*(\d{1,5})\s*$")
# The aspect ratios the upstream documents list (seeds 001, 003), widest first.
ASPECT_RATIOS = ("21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21")


def match_size(value: object) -> tuple[int, int] | None:
    """(width, height) when `value` is a size string, else None. Sides may be 0."""
    match = SIZE_PATTERN.match(value) if isinstance(value, str) else None
    return (int(match[1]), int(match[2])) if match else None


def parse_size(size: str) -> tuple[int, int]:
    """(width, height) of a size already validated; ValueError otherwise."""
    parsed = match_size(size)
    if parsed is None:
        raise ValueError(f"not a size: {size!r}")
    return parsed


def nearest_ratio(width: int, height: int, choices: tuple[str, ...] = ASPECT_RATIOS) -> str:
    """The listed aspect ratio closest to width:height, compared in log space.

    In log space twice too wide is as far as twice too tall, so a size and its
    transpose always get transposed ratios (416x480 -> 1:1 as 480x416 -> 1:1).
    Ties go to the earlier choice.
    """
    wanted = math.log(width / height)

    def distance(ratio: str) -> float:
        w, _, h = ratio.partition(":")
        return abs(wanted - math.log(int(w) / int(h)))

    return min(choices, key=distance)
