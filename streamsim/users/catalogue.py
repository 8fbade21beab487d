"""The videos users can watch: heavy-tailed popularity, durations by category."""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from streamsim.users.model import CatalogueModel, load_model


@dataclass(frozen=True, slots=True)
class Video:
    video_id: str
    duration_s: float
    category: str
    rank: int  # 1 is the most popular video of the site


class _Shelf:
    """Videos with their popularity weights, ready for one-draw picks."""

    def __init__(self, videos: list[Video], zipf_s: float) -> None:
        self.videos = videos
        self._cumulative = list(accumulate(1.0 / video.rank**zipf_s for video in videos))

    def pick(self, rng: random.Random) -> Video:
        index = bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        return self.videos[min(index, len(self.videos) - 1)]


class Catalogue:
    """A fixed catalogue drawn from its own seed, so every process of a run agrees on it.

    Popularity follows Zipf's law over the site-wide rank: rank r is picked with weight
    1 / r**s, both site-wide and within a category (keeping the ranks' relative weights).
    """

    def __init__(self, model: CatalogueModel | None = None) -> None:
        self.model = model or load_model().catalogue
        rng = random.Random(self.model.seed)
        names = list(self.model.categories)
        weights = [category.weight for category in self.model.categories.values()]
        self.videos = [
            self._draw(rng, rank, rng.choices(names, weights)[0])
            for rank in range(1, self.model.size + 1)
        ]
        self._by_id = {video.video_id: video for video in self.videos}
        self._all = _Shelf(self.videos, self.model.zipf_s)
        self._by_category = {
            name: _Shelf(shelf, self.model.zipf_s)
            for name in names
            if (shelf := [v for v in self.videos if v.category == name])
        }
        self.categories = tuple(self._by_category)

    def _draw(self, rng: random.Random, rank: int, category: str) -> Video:
        length = self.model.categories[category].duration_s.sample(rng)
        length = min(self.model.max_duration_s, max(self.model.min_duration_s, length))
        return Video(f"v{rank - 1:05d}", round(length, 1), category, rank)

    def find(self, video_id: str) -> Video | None:
        return self._by_id.get(video_id)

    def pick(self, rng: random.Random) -> Video:
        """A video by site-wide popularity."""
        return self._all.pick(rng)

    def pick_in(self, category: str, rng: random.Random) -> Video:
        """A video of `category` by popularity; site-wide if the category has none."""
        shelf = self._by_category.get(category)
        return shelf.pick(rng) if shelf else self._all.pick(rng)
