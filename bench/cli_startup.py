"""Start-up time of the `ganforge` command: --help, a sub-command's --help and a flag error, each in a fresh
interpreter, against the bare interpreter and `import torch` measured in the same run (medians of --rounds).

    python bench/cli_startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (reference)": ["-c", "pass"],
    "python -c 'import torch' (reference)": ["-c", "import torch"],
    "ganforge --help": ["-m", "ganforge", "--help"],
    "ganforge sample --help": ["-m", "ganforge", "sample", "--help"],
    "ganforge sample x.pt --num 0 (flag error)": ["-m", "ganforge", "sample", "x.pt", "--num", "0"],
}


def seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):  # interleaved, so load changes hit all cases alike
        for name, args in CASES.items():
            times[name].append(seconds(args))
    torch_time = statistics.median(times["python -c 'import torch' (reference)"])
    print(f"{'command':<44} {'median s':>9} {'vs import torch':>16}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<44} {median:>9.3f} {median / torch_time:>15.2f}x")


if __name__ == "__main__":
    main()
