"""The Reports screen's charts: plotext bars and lines in Textual, and the busiest-hours heat.

Each chart is a ``PlotextPlot`` (textual-plotext) that keeps its own plotext figure,
so charts never share state. Legends are not drawn inside the plot, where they
cover bars on a small terminal; the screen writes them beside the chart in the
series' colours (``SERIES_STYLES``), with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table as RichTable
from rich.text import Text
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.report_figures import WEEKDAYS, Table

# plotext's colour names and the same colours in Rich, for the legends beside the charts.
SERIES_COLOURS = ("blue+", "green+", "orange+", "red+", "cyan+", "magenta+")
SERIES_STYLES = ("bright_blue", "bright_green", "bright_yellow", "bright_red", "bright_cyan",
                 "bright_magenta")
MOST_BARS = 31  # beyond a month of days, bars are slivers: the daily chart draws lines
MOST_TICKS = 8


def legend(names: Sequence[str], lines: Sequence[str] = ()) -> Text:
    """A coloured key for the series, then the figures that go with them."""
    text = Text()
    for index, name in enumerate(names):
        text.append("██ ", style=SERIES_STYLES[index % len(SERIES_STYLES)])
        text.append(f"{name}\n")
    for line in lines:
        text.append(f"{line}\n")
    text.rstrip()
    return text


def _ticks(count: int) -> list[int]:
    """At most MOST_TICKS evenly spread positions among ``count``, first and last included."""
    if count <= MOST_TICKS:
        return list(range(count))
    step = (count - 1) / (MOST_TICKS - 1)
    return sorted({round(i * step) for i in range(MOST_TICKS)})


def count_ticks(top: int, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 to at least ``top``: counts have no fractions."""
    step = max(1, -(-max(top, 1) // most))
    return list(range(0, max(top, 1) + step, step))


class DailyChart(PlotextPlot):
    """Two or more counts per day: bars side by side, or lines over a long range."""

    def show(self, title: str, days: Sequence[str],
             series: Sequence[tuple[str, Sequence[int]]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        labels = [day[5:] for day in days]  # "11-24": the year is in the screen's header
        if len(days) <= MOST_BARS:
            plt.multiple_bar(labels, [list(values) for _, values in series],
                             color=list(SERIES_COLOURS[:len(series)]))
        else:
            xs = list(range(len(days)))
            for index, (_, values) in enumerate(series):
                plt.plot(xs, list(values), color=SERIES_COLOURS[index], marker="braille")
            ticks = _ticks(len(days))
            plt.xticks(ticks, [labels[i] for i in ticks])
        top = max((max(values, default=0) for _, values in series), default=0)
        plt.ylim(0, max(top, 1))
        plt.yticks(count_ticks(top))
        plt.title(title)
        self.refresh()


class CountChart(PlotextPlot):
    """One count per category (a rating, an error code, a number): simple bars."""

    def show(self, title: str, labels: Sequence[str], counts: Sequence[int],
             colour: str = SERIES_COLOURS[0], *, horizontal: bool = False) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.bar(list(labels), list(counts), color=colour,
                orientation="horizontal" if horizontal else "vertical")
        top = max(counts, default=0)
        if horizontal:
            plt.xticks(count_ticks(top))
        else:
            plt.yticks(count_ticks(top))
        plt.title(title)
        self.refresh()


class StackedChart(PlotextPlot):
    """Parts of a whole per category (SLA met and breached): stacked horizontal bars."""

    def show(self, title: str, labels: Sequence[str],
             series: Sequence[tuple[str, Sequence[int]]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.stacked_bar(list(labels), [list(values) for _, values in series],
                        color=list(SERIES_COLOURS[1:1 + len(series)]), orientation="horizontal")
        plt.title(title)
        self.refresh()


# --- tables -----------------------------------------------------------------------------


def rich_table(table: Table) -> RichTable:
    """A report table as Rich draws it: numbers right-aligned, long words wrapped."""
    out = RichTable(expand=False, show_edge=False, pad_edge=False, header_style="bold",
                    show_header=any(table.columns))
    for index, column in enumerate(table.columns):
        out.add_column(column, justify="right" if index in table.right else "left",
                       overflow="fold")
    for row in table.rows:
        out.add_row(*row)
    return out


HEAT = (" ", "░", "▒", "▓", "█")


def heat_level(count: int, most: int) -> int:
    """0 for none, else 1..4 by quarter of the busiest hour (so one text still shows)."""
    if count <= 0 or most <= 0:
        return 0
    return min(4, 1 + (4 * count - 1) // most)


class HeatTable(Static):
    """Texts in per weekday and hour of day, shaded by how busy: a 7×24 heat table."""

    def show(self, grid: Sequence[Sequence[int]]) -> None:
        most = max((max(row, default=0) for row in grid), default=0)
        text = Text("     ")
        text.append("".join(f"{hour:<3d}" if hour % 3 == 0 else "   " for hour in range(24)),
                    style="dim")
        for day, row in enumerate(grid):
            text.append(f"\n{WEEKDAYS[day]}  ")
            for count in row:
                text.append(HEAT[heat_level(count, most)] * 2 + " ",
                            style="bright_yellow" if count else "dim")
        text.append(f"\n\n     {HEAT[1]} a few  {HEAT[2]}  {HEAT[3]}  {HEAT[4]} the most "
                    f"({most} texts in one hour); blank: none")
        self.update(text)
