"""The bundle's entry script: PyInstaller starts from a file; the app lives in the package."""

import sys

from storyloom.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
