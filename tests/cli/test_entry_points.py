"""`python -m ganforge.cli` runs commands, and the command line answers --help and flag errors without importing
torch; `import ganforge` stays light while `ganforge.train(...)`, `ganforge.load(...)` and friends still work."""

import subprocess
import sys

import pytest

NO_TORCH = """
import sys
from ganforge.cli import main
try:
    main({args!r}, prog_name="ganforge")
except SystemExit as exit:
    code = exit.code
assert "torch" not in sys.modules, "torch was imported"
print("exit", code)
"""


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_python_m_ganforge_cli_runs_commands(tmp_path):
    missing = tmp_path / "missing.pt"
    completed = subprocess.run(
        [sys.executable, "-m", "ganforge.cli", "info", str(missing)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 1 and f"error: checkpoint {missing} does not exist" in completed.stderr
    bogus = subprocess.run([sys.executable, "-m", "ganforge.cli", "bogus"], capture_output=True, text=True, timeout=120)
    assert bogus.returncode == 2 and "No such command 'bogus'" in bogus.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "ganforge.cli", "sample", "--help"], capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 0 and "ganforge sample runs/" in usage.stdout


def test_importing_the_cli_does_not_import_torch():
    completed = _python("import ganforge.cli, sys; assert 'torch' not in sys.modules, sorted(sys.modules)")
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize(
    "args, code",
    [
        (["--help"], 0),
        (["sample", "--help"], 0),
        (["train", "--help"], 0),
        (["translate", "--help"], 0),
        (["sample", "x.pt", "--num", "0"], 2),
        (["interpolate", "x.pt", "--seeds", "0-99999999", "--out", "w.gif"], 2),
        (["train", "--kimg", "lots"], 2),
        (["prepare", "src", "--out", "x.zip", "--channels", "2"], 2),
    ],
)
def test_help_and_flag_errors_without_torch(args, code):
    completed = _python(NO_TORCH.format(args=args))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().endswith(f"exit {code}")


@pytest.mark.slow
def test_lazy_public_api_in_a_fresh_interpreter():
    completed = _python("""
import sys, ganforge
assert 'torch' not in sys.modules
import ganforge.training.setup, ganforge.translation   # the packages behind ganforge.train and ganforge.translate
assert callable(ganforge.train) and ganforge.train.__module__ == 'ganforge.training.setup'
assert callable(ganforge.translate) and ganforge.translate.__module__ == 'ganforge.translation'
from ganforge import load, evaluate, export, describe, prepare_dataset, resolve, Config, TrainResult
assert ganforge.load is load and load.__module__ == 'ganforge.artifacts.generator'
assert {'train', 'load', 'evaluate', 'ConfigError'} <= set(dir(ganforge)) and set(ganforge.__all__) <= set(dir(ganforge))
try:
    ganforge.no_such_name
except AttributeError as error:
    assert 'no_such_name' in str(error)
else:
    raise AssertionError('no AttributeError')
""")
    assert completed.returncode == 0, completed.stderr
