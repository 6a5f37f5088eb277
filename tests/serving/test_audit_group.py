"""Group commit of the audit trail: one transaction per event-loop turn, each answer its own batch id."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from serving.audit_group import GroupCommit, collecting, queue
from tests.serving.conftest import ADMIN, BILLING, IDS
from tests.serving.test_collections import WINTER, make_client, write_protection
from training.collections_settings import CollectionsSettings

NOW = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)


class Store:
    """A commit function that numbers what it stores; it can be told to fail."""

    def __init__(self):
        self.commits: list[list] = []
        self.fail = False

    def __call__(self, items):
        if self.fail:
            raise RuntimeError("database is locked")
        self.commits.append(items)
        start = sum(map(len, self.commits[:-1]))
        return [start + i + 1 for i in range(len(items))]


def test_records_of_one_loop_turn_are_committed_together_each_with_its_own_id():
    store = Store()
    group = GroupCommit(store)

    async def scenario():
        first = await asyncio.gather(*(group.record((f"b{i}", NOW)) for i in range(5)))
        second = await group.record(("alone", NOW))
        return first, second

    first, second = asyncio.run(scenario())
    assert first == [1, 2, 3, 4, 5] and second == 6
    assert [[b for b, _ in c] for c in store.commits] == [["b0", "b1", "b2", "b3", "b4"], ["alone"]]


def test_a_failed_commit_fails_every_request_of_its_group_and_the_next_group_goes_on():
    store = Store()
    group = GroupCommit(store)

    async def scenario():
        store.fail = True
        failed = await asyncio.gather(*(group.record((i, NOW)) for i in range(3)), return_exceptions=True)
        store.fail = False
        return failed, await group.record(("next", NOW))

    failed, next_id = asyncio.run(scenario())
    assert all(isinstance(e, RuntimeError) for e in failed)
    assert next_id == 1 and store.commits == [[("next", NOW)]]


def test_a_leader_cancelled_while_collecting_still_commits_for_its_followers():
    store = Store()
    group = GroupCommit(store)

    async def scenario():
        leader = asyncio.create_task(group.record(("leader", NOW)))
        follower = asyncio.create_task(group.record(("follower", NOW)))
        await asyncio.sleep(0)  # the leader recorded and yielded its turn; the follower joined it
        leader.cancel()  # before the leader's turn comes back
        with pytest.raises(asyncio.CancelledError):
            await leader
        return await asyncio.wait_for(follower, 5)  # without the commit in `finally` it would wait forever

    assert asyncio.run(scenario()) == 2
    assert store.commits == [[("leader", NOW), ("follower", NOW)]]  # the leader's record stays (never acknowledged)


def test_records_are_queued_only_inside_collecting():
    assert queue("b", NOW) is False
    with collecting() as queued:
        assert queue("b", NOW) is True
    assert queued == [("b", NOW)] and queue("c", NOW) is False


@pytest.fixture
def app(settings, tmp_path):
    write_protection(settings.var_dir)
    policy = CollectionsSettings(
        mild_actions=("none", "reminder"), protected_periods=(WINTER,), database_url=f"sqlite:///{tmp_path}/a.db"
    )
    with make_client(settings, policy) as client:
        yield client.app


def test_concurrent_answers_share_commits_and_every_one_is_in_the_trail(app):
    log = app.state.collections.log
    calls: list[int] = []
    original = log.record_many

    def counting(items):
        calls.append(len(items))
        return original(items)

    log.record_many = counting

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=BILLING) as client:
            gets = [client.get(f"/v1/arrears/{IDS[i % len(IDS)]}") for i in range(24)]
            posts = [client.post("/v1/arrears/score", json={"customer_ids": [IDS[i], IDS[i + 1]]}) for i in range(8)]
            answers = await asyncio.gather(*gets, *posts)
            trail = {}
            for cid in IDS:
                said = await client.get("/v1/decisions", params={"customer_id": cid, "limit": 100}, headers=ADMIN)
                trail[cid] = {d["batch_id"] for d in said.json()["decisions"]}
            return answers, trail

    answers, trail = asyncio.run(scenario())
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200][:2]
    ids = [r.json()["decision_batch_id"] for r in answers]
    assert len(set(ids)) == len(answers) and None not in ids  # one batch per answer, each acknowledged id real
    assert sum(calls) == len(answers) and len(calls) < len(answers)  # some transactions held several answers
    for r in answers:  # every acknowledged answer is in the trail of each of its customers
        answer = r.json()
        customers = answer["results"]["customer_id"] if "results" in answer else [answer["customer_id"]]
        assert all(answer["decision_batch_id"] in trail[c] for c in customers)


def test_an_audit_database_that_refuses_answers_503_and_records_nothing(app):
    desk = app.state.collections

    def refuse(items):
        raise RuntimeError("disk I/O error")

    desk.log.record_many = refuse

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=BILLING) as client:
            return await asyncio.gather(*(client.get(f"/v1/arrears/{i}") for i in IDS[:4]))

    answers = asyncio.run(scenario())
    assert [r.status_code for r in answers] == [503] * 4
    assert {r.json()["error"]["code"] for r in answers} == {"audit_unavailable"}
