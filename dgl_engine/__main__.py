import sys

from dgl_engine.cli import main

sys.exit(main())
