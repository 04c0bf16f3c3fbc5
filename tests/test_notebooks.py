"""The notebooks of docs/notebooks run as scripts: each jupytext percent-format file is executed in a
fresh Python process (matplotlib's Agg backend, one BLAS thread, a temporary working folder). A
notebook that raises, or whose closing assertions fail, fails its test, and each must have saved its
figures. The SST notebook needs the treebank (../shared/data/sst or $RNNLAB_DATA)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import _require, require_torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
# notebook -> (figures it saves, modules it needs)
EXPECTED = {
    "01_lstm_cell.py": (["lstm_step.png"], ["matplotlib"]),
    "02_bptt_by_hand.py": (["bptt_mistakes.png"], ["matplotlib"]),
    "03_why_rnns_forget.py": (["gradflow.png"], ["matplotlib"]),
    "04_gru.py": (["gru.png"], ["matplotlib"]),
    "05_trees.py": (["tree_lstm_training.png", "predicted_tree.html", "predicted_tree.svg", "gold_tree.html"],
                    ["matplotlib"]),
    "06_deploy.py": (["deploy.png", "model.npz"], ["matplotlib", "torch"]),
}


def test_every_notebook_is_listed_and_paired_format():
    found = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    assert found == sorted(EXPECTED)
    for name in found:
        text = (NOTEBOOKS / name).read_text(encoding="utf-8")
        assert text.startswith("# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent"), name
        assert text.count("\n# %% [markdown]") >= 2 and "\nassert " in text, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name, tmp_path):
    figures, modules = EXPECTED[name]
    for module in modules:
        require_torch() if module == "torch" else _require(module)
    if name == "05_trees.py":
        from rnnlab.trees.data import sst_dir
        try:
            sst_dir()
        except FileNotFoundError as err:
            pytest.skip(f"the SST notebook needs the treebank: {err}")
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", code, str(NOTEBOOKS / name)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    for figure in figures:
        path = tmp_path / figure
        assert path.is_file() and path.stat().st_size > 1000, f"{name} did not write {figure}"
