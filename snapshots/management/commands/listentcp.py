import threading

from django.core.management.base import BaseCommand, CommandError

from snapshots.ingest.tcp import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    FIRST_FRAME_TIMEOUT_S,
    MAX_CONNECTIONS,
    MAX_PER_PEER,
    TcpIngestServer,
    parse_address,
)
from snapshots.models import IngestToken


class Command(BaseCommand):
    help = (
        "Accept peeps push connections (PEEPS_DASHBOARD=host:port): frames of a "
        "4-byte big-endian length + UTF-8 JSON ProcessDump, each ingested like a POST. "
        f"Default address {DEFAULT_HOST}:{DEFAULT_PORT}."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "address",
            nargs="?",
            default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
            help="host:port to listen on (peeps' PEEPS_LISTEN default is 127.0.0.1:9119)",
        )
        parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS)
        parser.add_argument(
            "--max-per-peer",
            type=int,
            default=MAX_PER_PEER,
            help="connections one peer address may hold at once",
        )
        parser.add_argument(
            "--first-frame-timeout",
            type=float,
            default=FIRST_FRAME_TIMEOUT_S,
            metavar="SECONDS",
            help="close a connection that sends no frame this long after connecting",
        )
        parser.add_argument(
            "--allow-unauthenticated",
            action="store_true",
            help="store frames without a token even once ingest tokens exist (peeps cannot "
            "send one); only on a loopback address",
        )

    def handle(
        self,
        *args,
        address,
        max_connections,
        max_per_peer,
        first_frame_timeout,
        allow_unauthenticated,
        **options,
    ):
        verbose = options["verbosity"] >= 1
        totals = {"stored": 0, "rejected": 0, "connections": 0, "turned_away": 0}
        lock = threading.Lock()  # one thread per connection reports here

        def count(key):
            with lock:
                totals[key] += 1

        def on_frame(stats, proc, err):
            if err is None:
                count("stored")
                if verbose:
                    self.stdout.write(
                        f"{stats.peer}: snapshot {proc.snapshot_id} "
                        f"({proc.proc_key}, {proc.node_count} nodes, {proc.edge_count} edges)"
                    )
            else:
                count("rejected")
                where = f" at {err.path}" if err.path else ""
                self.stderr.write(f"{stats.peer}: refused {err.status} {err.message}{where}")

        def on_close(stats):
            count("connections")
            if stats.closed_for:
                self.stderr.write(f"{stats.peer}: connection closed: {stats.closed_for}")

        def on_refuse(peer, reason):
            count("turned_away")
            self.stderr.write(f"{peer}: turned away: {reason}")

        try:
            server = TcpIngestServer(
                parse_address(address),
                max_connections=max_connections,
                max_per_peer=max_per_peer,
                first_frame_timeout=first_frame_timeout,
                allow_unauthenticated=allow_unauthenticated,
                on_frame=on_frame,
                on_close=on_close,
                on_refuse=on_refuse,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot listen on {address}: {exc.strerror or exc}") from exc
        host, port = server.server_address[:2]
        self.stdout.write(f"Listening for peeps pushes on {host}:{port} (Ctrl-C to stop)")
        if allow_unauthenticated:
            self.stdout.write("Frames are stored without an ingest token (loopback only).")
        elif IngestToken.objects.exists():
            self.stdout.write(
                'Ingest tokens exist: each connection must first send {"token": "<token>"} '
                "(peeps cannot; see --allow-unauthenticated)."
            )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        self.stdout.write(
            f"Stopped: {totals['stored']} snapshots stored, {totals['rejected']} refused, "
            f"from {totals['connections']} connections; "
            f"{totals['turned_away']} connections turned away."
        )
