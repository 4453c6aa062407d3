"""The venue's domain objects: one `AccountState` per account holds its balances, nonce floor,
idempotency cache and dirty marks; the next unit's rows come from those marks, once."""

from __future__ import annotations

from app.engine.order_entry import store
from app.engine.order_entry.model import AccountState, VenueState

A = "0x" + "a" * 40


def test_an_accounts_state_has_one_home() -> None:
    """Balances, the nonce floor and idempotent answers all live on the account's one object;
    the pending rows are built from its dirty marks, which are then cleared."""
    st = VenueState()
    st.ledger.credit(A, "USDC", 100)
    assert st.ledger.reserve(A, "USDC", 30)
    acct = st.accounts[A]
    assert acct.balances == {"USDC": [70, 30]} and acct.dirty_assets == {"USDC"}
    acct.nonce_floor = 7
    acct.floor_dirty = True
    acct.remember("k1", b"{}", 5)
    rows = store.pending_rows(st.take(), st, now=9)
    assert rows.floors == [(A, 7, 9)]
    assert rows.balances == [(A, "USDC", 70, 30)]
    assert rows.idempotency == [(A, "k1", b"{}", 5)]
    assert not acct.dirty and acct.idempotency == {"k1": b"{}"}
    assert not st.take()  # nothing left to write


def test_idempotency_cache_is_bounded_per_account() -> None:
    """An account's cache keeps the newest answers (older ones are read from the table)."""
    acct = AccountState(A)
    for i in range(AccountState.IDEMPOTENCY_MEMORY + 1):
        acct.remember(f"k{i}", b"x", None)
    assert len(acct.idempotency) <= AccountState.IDEMPOTENCY_MEMORY
    assert f"k{AccountState.IDEMPOTENCY_MEMORY}" in acct.idempotency and "k0" not in acct.idempotency
    assert acct.new_idempotency == []  # answers read back from the table are not written again
