"""rnnlab.memory: keeping freed memory is an explicit switch. Importing rnnlab (every module a user or
the CLI loads) never calls glibc's mallopt; ``keep_freed_memory()`` and the ``rnnlab`` command do,
unless RNNLAB_MALLOC=0."""
import json
import os
import subprocess
import sys

import pytest

from rnnlab import memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Records every mallopt call made through ctypes (the only way Python code can reach it), then runs
# the code after it; prints the calls and rnnlab.memory.applied as JSON.
SPY = """
import ctypes, json, sys
calls = []
class Spy:
    def __init__(self, f): self.f = f
    def __call__(self, *args):
        calls.append(args)
        return self.f(*args)
_getitem = ctypes.CDLL.__getitem__           # every function lookup on a ctypes library goes here
def spying_getitem(self, name):
    f = _getitem(self, name)
    return Spy(f) if name == "mallopt" else f
ctypes.CDLL.__getitem__ = spying_getitem
{code}
import rnnlab.memory
print(json.dumps({{"calls": calls, "applied": rnnlab.memory.applied}}))
"""

IMPORT_ALL = """
import rnnlab, rnnlab.layers, rnnlab.models, rnnlab.train, rnnlab.cli, rnnlab.saving, rnnlab.metrics
import rnnlab.engine, rnnlab.engine.threads, rnnlab.memory
import rnnlab.commands.info
"""


def spy(code, malloc=None):
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("RNNLAB_MALLOC", None)
    if malloc is not None:
        env["RNNLAB_MALLOC"] = malloc
    done = subprocess.run([sys.executable, "-c", SPY.format(code=code)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_changes_no_process_setting():
    out = spy(IMPORT_ALL)
    assert out == {"calls": [], "applied": None}


@pytest.mark.skipif(memory.glibc() is None, reason="glibc only")
def test_switch_calls_mallopt_once():
    out = spy(IMPORT_ALL + "rnnlab.memory.keep_freed_memory()\nrnnlab.memory.keep_freed_memory()")
    assert out["applied"] is True
    params = [c[0] for c in out["calls"]]
    assert memory.M_MMAP_THRESHOLD in params and memory.M_TRIM_THRESHOLD in params
    assert len(params) <= 3                      # the second call does nothing more


def test_switch_respects_rnnlab_malloc_0():
    out = spy(IMPORT_ALL + "assert rnnlab.memory.keep_freed_memory() is False", malloc="0")
    assert out == {"calls": [], "applied": False}


@pytest.mark.skipif(memory.glibc() is None, reason="glibc only")
def test_cli_turns_the_switch_on():
    out = spy("import rnnlab.cli\nrnnlab.cli.main(['info'])")
    assert out["applied"] is True and out["calls"]
    out = spy("import rnnlab.cli\nrnnlab.cli.main(['info'])", malloc="0")
    assert out == {"calls": [], "applied": False}
