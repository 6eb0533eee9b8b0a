"""The per-sample cache survives a kill mid-write and keys on everything that changes an answer."""
from __future__ import annotations

import numpy as np

from harness.evaluation.cache import ResponseCache, decode_array, encode_array, request_key


def test_entries_written_by_one_cache_are_read_by_the_next(tmp_path):
    ResponseCache(tmp_path / "c.jsonl").put_many([("a", {"text": "red"}), ("b", {"text": "blue"})])
    cache = ResponseCache(tmp_path / "c.jsonl")
    assert cache.get("a") == {"text": "red"} and cache.get("b") == {"text": "blue"}


def test_a_line_cut_short_by_a_kill_is_ignored_and_appending_goes_on(tmp_path):
    path = tmp_path / "c.jsonl"
    ResponseCache(path).put_many([("a", {"text": "red"})])
    with path.open("a") as fh:
        fh.write('{"key": "b", "value": {"te')  # a write a SIGKILL interrupted
    cache = ResponseCache(path)
    assert cache.get("b") is None
    cache.put_many([("c", {"text": "green"})])
    again = ResponseCache(path)
    assert again.get("a") == {"text": "red"} and again.get("c") == {"text": "green"}


def test_key_depends_on_checkpoint_task_doc_prompt_and_settings():
    base = dict(checkpoint_id="ck", task_fingerprint="t", doc_id=1, kind="generate_until", arguments=["q"],
                settings={"max_new_tokens": 8})
    key = request_key(**base)
    for change in [{"checkpoint_id": "ck2"}, {"task_fingerprint": "t2"}, {"doc_id": 2}, {"arguments": ["q2"]},
                   {"settings": {"max_new_tokens": 9}}, {"kind": "loglikelihood"}]:
        assert request_key(**{**base, **change}) != key


def test_hidden_states_round_trip_through_the_cache_encoding():
    array = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float16)
    np.testing.assert_array_equal(decode_array(encode_array(array)), array)
