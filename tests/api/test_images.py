"""Image chatbots (business rules §6, api.md §5): the reply's image is a real PNG under /media/, served
without a login at an unguessable name."""

import re
import struct

from tests.api.harness import bare, create_session, exchange

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_generator(client) -> int:
    return next(b["id"] for b in client.get("/api/chatbots/").json() if b["chatbot_type"] == "image")


def test_an_image_reply_is_a_png_served_without_login(system, premium):
    session = create_session(premium, image_generator(premium))
    result = exchange(premium, session["id"], "A lighthouse at dusk, watercolour")
    reply = result["messages"][-1]
    assert reply["message_type"] == "assistant"
    urls = [u for u in reply["image_url"].split(",") if u]
    assert urls, reply
    for url in urls:
        assert url.startswith("/media/")
        # A random UUID in the name: nobody can list or guess other users' images.
        assert re.search(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", url), url
        response = bare(system).get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        png = response.content
        assert png.startswith(PNG_SIGNATURE) and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert width > 0 and height > 0
        assert png.endswith(b"IEND\xaeB`\x82")


def test_media_outside_the_folder_is_not_served(system):
    client = bare(system)
    for path in ("/media/../gateway.db", "/media/%2e%2e/gateway.db", "/media/..%2fgateway.db", "/media/nothing-here.png"):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
