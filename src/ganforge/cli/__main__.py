"""`python -m ganforge.cli` (and `torchrun ... -m ganforge.cli train ...`)."""

from . import main

main()
