"""mcverify.sampling.seeding against NumPy's own SeedSequence and SFC64, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from mcverify.sampling.seeding import StreamPool, case_seed, case_seeds, sfc64_states

INDICES = [0, 1, 2, 7, 1000, 123_456_789, 2**32 - 1, 2**32, 2**40 + 3]


@pytest.mark.parametrize("root", [0, 1, 12345, 2**32 - 1, 2**32 + 5, 2**64 + 7, 2**130 + 3])
@pytest.mark.parametrize("replicate", [0, 3, 2**33])
def test_case_seeds_match_seed_sequence(root, replicate):
    expected = [case_seed(root, i, replicate) for i in INDICES]
    assert case_seeds(root, INDICES, replicate).tolist() == expected


def test_case_seeds_of_a_block_and_empty():
    idx = np.arange(5000, 5300)
    assert case_seeds(99, idx).tolist() == [case_seed(99, int(i)) for i in idx]
    assert case_seeds(99, []).shape == (0,)
    with pytest.raises(ValueError):
        case_seeds(1, [-1])


@pytest.mark.parametrize("seed", [0, 1, 5, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 123456789012345])
def test_sfc64_states_match_numpy(seed):
    (state,) = sfc64_states([seed])
    expected = np.random.SFC64(np.random.SeedSequence(seed)).state["state"]["state"]
    assert state.tolist() == expected.tolist()


def test_stream_pool_draws_what_a_fresh_generator_draws():
    seeds = case_seeds(7, range(20))
    states = sfc64_states(seeds)
    pool = StreamPool()
    for k in [3, 0, 19, 3, 11]:  # any order, repeats
        got = pool.generator(states[k]).standard_normal(1000)
        fresh = np.random.Generator(np.random.SFC64(np.random.SeedSequence(int(seeds[k])))).standard_normal(1000)
        assert np.array_equal(got, fresh)


@pytest.mark.parametrize("direct", [True, False], ids=["state-record-copy", "state-dict"])
def test_stream_pool_each_draws_what_fresh_generators_draw(direct):
    seeds = case_seeds(11, range(30))
    states = sfc64_states(seeds)[[4, 0, 29, 4, 17]]  # any order, repeats
    pool = StreamPool()
    assert pool._direct  # numpy's SFC64 record layout is what StreamPool.each copies
    pool._direct = direct
    for rng, k in zip(pool.each(states), [4, 0, 29, 4, 17]):
        rng.integers(0, 7, size=3, dtype=np.uint32)  # leaves a buffered 32-bit half behind
        got = rng.standard_normal(1000)
        fresh = np.random.Generator(np.random.SFC64(np.random.SeedSequence(int(seeds[k]))))
        fresh.integers(0, 7, size=3, dtype=np.uint32)
        assert np.array_equal(got, fresh.standard_normal(1000))
        assert rng.bit_generator.state["has_uint32"] == fresh.bit_generator.state["has_uint32"]


def test_stream_pool_each_resets_a_buffered_half():
    # A 32-bit draw leaves half a word buffered; the next case must not see it.
    states = sfc64_states(case_seeds(3, range(2)))
    steps = StreamPool().each(states)
    next(steps).integers(0, 2**32, dtype=np.uint32)  # buffers the other half
    rng = next(steps)
    fresh = np.random.Generator(np.random.SFC64(np.random.SeedSequence(int(case_seeds(3, [1])[0]))))
    assert rng.bit_generator.state["has_uint32"] == 0
    assert np.array_equal(
        rng.integers(0, 2**32, size=5, dtype=np.uint32), fresh.integers(0, 2**32, size=5, dtype=np.uint32)
    )
