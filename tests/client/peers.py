"""A server that misbehaves for client tests (see also proxy.py for canned
answers and relaying to a real server)."""

import socket
import threading


class HangingServer:
    """Accepts connections, reads nothing, answers nothing."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])
            except OSError:
                return

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.listener.close()
        for conn in self.accepted:
            conn.close()
