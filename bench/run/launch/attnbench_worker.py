"""Starts the measuring process (bench.run.worker) without the working directory first on its import path.

`python -m bench.run.worker` would put the session's working directory first, where a project's own
`bench` or `models` package would shadow this tool's. Run as a script, Python puts this folder first
instead, which holds nothing else; the worker's PYTHONPATH (bench.run.process) then lists this tool's
root before the working directory, so the project's own layers stay importable without shadowing.
"""

import sys

from bench.run.worker import main

if __name__ == "__main__":
    sys.exit(main())
