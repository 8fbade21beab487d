"""The videos users can watch: heavy-tailed popularity, log-normal durations."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True)
class Video:
    video_id: str
    duration_s: float
    category: str


CATEGORIES = ("music", "gaming", "news", "education", "comedy", "sports", "howto")


class Catalogue:
    """A fixed, seeded catalogue, so every process of a run agrees on the same videos."""

    def __init__(self, size: int = 500, seed: int = 7, zipf_s: float = 1.1) -> None:
        rng = random.Random(seed)
        self.videos = [
            Video(
                video_id=f"v{index:05d}",
                # Median about 4 minutes, with a long tail of long videos.
                duration_s=round(min(3 * 3600.0, max(15.0, rng.lognormvariate(5.5, 0.8))), 1),
                category=rng.choice(CATEGORIES),
            )
            for index in range(size)
        ]
        weights = [1.0 / (rank**zipf_s) for rank in range(1, size + 1)]
        self._cumulative = list(accumulate(weights))

    def pick(self, rng: random.Random) -> Video:
        """A video by popularity: rank r is chosen with weight 1 / r**s (Zipf)."""
        return rng.choices(self.videos, cum_weights=self._cumulative, k=1)[0]
