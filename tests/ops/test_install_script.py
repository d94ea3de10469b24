"""scripts/install-debian-tools.sh: valid shell, and a silent no-op once promtool is installed."""

from __future__ import annotations

import shutil
import subprocess

from tests.ops.promql import ROOT, promtool

SCRIPT = ROOT / "scripts" / "install-debian-tools.sh"


def test_script_is_valid_posix_shell() -> None:
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell is not None
    result = subprocess.run([shell, "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_script_does_nothing_when_promtool_is_there() -> None:
    promtool()  # skips (fails under CI=true) when the script has not installed it
    result = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_make_test_runs_the_script_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("scripts/install-debian-tools.sh") < recipe.index("pytest")
