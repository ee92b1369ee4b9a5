import sys

from peepsweb.client.cli import main

sys.exit(main())
