import re
import urllib.error
import urllib.request

from django.db import connection

from snapshots.models import Snapshot


def raw_title(url):
    try:
        body = urllib.request.urlopen(url, timeout=10).read()
    except urllib.error.HTTPError as error:
        body = error.read()
    match = re.search(rb"<title>(.*?)</title>", body, re.S)
    return match.group(1).decode().strip() if match else ""


def test_chromium_renders_a_page_served_by_daphne(daphne_server, browser_page):
    server = daphne_server()
    url = server.url + "/no-such-page-anywhere/"

    browser_page.goto(url)

    assert browser_page.title() != ""
    assert browser_page.title() == raw_title(url)


def test_the_orm_works_while_the_browser_runs(transactional_db, browser_page):
    # Without DJANGO_ALLOW_ASYNC_UNSAFE this raises SynchronousOnlyOperation:
    # Playwright's event loop counts as "running" in this thread.
    Snapshot.objects.create()

    assert Snapshot.objects.count() == 1


def test_browser_tests_run_inside_the_db_fixtures_transaction(db, browser_page):
    # Otherwise their rows would be committed and leak into later tests.
    assert connection.in_atomic_block
