"""What torchrun starts for each rank in the tests (test/support/torchrun.ts): the rank's real
script as a child process, so that each rank's exit code can be recorded (torchrun reports
only the first failures, and none for the ranks it stops).

usage: torch-rank.py STATUS_DIR SCRIPT [ARGS...]; writes STATUS_DIR/rank<RANK>.json
{"rank", "local_rank", "node", "code"} (code: the exit status, or minus the signal that ended
it) and exits as the child did. torchrun's SIGTERM/SIGINT are passed on to the child, and the
child dies with this wrapper if the wrapper is killed outright."""

import ctypes
import json
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


status_dir, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
child = subprocess.Popen([sys.executable, "-u", script, *args], preexec_fn=die_with_parent)
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda s, _f: child.send_signal(s))
code = child.wait()
rank = os.environ.get("RANK", "x")
record = {
    "rank": int(rank),
    "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
    "node": int(os.environ.get("GROUP_RANK", "0")),
    "code": code,
}
with open(os.path.join(status_dir, f"rank{rank}.json"), "w", encoding="utf-8") as f:
    json.dump(record, f)
sys.exit(code if code >= 0 else 128 - code)
