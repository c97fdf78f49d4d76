"""POST /v1/images: every accepted format and every refusal, as a curl user sees them."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import aiohttp
import pytest
from PIL import Image

from origin.app_keys import SETTINGS
from tests import images
from tests.conftest import Origin

ACCEPTED = [
    pytest.param(images.jpeg(), "jpg", "image/jpeg", id="jpeg"),
    pytest.param(images.png(), "png", "image/png", id="png"),
    pytest.param(images.webp(), "webp", "image/webp", id="webp"),
    pytest.param(images.animated_gif(), "gif", "image/gif", id="gif"),
    pytest.param(images.avif(), "avif", "image/avif", id="avif"),
]


async def test_upload_answers_201_with_exactly_the_documented_fields(any_origin: Origin) -> None:
    key = await any_origin.user()
    response = await any_origin.upload(key, images.jpeg(), "beach.jpg", tags='["Travel", "beach"]')
    body = await response.json()
    assert response.status == 201
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"id", "url", "filename", "sizeBytes", "isPublic", "tags", "createdAt", "width", "height"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{11}", data["id"])
    assert data["url"] == f"https://media.picora.test/{data['id']}.jpg"
    assert data["filename"] == "beach.jpg"
    assert data["sizeBytes"] == len(images.jpeg())
    assert data["isPublic"] is True
    assert data["tags"] == ["travel", "beach"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["createdAt"])
    created = datetime.strptime(data["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


@pytest.mark.parametrize(("data", "ext", "content_type"), ACCEPTED)
async def test_each_format_is_detected_from_bytes_and_served_back_identically(
    origin: Origin, data: bytes, ext: str, content_type: str
) -> None:
    key = await origin.user()
    # A misleading name and declared type: detection must use the bytes only.
    uploaded = await origin.upload_ok(key, data, "misleading.txt")
    assert uploaded["url"].endswith(f".{ext}")
    served = await origin.client.get(f"/{uploaded['id']}.{ext}")
    assert served.status == 200
    assert served.headers["Content-Type"] == content_type
    assert await served.read() == data


async def test_animated_gif_stays_animated(origin: Origin) -> None:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, images.animated_gif(frames=4), "anim.gif")
    body = await (await origin.client.get(f"/{uploaded['id']}.gif")).read()
    with Image.open(io.BytesIO(body)) as gif:
        assert getattr(gif, "n_frames", 1) == 4
        assert getattr(gif, "is_animated", False)


async def test_heic_is_converted_to_jpeg_without_location(origin: Origin) -> None:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, images.heic_with_location(), "IMG_0001.HEIC")
    assert uploaded["url"].endswith(".jpg")
    served = await origin.client.get(f"/{uploaded['id']}.jpg")
    body = await served.read()
    assert served.headers["Content-Type"] == "image/jpeg"
    assert uploaded["sizeBytes"] == len(body)
    with Image.open(io.BytesIO(body)) as converted:
        assert converted.format == "JPEG"
        assert converted.size == (80, 60)
        exif = converted.getexif()
        assert 0x8825 not in exif
        assert exif.get_ifd(0x8825) == {}
    assert b"PicoraTestCam" not in body
    assert (await origin.client.get(f"/{uploaded['id']}.heic")).status == 404


async def test_svg_is_sanitized_of_scripts_events_javascript_external_refs_and_entities(origin: Origin) -> None:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, images.MALICIOUS_SVG, "logo.svg")
    served = await origin.client.get(f"/{uploaded['id']}.svg")
    body = (await served.read()).decode()
    assert served.headers["Content-Type"] == "image/svg+xml"
    lowered = body.lower()
    for forbidden in ("<script", "onload", "onclick", "javascript:", "evil.example", "<!doctype", "<!entity",
                      "/etc/passwd", "track.png", "sprite.svg"):  # fmt: skip
        assert forbidden not in lowered, forbidden
    assert 'href="#box"' in body
    assert "<rect" in body
    assert uploaded["sizeBytes"] == len(body.encode())


async def test_svg_over_two_megabytes_is_refused_with_413(origin: Origin) -> None:
    key = await origin.user()
    big = b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<!--" + b"x" * (2 * 1024 * 1024) + b"--></svg>"
    response = await origin.upload(key, big, "big.svg")
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        pytest.param(b"", 400, "EMPTY_FILE", id="empty"),
        pytest.param(b"%PDF-1.7\n" + b"0" * 100, 415, "UNSUPPORTED_MEDIA_TYPE", id="pdf"),
        pytest.param(b"plain text pretending", 415, "UNSUPPORTED_MEDIA_TYPE", id="text"),
        pytest.param(b"BM" + b"\0" * 60, 415, "UNSUPPORTED_MEDIA_TYPE", id="bmp-not-accepted"),
        pytest.param(images.jpeg((256, 256))[:600], 400, "INVALID_IMAGE", id="truncated-jpeg"),
        pytest.param(images.png((256, 256))[:100], 400, "INVALID_IMAGE", id="truncated-png"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, 400, "INVALID_IMAGE", id="png-magic-garbage"),
        pytest.param(b"<svg><unclosed", 400, "INVALID_SVG", id="broken-svg"),
        pytest.param(
            images.pixel_bomb(9500, 9500),
            400,
            "IMAGE_TOO_MANY_PIXELS",
            id="bomb-between-1x-and-2x",  # Pillow only warns there; the origin refuses
        ),
        pytest.param(images.pixel_bomb(20000, 20000), 400, "IMAGE_TOO_MANY_PIXELS", id="bomb-over-2x"),
    ],
)
async def test_bad_files_are_refused_with_a_clear_4xx_and_nothing_is_kept(
    origin: Origin, data: bytes, status: int, code: str
) -> None:
    key = await origin.user()
    response = await origin.upload(key, data, "x.jpg")
    body = await response.json()
    assert response.status == status, body
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    usage = await (await origin.client.get("/v1/usage", headers=origin.auth(key))).json()
    assert usage["data"]["img_storage"]["usedBytes"] == 0
    listing = await (await origin.client.get("/v1/images", headers=origin.auth(key))).json()
    assert listing["data"]["items"] == []
    assert not [p for p in (origin.app[SETTINGS].objects_dir).rglob("*") if p.is_file()]


async def test_upload_without_credentials_is_401_and_with_a_bad_key_is_401(origin: Origin) -> None:
    anonymous = await origin.upload(None, images.jpeg())
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await anonymous.json())["error"]["code"] == "UNAUTHORIZED"
    forged = await origin.upload("sk_live_" + "A" * 32, images.jpeg())
    assert forged.status == 401
    basic = await origin.client.post("/v1/images", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status == 401


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"isPublic": "maybe"}, "VALIDATION_ERROR", id="bad-isPublic"),
        pytest.param({"tags": "travel"}, "INVALID_TAGS", id="tags-not-json"),
        pytest.param({"tags": '{"a": 1}'}, "INVALID_TAGS", id="tags-not-array"),
        pytest.param({"tags": "[1, 2]"}, "INVALID_TAGS", id="tags-not-strings"),
        pytest.param({"tags": '["' + "x" * 33 + '"]'}, "INVALID_TAGS", id="tag-too-long"),
        pytest.param({"tags": '["  "]'}, "INVALID_TAGS", id="tag-empty-after-trim"),
        pytest.param({"tags": str([f"t{i}" for i in range(11)]).replace("'", '"')}, "INVALID_TAGS", id="eleven-tags"),
        pytest.param({"tags": '["a\\u0000b"]'}, "INVALID_TAGS", id="tag-control-char"),
    ],
)
async def test_bad_form_fields_are_400(origin: Origin, fields: dict[str, str], code: str) -> None:
    key = await origin.user()
    response = await origin.upload(key, images.jpeg(), **fields)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == code


async def test_tags_are_normalised_and_deduplicated(origin: Origin) -> None:
    key = await origin.user()
    data = await origin.upload_ok(key, images.jpeg(), tags='[" Travel ", "travel", "New   York", "CAFÉ"]')
    assert data["tags"] == ["travel", "new york", "café"]


async def test_private_upload_with_isPublic_false(origin: Origin) -> None:
    key = await origin.user()
    data = await origin.upload_ok(key, images.png(), isPublic="false")
    assert data["isPublic"] is False


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"not multipart at all", "text/plain", id="not-multipart"),
        pytest.param(
            b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n',
            "multipart/form-data; boundary=xyz",
            id="truncated-multipart",
        ),
        pytest.param(b"garbage", "multipart/form-data", id="no-boundary"),
        pytest.param(b"--xyz--\r\n", "multipart/form-data; boundary=xyz", id="no-file-field"),
        pytest.param(b'{"file": "x"}', "application/json", id="json-body"),
    ],
)
async def test_malformed_bodies_are_400_never_500(origin: Origin, body: bytes, content_type: str) -> None:
    key = await origin.user()
    response = await origin.client.post(
        "/v1/images", data=body, headers={**origin.auth(key), "Content-Type": content_type}
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] in {"INVALID_FORM", "BAD_REQUEST"}


async def test_two_file_fields_are_refused(origin: Origin) -> None:
    key = await origin.user()
    form = aiohttp.FormData()
    form.add_field("file", images.jpeg(), filename="a.jpg")
    form.add_field("file", images.png(), filename="b.png")
    response = await origin.client.post("/v1/images", data=form, headers=origin.auth(key))
    assert response.status == 400


async def test_filename_loses_directories_and_control_characters(origin: Origin) -> None:
    key = await origin.user()
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="..\\..\\etc/pass\xe2\x80\xaewd.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + images.jpeg() + b"\r\n--b0undary--\r\n"
    )
    headers = {**origin.auth(key), "Content-Type": "multipart/form-data; boundary=b0undary"}
    response = await origin.client.post("/v1/images", data=body, headers=headers)
    assert response.status == 201, await response.text()
    assert (await response.json())["data"]["filename"] == "passwd.jpg"


async def test_control_characters_in_part_headers_are_a_400(origin: Origin) -> None:
    key = await origin.user()
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a\x7fb.jpg"\r\n\r\n'
        + images.jpeg()
        + b"\r\n--b0undary--\r\n"
    )
    headers = {**origin.auth(key), "Content-Type": "multipart/form-data; boundary=b0undary"}
    response = await origin.client.post("/v1/images", data=body, headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "INVALID_FORM"
