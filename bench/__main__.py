"""`python -m bench` runs the fwbench command line."""
import sys

from bench.cli import main

sys.exit(main())
