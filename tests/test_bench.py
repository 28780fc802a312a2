"""The benchmark command runs every path and the roof, and prints the tables
docs/performance.md quotes, then the targets."""

from __future__ import annotations

import pytest

from gan_lightning.bench import MODES, main


def _table(out: str, first_cell: str) -> dict[str, list[str]]:
    """The Markdown table whose header starts with ``first_cell``: rows by their first cells."""
    tables, current = [], None
    for line in out.splitlines():
        if line.startswith("| "):
            cells = [cell.strip() for cell in line.split("|")[1:-1]]
            if current is None:
                current = {"header": cells}
                tables.append(current)
            elif cells[0] != "---":
                current.setdefault("rows", []).append(cells)
        else:
            current = None
    (table,) = [t for t in tables if t["header"][0] == first_cell]
    return table


@pytest.mark.slow
def test_benchmark_prints_a_row_per_path_its_roof_and_targets(mnist_root, capsys):
    # Path (b) reads MNIST's files through torchvision, so this needs the full data set.
    quick = ["--in-process", "--repeats", "1", "--warmup", "2", "--steps", "4", "--workers", "0"]
    main([*quick, "--roof-seconds", "0.002", f"data.root={mnist_root}"])
    out = capsys.readouterr().out
    paths = _table(out, "path")
    assert [row[0] for row in paths["rows"]] == list(MODES)
    rows = {row[0]: row for row in paths["rows"]}
    assert rows["template"][1] == "bf16-mixed" and rows["template_fp32"][1] == "32-true"  # the CPU default, and back
    template_rate = float(rows["template"][2])
    for _, _, rate, share, startup, peak_mib, ratio in rows.values():
        assert float(rate) > 0 and float(peak_mib) > 100 and float(startup) > 0
        assert float(share.rstrip("%")) > 0
        # the last column is the template's rate over this row's (rates are printed rounded)
        assert float(ratio) == pytest.approx(template_rate / float(rate), rel=0.02, abs=0.01)
    roof = _table(out, "precision")
    kinds = {(row[0], row[1]) for row in roof["rows"]}
    assert kinds == {(p, k) for p in ("bf16-mixed", "32-true") for k in ("matmul", "all")}  # an MLP: no convolutions
    assert "GFLOP per image" in out
    # An MLP's run prints the vanilla GAN's targets, not DCGAN's (test_dcgans_targets_are_its_own).
    assert "Targets set for the vanilla GAN's networks" in out
    assert "template / plain =" in out and "template / plain_memory =" in out and "start-up to the first" in out
    assert "template / template_fp32 =" not in out and "share of its roof" not in out


def test_dcgans_targets_are_its_own(capsys):
    from gan_lightning.bench.cli import _targets

    rate = {"template": 900.0, "template_fp32": 400.0, "plain": 300.0, "plain_memory": 600.0}
    _targets(rate, {"template": 5.0, "template_fp32": 5.0}, {"template": 0.59}, "conv")
    out = capsys.readouterr().out
    assert "Targets set for DCGAN 32x32's networks" in out
    assert "template / template_fp32 = 2.25 (at least 2.0 is DCGAN 32x32's target): met" in out
    assert "template's share of its roof = 59% (at least 60% is DCGAN 32x32's target): NOT met" in out
    assert "template / plain =" not in out


def test_benchmark_refuses_an_unknown_path(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--paths", "template,plian"])
    assert exit_.value.code == 2
    assert "no path plian" in capsys.readouterr().err


def test_the_roof_alone_counts_a_dcgans_convolutions(capsys):
    """``--roof``: the table alone, no paths run; a DCGAN's iteration is convolutions only, 16
    of D's and G's forward and backward passes at 32x32 in each precision."""
    small = ["model.generator.base_width=8", "model.discriminator.base_width=8", "data.batch_size=8"]
    main(["--in-process", "--roof", "--roof-seconds", "0.001", "experiment=mnist_dcgan32", *small])
    out = capsys.readouterr().out
    roof = _table(out, "precision")
    kinds = {(row[0], row[1]) for row in roof["rows"]}
    assert kinds == {(p, k) for p in ("bf16-mixed", "32-true") for k in ("conv", "all")}
    for row in roof["rows"]:
        assert int(row[2]) > 0 and float(row[3]) > 0 and float(row[5]) > 0
    assert "| path |" not in out and "Targets" not in out
