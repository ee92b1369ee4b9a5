"""A web page cannot pose as an agent: Chromium opening /ws/agent/ on a real
daphne from a page of another origin, while the server is open (no token)."""

import http.server
import threading

OPEN_AGENT_SOCKET = """url => new Promise(resolve => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onerror = () => resolve("refused");
})"""


class ForeignPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><p>some other site</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_of_another_origin_cannot_open_the_agent_socket(daphne_server, browser_page):
    server = daphne_server()
    # Another site the developer has open, served from 127.0.0.2 (not in
    # ALLOWED_HOSTS). On loopback too, so that Chromium's own local-network
    # checks, which a page on a LAN address would not meet, stay out of it.
    site = http.server.ThreadingHTTPServer(("127.0.0.2", 0), ForeignPage)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        browser_page.goto(f"http://127.0.0.2:{site.server_address[1]}/")
        opened = browser_page.evaluate(OPEN_AGENT_SOCKET, server.ws_url + "/ws/agent/")
    finally:
        site.shutdown()
        site.server_close()
    assert opened == "refused"
    assert "WSREJECT /ws/agent/" in server.log()

    # The dashboard's own pages still may (the Origin check of /ws/updates/).
    browser_page.goto(server.url + "/agents/")
    assert browser_page.evaluate(OPEN_AGENT_SOCKET, server.ws_url + "/ws/agent/") == "open"
