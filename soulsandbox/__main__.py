"""``python -m soulsandbox --port 8765 [options]``: run the sandbox gateway in the foreground."""

from soulsandbox.cli import main

raise SystemExit(main())
