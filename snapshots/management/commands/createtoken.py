from django.core.management.base import BaseCommand, CommandError

from snapshots.models import IngestToken


class Command(BaseCommand):
    help = (
        "Create an ingest token and print it once (only its hash is stored). "
        "From the first token on, every ingest must carry a valid one."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="what the token is for, e.g. ci or vx-vfsd")

    def handle(self, *args, name, **options):
        if IngestToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} already exists")
        raw = IngestToken.create(name)
        self.stderr.write(f"Created token {name!r}. It is shown once; store it now:")
        self.stdout.write(raw)
