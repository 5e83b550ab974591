"""`braintumorai bench --json` on a small input: every field the issue names, for 4 and 6
modalities (the real figures come from the full command, never from a timed test)."""

import json

from braintumorai.cli import main

FIELDS = {"modalities", "preprocess_s", "inference_s", "saliency_s", "prognosis_s", "total_s", "process_s",
          "peak_rss_mb", "baseline_total_s", "baseline_peak_rss_mb", "speedup"}


def test_bench_json_has_every_field(capsys):
    # 64 mm: the smallest field that passes the input checks (a 48 mm crop cannot hold a head).
    assert main(["bench", "--size", "64,64,64", "--repeats", "1", "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"device", "threads", "runs"} <= set(report)
    assert [run["modalities"] for run in report["runs"]] == [4, 6]
    for run in report["runs"]:
        assert FIELDS <= set(run)
        assert run["total_s"] > 0 and run["baseline_total_s"] > 0 and run["peak_rss_mb"] > 50
        assert run["speedup"] == run["baseline_total_s"] / run["total_s"]


def test_bench_refuses_bad_options(capsys):
    assert main(["bench", "--size", "10,10", "--device", "cpu"]) == 2
    assert "--size 10,10" in capsys.readouterr().err
