"""The synthesis source keys connections by a hash of each endpoint, and is exact all the same.

`recommend/source.py` joins connections on 64-bit hashes of their endpoint columns instead of the
long text keys that name endpoints; the text is built once per distinct endpoint. These tests pin
that the hashed source gives what the text keys give, that each hash stands for exactly one text
key, and that when two endpoints share a hash (forced here), generate falls back to the text keys
and still writes the same policies, summary and verification.
"""

from __future__ import annotations

import pytest

from recommender import generate
from recommender.recommend import source
from recommender.recommend.identity import endpoint_key_sql
from tests.test_generate_paths import shop_rows
from tests.test_synthesis import make_store


def test_every_hash_stands_for_one_text_key_and_every_endpoint_is_listed_once() -> None:
    con = make_store(shop_rows())
    source.prepare_source(con, include_denied=False)
    found = source.endpoints(con)
    assert found is not None
    eps, keys = found
    texts = {r[0] for r in con.execute(
        f"SELECT {endpoint_key_sql('src')} FROM connections UNION SELECT {endpoint_key_sql('dst')} FROM connections"
    ).fetchall()}
    assert [e[0] for e in eps] == sorted(texts)                  # one row per text key, in key order
    assert keys is not None and {k for _, k in keys} == texts
    assert len({h for h, _ in keys}) == len(keys)                # a hash never stands for two texts
    # every connection's two hashes are among them
    hashes = {h for h, _ in keys}
    assert {h for (h,) in con.execute("SELECT _sk FROM _rec_conns UNION SELECT _dk FROM _rec_conns").fetchall()} <= hashes


def test_text_keys_give_the_same_endpoints() -> None:
    con = make_store(shop_rows())
    source.prepare_source(con, include_denied=False)
    hashed = source.endpoints(con)
    source.prepare_source(con, include_denied=False, text_keys=True)
    text = source.endpoints(con, text_keys=True)
    assert hashed is not None and text is not None
    assert hashed[0] == text[0] and text[1] is None


@pytest.mark.parametrize("slack", [0, 1])
def test_endpoints_sharing_a_hash_fall_back_to_text_keys_with_the_same_result(monkeypatch, slack: int) -> None:  # type: ignore[no-untyped-def]
    con = make_store(shop_rows())
    expected = generate(con, port_range_slack=slack)
    real = source._hash_sql
    # every endpoint gets the same main hash: the second hash disagrees within the group
    monkeypatch.setattr(source, "_hash_sql", lambda side, salt="": real(side, salt) if salt else "hash(0)")
    calls: list[bool] = []
    prepare = source.prepare_source
    monkeypatch.setattr(source, "prepare_source",
                        lambda con, include_denied, text_keys=False: calls.append(text_keys) or
                        prepare(con, include_denied, text_keys))
    again = generate(con, port_range_slack=slack)
    assert calls == [False, True]                                # hashed first, then by text
    assert again.yaml() == expected.yaml()
    assert again.summary == expected.summary
    assert again.verification.equals(expected.verification)
