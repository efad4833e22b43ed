"""``python -m consent_svc``: the command line (consent_svc.cli)."""

import sys

from consent_svc.cli import main

if __name__ == "__main__":
    sys.exit(main())
