"""What the README says about purge secrets and signature parameters holds, and the README says it."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings
from tests import images
from tests.conftest import Origin

README = (Path(__file__).parents[3] / "README.md").read_text()


def test_purge_secrets_need_32_bytes_and_the_readme_says_so() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"PICORA_PURGE_SECRETS": "s" * 31})
    assert "purge_secrets[0]: must be at least 32 bytes" in caught.value.problems
    load_settings({"PICORA_PURGE_SECRETS": "s" * 32})
    row = next(line for line in README.splitlines() if line.startswith("| `PICORA_PURGE_SECRETS`"))
    assert "at least 32 bytes" in row
    # The curl example's $PURGE_SECRET is said to be one of the origin's secrets.
    example = README[: README.index('-hmac "$PURGE_SECRET"')].rsplit("# purge:", 1)[1]
    assert "PURGE_SECRET must be one of the origin's PICORA_PURGE_SECRETS" in example


async def test_signature_parameters_on_a_public_image_are_ignored_as_the_readme_says(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    path = f"/{image['id']}.png"
    for query in ("?exp=1&sig=tampered", "?sig=x", "?exp=9999999999&sig=AAAA"):
        response = await origin.client.get(path + query)
        assert (response.status, await response.read()) == (200, images.png()), query
    private = await origin.upload_ok(key, images.png(size=(20, 20)), isPublic="false")
    tampered = await origin.client.get(f"/{private['id']}.png?exp=9999999999&sig=AAAA")
    assert tampered.status == 401
    assert "On a public image `exp` and `sig` are ignored" in README
