def test_an_unknown_api_url_answers_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["path"] == "url"


def test_an_unknown_page_answers_the_html_404_page(client, db):
    response = client.get("/no-such-page/<b>")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Not found" in page
    # It names the path (escaped), not the resolver's exception class.
    assert "Nothing lives at <code>/no-such-page/&lt;b&gt;</code>" in page
    assert "Resolver404" not in page


def test_a_view_that_finds_nothing_says_why(client, db):
    response = client.get("/snapshots/999/")
    assert response.status_code == 404
    assert "No snapshot" in response.content.decode()
