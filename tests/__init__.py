"""The test suite.

Bytecode caches are kept while the tests run, even where ``PYTHONDONTWRITEBYTECODE`` is
set (as on the project's build machines): this package is imported before the fixtures
import the application, and the processes the tests start (``echo-ai serve``, Celery
workers, command-line runs) inherit the environment. Without the caches every test
process and every such subprocess compiled some 1,500 modules from source, and pytest
rewrote every test module again: 6 to 10 s per process on a busy 2-core machine instead
of about 2. The caches are ``__pycache__`` directories, ignored by git.
"""

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
