"""Counts over time: the time window split into buckets, and the bars of an inline SVG chart.

Everything here is arithmetic on numbers; the template draws the bars, so the page needs no script
and no external asset to show a chart.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
RANGES = {"24h": (HOUR_MS, 24), "7d": (DAY_MS, 7), "30d": (DAY_MS, 30)}
DEFAULT_RANGE = "7d"

WIDTH, HEIGHT = 720, 180
_PLOT_TOP, _PLOT_BOTTOM, _PLOT_LEFT = 16, 150, 40
_LABELS_WANTED = 8


@dataclass(frozen=True)
class Window:
    """`buckets` consecutive spans of `bucket_ms`, the first starting at `start_ms` (UTC)."""

    start_ms: int
    bucket_ms: int
    buckets: int

    @property
    def end_ms(self) -> int:
        """The first millisecond after the window."""
        return self.start_ms + self.bucket_ms * self.buckets

    def index(self, time_ms: int) -> int | None:
        """The bucket holding `time_ms`, or None outside the window."""
        if not self.start_ms <= time_ms < self.end_ms:
            return None
        return (time_ms - self.start_ms) // self.bucket_ms

    def label(self, index: int) -> str:
        """A short UTC label for a bucket: the hour for hourly buckets, else the day."""
        start = datetime.fromtimestamp((self.start_ms + index * self.bucket_ms) / 1000, UTC)
        return start.strftime("%H:00" if self.bucket_ms < DAY_MS else "%b %d")


def window_for(range_name: str, now_ms: int) -> Window:
    """The window named `range_name` (see RANGES) whose last bucket holds `now_ms`."""
    bucket_ms, buckets = RANGES[range_name]
    last_start = now_ms - now_ms % bucket_ms
    return Window(last_start - (buckets - 1) * bucket_ms, bucket_ms, buckets)


@dataclass(frozen=True)
class Bar:
    """One bar in SVG user units, with the text of its tooltip."""

    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class AxisLabel:
    """A label under the x axis, centred on `x`."""

    x: float
    text: str


@dataclass(frozen=True)
class BarChart:
    """Everything the template needs to draw a chart of counts per bucket."""

    bars: list[Bar]
    labels: list[AxisLabel]
    y_max: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = _PLOT_LEFT
    plot_top: int = _PLOT_TOP
    plot_bottom: int = _PLOT_BOTTOM


def bar_chart(window: Window, counts: list[int]) -> BarChart:
    """Bars for `counts` (one per bucket of `window`), scaled so the largest fills the plot."""
    y_max = max(counts, default=0) or 1
    slot = (WIDTH - _PLOT_LEFT) / max(len(counts), 1)
    plot_height = _PLOT_BOTTOM - _PLOT_TOP
    bars, labels = [], []
    label_every = max(1, -(-len(counts) // _LABELS_WANTED))
    for index, count in enumerate(counts):
        height = plot_height * count / y_max
        x = _PLOT_LEFT + index * slot
        bars.append(
            Bar(
                x=round(x + slot * 0.1, 2),
                y=round(_PLOT_BOTTOM - height, 2),
                width=round(slot * 0.8, 2),
                height=round(height, 2),
                title=f"{window.label(index)}: {count}",
            )
        )
        if index % label_every == 0:
            labels.append(AxisLabel(round(x + slot / 2, 2), window.label(index)))
    return BarChart(bars, labels, y_max, sum(counts))
