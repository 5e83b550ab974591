"""`braintumorai models` and `python -m braintumorai`."""

import json
import subprocess
import sys

from braintumorai.cli import main


def test_models_lists_both_bundled_models_with_their_cards(capsys, tmp_path):
    from model_helpers import tiny_models

    _, prognosis = tiny_models(tmp_path)
    assert main(["models", "--json", "--model", str(prognosis)]) == 0
    entries = json.loads(capsys.readouterr().out)
    by_task = {(e["task"], e["default"]): e for e in entries}
    classifier = by_task[("classification", True)]
    assert classifier["weights_match_sha256"] and len(classifier["sha256"]) == 64 and classifier["classes"]
    assert by_task[("prognosis", True)]["image_model"] == classifier["name"]
    assert entries[-1]["name"] == "tiny-prognosis" and entries[-1]["weights_match_sha256"]
    # A tampered checkpoint shows as such.
    prognosis.write_bytes(prognosis.read_bytes() + b"x")
    assert main(["models", "--model", str(prognosis)]) == 0
    assert "WEIGHTS DO NOT MATCH THE CARD" in capsys.readouterr().out


def test_python_dash_m_braintumorai_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "braintumorai", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("braintumorai ")


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`braintumorai models --json | head -c 1`: the pipe's reader is gone before the output
    is written; the command ends with 0 and no BrokenPipeError traceback."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    done = subprocess.run([sys.executable, "-m", "braintumorai", "models", "--json"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert done.returncode == 0 and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
