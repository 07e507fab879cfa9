"""The example in examples/ runs as documented against the real server."""

import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


def test_the_quickstart_example_creates_a_customer_and_records_a_purchase(server):
    run = subprocess.run([sys.executable, str(EXAMPLE), server], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert "created " in run.stdout
    assert "after the purchase: stage PURCHASE" in run.stdout
