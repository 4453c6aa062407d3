"""The benchmarks (`make bench`, `python -m bench.run`). Every module here is importable on its own
(`bench.profile` imports the benchmark paths), so the shared settings live in this package."""

import os

# servers started by any bench module pick a free FIX port instead of the default 9878, which
# another server on the machine may hold
os.environ.setdefault("REFSERVER_FIX_PORT", "0")
