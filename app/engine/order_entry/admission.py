"""Admission of the signed batch (CONTRACT §4.2): authorisation over the whole batch, the
idempotency cache, per-account payload nonce floors, and the per-action checks known without
the book. Each accepted action goes to its shard's worker; each refused one produces a
`REJECTED` event. The ack is answered once the admission's writes are durable.

From the first change to the hand-over to the unit of work there is no await: admission is one
synchronous step on the venue's state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from app.clock import DomainClock
from app.db import Database
from app.engine.errors import Forbidden, InvalidInput
from app.engine.order_entry import store, validate
from app.engine.order_entry.agents import Agents
from app.engine.order_entry.matching import Cancel, CancelAll, Place, Replace, new_order
from app.engine.order_entry.model import Agent, VenueState, exec_body
from app.engine.order_entry.shards import ShardWorker
from app.engine.order_entry.validate import Reject
from app.engine.streams.unit import UnitOfWork


class Admission:
    def __init__(
        self,
        venue: VenueState,
        workers: dict[int, ShardWorker],
        clock: DomainClock,
        db: Database,
        uow: UnitOfWork,
        commit: Callable[[bool], Awaitable[None]],
    ) -> None:
        self.venue = venue
        self.workers = workers  # the service's dict: replaced in place on reload
        self.clock = clock
        self.db = db
        self.uow = uow
        self.commit = commit  # commit(handed_to_workers): returns once this step's writes are durable
        self.handed = False  # this step queued work on a shard worker

    async def submit(self, agent: Agent, body: bytes) -> bytes:
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidInput.field("body", "must be a JSON batch object", code=validate.BAD_BATCH) from None
        actions, key = validate.batch(raw)
        # authorisation over the whole batch: every payload is the key's account, every action in scope
        accounts, scopes = validate.scopes_needed(actions)
        if accounts - {agent.account}:
            raise Forbidden("an action's payload.account is not the API key's account", code="FORBIDDEN")
        for scope in sorted(scopes):
            Agents.require_scope(agent, scope)
        if not agent.scopes & {"trade", "cancel"}:
            Agents.require_scope(agent, "trade")
        account = agent.account
        if key is not None:
            cached = await self._answered(account, key)
            if cached is not None:
                return cached
        self.uow.check()
        # --- from here to the hand-over: no await (admission is atomic) ---
        self.handed = False
        now = self.clock.now_ms()
        acct = self.venue.account(account)
        results = [self._admit(i, item, account, now) for i, item in enumerate(actions)]
        response = orjson.dumps({"idempotencyKey": key, "results": results})
        if key is not None:
            acct.remember(key, response, now)
            self.venue.changed(acct)
        await self.commit(self.handed)
        return response

    async def _answered(self, account: str, key: str) -> bytes | None:
        acct = self.venue.accounts.get(account)
        cached = acct.idempotency.get(key) if acct is not None else None
        if cached is None:
            cached = await self.db.read(lambda conn: store.idempotent_answer(conn, account, key))
            acct = self.venue.accounts.get(account)
            if cached is not None and acct is not None:
                acct.remember(key, cached, None)
            elif acct is not None:
                cached = acct.idempotency.get(key)  # a twin finished meanwhile
        return cached

    def _submit(self, shard: int, cmd: Any) -> None:
        self.handed = True
        self.workers[shard].submit(cmd)

    def _admit(self, index: int, item: Any, account: str, now: int) -> dict[str, Any]:
        coid: str | None = None
        try:
            nonce, tag, body, coid = validate.envelope(item)
            acct = self.venue.account(account)
            if nonce <= acct.nonce_floor:
                raise Reject("NONCE_REPLAY", None, coid)
            acct.nonce_floor = nonce  # consumed, even if the action is refused below (§6)
            acct.floor_dirty = True
            self.venue.changed(acct)
            validate.signature_and_action(item, tag, body, coid)
            if tag == "SpotPlaceOrder":
                return self._place(index, body, account, now)
            if tag == "SpotCancelOrder":
                return self._cancel(index, body, account)
            if tag == "SpotReplaceOrder":
                return self._replace(index, body, account)
            return self._cancel_all(index, body, account)
        except Reject as r:
            m = r.market
            self.venue.emit(
                account,
                exec_body(
                    status="REJECTED",
                    market=m.market if m else None,
                    shard=m.shard if m else None,
                    engine_ts=now,
                    client_order_id=r.coid if r.coid is not None else coid,
                    reject_code=r.code,
                ),
            )
            return {"index": index, "accepted": False, "rejectCode": r.code}

    def _place(self, index: int, body: dict[str, Any], account: str, now: int) -> dict[str, Any]:
        st = self.venue
        m, coid, side, price, qty, tif = validate.place(body)
        if coid is not None and st.find(account, None, coid) is not None:
            raise Reject("DUPLICATE_CLIENT_ORDER_ID", m, coid)
        order = new_order(st, account, coid, m, side, price, qty, tif, now)
        if not st.ledger.reserve(account, order.reserve_asset, order.reserved):
            raise Reject("INSUFFICIENT_BALANCE", m, coid)
        st.track(order)
        st.touch(order)
        self._submit(m.shard, Place(order))
        return {"index": index, "accepted": True, "orderId": order.order_id, "clientOrderId": coid}

    def _cancel(self, index: int, body: dict[str, Any], account: str) -> dict[str, Any]:
        coid = validate.client_order_id(body)
        m = validate.market(body, coid)
        assert m is not None
        oid = validate.order_id(body, m, coid)
        if oid is None and coid is None:
            raise Reject("INVALID_ORDER", m, coid)
        target = self.venue.find(account, oid, coid)
        if target is not None:
            oid, coid = target.order_id, target.client_order_id
        self._submit(m.shard, Cancel(account, m.market, oid, coid))
        return {"index": index, "accepted": True, "orderId": oid, "clientOrderId": coid}

    def _replace(self, index: int, body: dict[str, Any], account: str) -> dict[str, Any]:
        m, oid, price, qty = validate.replace(body)
        target = self.venue.find(account, oid, None)
        coid = target.client_order_id if target is not None else None
        self._submit(m.shard, Replace(account, m.market, oid, price, qty))
        return {"index": index, "accepted": True, "orderId": oid, "clientOrderId": coid}

    def _cancel_all(self, index: int, body: dict[str, Any], account: str) -> dict[str, Any]:
        m = validate.market(body, None, optional=True)
        if m is None:
            for shard in self.workers:
                self._submit(shard, CancelAll(account, None))
        else:
            self._submit(m.shard, CancelAll(account, m.market))
        return {"index": index, "accepted": True, "orderId": None, "clientOrderId": None}
