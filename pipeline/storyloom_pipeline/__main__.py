import sys

from storyloom_pipeline.cli import main

sys.exit(main())
