"""A sweep's summary: its tables (``results.py``) and its picture (``plots.py``).

gan-sweep-summary logs/train/multiruns/<date>_<time>     # rebuild it at any time
"""

from __future__ import annotations

from pathlib import Path

from gan_lightning.plumbing.errors import ArgumentParser, command
from gan_lightning.sweep import results
from gan_lightning.sweep.plots import plot_summary


def summarize(sweep_dir: str | Path) -> str:
    """Write the sweep's ``summary.csv``, ``summary_by_setting.csv``, ``summary.md`` and
    ``summary.png``; return the Markdown."""
    return results.summarize(sweep_dir, draw=plot_summary)


@command
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(__doc__)
    parser.add_argument("sweep_dir", help="the sweep directory (logs/train/multiruns/<date>_<time>)")
    print(summarize(parser.parse_args(argv).sweep_dir))


if __name__ == "__main__":
    main()
