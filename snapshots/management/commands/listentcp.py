import threading

from django.core.management.base import BaseCommand, CommandError

from snapshots.tcp import DEFAULT_HOST, DEFAULT_PORT, TcpIngestServer, parse_address


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
        parser.add_argument("--max-connections", type=int, default=256)

    def handle(self, *args, address, max_connections, **options):
        verbose = options["verbosity"] >= 1
        totals = {"stored": 0, "rejected": 0, "connections": 0}
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

        try:
            server = TcpIngestServer(
                parse_address(address),
                max_connections=max_connections,
                on_frame=on_frame,
                on_close=on_close,
            )
        except OSError as exc:
            raise CommandError(f"cannot listen on {address}: {exc.strerror or exc}") from exc
        host, port = server.server_address[:2]
        self.stdout.write(f"Listening for peeps pushes on {host}:{port} (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        self.stdout.write(
            f"Stopped: {totals['stored']} snapshots stored, {totals['rejected']} refused, "
            f"from {totals['connections']} connections."
        )
