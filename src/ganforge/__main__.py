"""`python -m ganforge` (also what torchrun launches: `torchrun ... -m ganforge train ...`)."""

from .cli import main

main()
