"""The agent-facing catalog and the world that maps tracks by id."""

from __future__ import annotations

import numpy as np
import pytest

from musicgym.embeddings import TrackEmbeddings
from musicgym.embeddings.catalog import Catalog
from musicgym.simulator.user_model import World


def embeddings() -> TrackEmbeddings:
    vectors = np.array([[2.0, -1.0], [0.5, 4.0], [-8.0, 1.0], [1.0, 1.0]], np.float32)
    return TrackEmbeddings(["a", "b", "c", "d"], vectors,
                           fallback=np.array([False, False, False, True]))


def test_catalog_scales_the_recommendable_tracks_into_the_box() -> None:
    catalog = Catalog.from_embeddings(embeddings(), plays=np.array([5, 3, 1, 9]), min_plays=3)
    # c has too few plays, d only a fallback vector: a and b are recommendable
    np.testing.assert_array_equal(catalog.recommendable, [0, 1])
    assert catalog.scale == pytest.approx(1 / 4.0)  # b's 4.0 is their largest coordinate
    np.testing.assert_allclose(catalog.vectors[:2], [[0.5, -0.25], [0.125, 1.0]])
    # c's vector scaled by the same factor leaves the box and is clipped
    np.testing.assert_allclose(catalog.vectors[2], [-1.0, 0.25])
    assert list(catalog.track_ids) == ["a", "b", "c", "d", ""]
    assert catalog.unknown_row == 4 and not catalog.vectors[4].any()
    np.testing.assert_array_equal(catalog.plays, [5, 3, 1, 9, 0])
    assert catalog.dim == 2


def test_catalog_checksum_identifies_ids_vectors_and_recommendable_rows() -> None:
    base = Catalog.from_embeddings(embeddings(), np.array([5, 3, 1, 9]), 3)
    same = Catalog.from_embeddings(embeddings(), np.array([5, 3, 1, 9]), 3)
    more = Catalog.from_embeddings(embeddings(), np.array([5, 3, 1, 9]), 1)
    assert base.checksum == same.checksum and len(base.checksum) == 64
    assert more.checksum != base.checksum


def test_world_maps_ids_to_its_own_rows() -> None:
    class Model:
        hidden = 4

    world = World(members=(Model(),), track_ids=np.array(["c", "a", "b"], dtype=object))
    np.testing.assert_array_equal(world.rows(np.array(["a", "b", "zz", "", "c"], dtype=object)),
                                  [1, 2, 3, 3, 0])
    assert world.unknown_row == 3
