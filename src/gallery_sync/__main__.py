"""python -m gallery_sync"""

import sys

from gallery_sync.cli import main

sys.exit(main())
