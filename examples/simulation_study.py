"""Simulation study runner: ``python examples/simulation_study.py --config CONFIG [--set K=V ...]``.

The same as ``gemcont study``; see ``learners/gemcont/study.py`` for the design and
``examples/configs/`` for the CPU-sized and paper-sized configurations.
"""
from __future__ import annotations

import sys

from learners.gemcont.cli import main

if __name__ == "__main__":
    main(["study", *sys.argv[1:]])
