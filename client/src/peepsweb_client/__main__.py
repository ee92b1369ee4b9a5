import sys

from peepsweb_client.cli import main

sys.exit(main())
