"""The learned weights ship as data, re-derivable byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from idp.policies.matching import FIELD_LEVELS
from idp.policies.matching_model import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[2]


def test_model_file_has_a_weight_for_every_level() -> None:
    for name, levels in FIELD_LEVELS.items():
        assert set(DEFAULT_MODEL.weights[name]) == set(levels), name
    # Agreement is evidence for, disagreement against, on every field.
    for name, levels in FIELD_LEVELS.items():
        assert DEFAULT_MODEL.weight(name, levels[0]) > 0 > DEFAULT_MODEL.weight(name, levels[-1])


def test_model_file_is_what_the_training_command_writes() -> None:
    """``python -m bench.train_matcher --check`` retrains from the fixed seed and
    compares bytes: the shipped weights are reproducible and nobody hand-edited them."""
    run = subprocess.run(
        [sys.executable, "-m", "bench.train_matcher", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "model file is current" in run.stdout
