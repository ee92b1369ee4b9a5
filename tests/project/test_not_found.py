def test_an_unknown_api_url_answers_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["path"] == "url"


def test_an_unknown_page_answers_the_html_404_page(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Not found" in response.content
