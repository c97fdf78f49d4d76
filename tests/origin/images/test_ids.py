"""Image ids: the shape every route accepts, and never a leading ``-`` (a command line would take it for an option)."""

from __future__ import annotations

from origin.images.ids import ALPHABET, ID_PATTERN, new_image_id


def test_new_ids_match_the_pattern_and_never_start_with_a_dash() -> None:
    ids = [new_image_id() for _ in range(5000)]
    assert all(ID_PATTERN.fullmatch(image_id) for image_id in ids)
    assert not [image_id for image_id in ids if image_id.startswith("-")]
    assert len(set(ids)) == len(ids)
    # Every character of the alphabet still appears, "-" included (after the first position).
    assert set("".join(ids)) == set(ALPHABET)
