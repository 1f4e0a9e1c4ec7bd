import sys

from ._store import main

sys.exit(main())
