"""The benchmark command runs every path and prints the table docs/performance.md quotes."""

from __future__ import annotations

import pytest

from gan_lightning.bench import MODES, main


@pytest.mark.slow
def test_benchmark_prints_a_row_per_path(mnist_root, capsys):
    # Path (b) reads MNIST's files through torchvision, so this needs the full data set.
    quick = ["--in-process", "--repeats", "1", "--warmup", "2", "--steps", "4", "--workers", "0"]
    main([*quick, f"data.root={mnist_root}"])
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    table = {cells[1].strip(): cells[2:5] for cells in rows if cells[1].strip() not in ("path", "---")}
    assert list(table) == list(MODES)
    template_rate = float(table["template"][0])
    for rate, peak_mib, ratio in table.values():
        assert float(rate) > 0 and float(peak_mib) > 100
        # the last column is the template's rate over this row's (rates are printed rounded)
        assert float(ratio) == pytest.approx(template_rate / float(rate), rel=0.02, abs=0.01)
