"""system.CpuWindow: the CPU an experiment got, ours against other programs'."""

import shutil
import subprocess
import sys
import time

import pytest

from helpers.core import system

BURN = "import time\nt = time.time()\nwhile time.time() - t < {s}: pass"


def test_a_child_burning_one_core_counts_as_ours():
    with system.CpuWindow() as w:
        subprocess.run([sys.executable, "-c", BURN.format(s=1.0)], check=True, timeout=30)
    assert 0.5 < w.ours_cores < 1.3, w.summary()
    assert w.free_cores <= w.cores
    assert set(w.as_dict()) >= {"wall_s", "ours_cores", "others_cores", "free_cores", "steal_cores", "cores"}


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid (util-linux)")
def test_a_program_we_did_not_start_counts_as_others():
    # started in its own session and not our child once the shell exits: another program
    subprocess.run(f"setsid {sys.executable} -c '{BURN.format(s=2.0)}' >/dev/null 2>&1 &", shell=True, check=True)
    time.sleep(0.3)
    with system.CpuWindow() as w:
        time.sleep(1.0)
    assert w.ours_cores < 0.3, w.summary()
    assert w.others_cores > 0.5 and w.busy, w.summary()
    assert "other programs used" in w.summary()
    time.sleep(1.0)  # let it finish
