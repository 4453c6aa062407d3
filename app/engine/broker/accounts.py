"""Logins: creation (sign-up and control API), profile changes, deposits and withdrawals,
notifications and the watch list.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from app.engine.broker import validate
from app.engine.broker.core import Core
from app.engine.broker.margin import Margin
from app.engine.broker.model import (
    BALANCE,
    CLOSED,
    CODE_CONTROL,
    MONEY_MAX,
    S_FINANCE,
    ZERO,
    Account,
    SessionRevoked,
    Trade,
    currency_digits,
    money,
)
from app.engine.broker.sessions import Live, Passwords
from app.engine.broker.store import (
    DEL_WATCH,
    INS_NOTE,
    INS_TRADE,
    INS_USER,
    INS_WATCH,
    UPD_USER,
    Work,
)
from app.engine.broker.symbols import ACCOUNT_CURRENCIES, Symbol
from app.engine.errors import Conflict, NotFound

DEFAULT_WATCH = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500", "BTCUSD")


class Accounts:
    def __init__(self, core: Core, margin: Margin, live: Live, passwords: Passwords) -> None:
        self.core = core
        self.margin = margin
        self.live = live
        self.passwords = passwords

    def get(self, login: int) -> Account | None:
        return self.core.book.accounts.get(login)

    def __contains__(self, login: int) -> bool:
        return login in self.core.book.accounts

    def account(self, login: int) -> Account:
        acc = self.get(login)
        if acc is None:
            raise NotFound(f"login {login} not found", code="NOT_FOUND")
        return acc

    async def create_user(
        self,
        *,
        password: str,
        balance: Decimal = Decimal(10_000),
        leverage: int = 100,
        currency: str = "USD",
        name: str = "",
        email: str = "",
        country: str = "",
        group: str = "demo",
        disabled: bool = False,
        login: int | None = None,
        phone: str = "",
        city: str = "",
        address: str = "",
        state: str = "",
        zipcode: str = "",
    ) -> Account:
        if len(password) < 6 or len(password) > 64:
            raise validate.bad("password", "must be 6 to 64 characters")
        currency = currency.upper()
        if currency not in ACCOUNT_CURRENCIES:
            raise validate.bad("currency", f"must be one of {', '.join(ACCOUNT_CURRENCIES)}")
        if not 1 <= leverage <= 1000:
            raise validate.bad("leverage", "must be between 1 and 1000")
        balance = money(balance, currency_digits(currency))
        if not ZERO <= balance <= MONEY_MAX:
            raise validate.bad("balance", "must be from 0 to 10^12")
        if email and email.lower() in self.core.book.by_email:
            raise validate.bad("email", "is already registered")
        hashed = await asyncio.to_thread(self.passwords.hash, password)
        book = self.core.book  # after the await: the live book
        # re-check after the await: another sign-up may have taken the email meanwhile
        if email and email.lower() in book.by_email:
            raise validate.bad("email", "is already registered")
        if login is None or login in book.accounts:
            login = book.next_login
        book.next_login = max(book.next_login, login + 1)
        now = self.core.now_s()
        acc = Account(
            login=login,
            password_hash=hashed,
            email=email,
            name=name,
            group=group,
            currency=currency,
            leverage=leverage,
            balance=balance,
            credit=ZERO,
            regdate=now,
            disabled=disabled,
            phone=phone,
            country=country,
            city=city,
            address=address,
            state=state,
            zipcode=zipcode,
        )
        book.accounts[login] = acc
        if email:
            book.by_email[email.lower()] = login
        work = Work()
        work.row(INS_USER, acc)
        for i, sym in enumerate(DEFAULT_WATCH):
            acc.watch.append(sym)
            work.sql(INS_WATCH, {"login": login, "symbol": sym, "position": i})
        if balance > 0:
            work.row(INS_TRADE, self.finance_row(acc, balance, "Deposit", now))
        # a new login's account stream starts empty: no event here
        await self.core.commit(work)
        return acc

    def finance_row(self, acc: Account, amount: Decimal, comment: str, now: int) -> Trade:
        return Trade(
            order=self.core.book.order_id(),
            login=acc.login,
            cmd=BALANCE,
            state=CLOSED,
            status=S_FINANCE,
            symbol="",
            volume=0,
            open_price=0.0,
            digits=2,
            open_time=now,
            close_time=now,
            profit=amount,
            comment=comment,
        )

    async def update_user(self, acc: Account, changes: dict[str, Any]) -> Account:
        """Control API: profile, group, leverage, credit, disabled."""
        by_email = self.core.book.by_email
        email = changes.get("email")
        if email is not None and email.lower() != acc.email.lower():
            if email.lower() in by_email:
                raise validate.bad("email", "is already registered")
            by_email.pop(acc.email.lower(), None)
            if email:
                by_email[email.lower()] = acc.login
        if "credit" in changes:
            credit = money(changes["credit"], acc.digits)
            if not ZERO <= credit <= MONEY_MAX:
                raise validate.bad("credit", "must be from 0 to 10^12")
            changes = dict(changes, credit=credit)
        for k, v in changes.items():
            setattr(acc, k, v)
        work = Work()
        work.row(UPD_USER, acc)
        if "credit" in changes:
            work.emit(acc.login, self.margin.balance_frame(acc, CODE_CONTROL))
        await self.core.commit(work)
        if acc.disabled:
            self.live.end(acc.login, None, SessionRevoked("login disabled"))
        return acc

    async def deposit(self, acc: Account, amount: Decimal, comment: str | None) -> int:
        """A deposit (amount > 0) or withdrawal (< 0), exact in the account currency's digits."""
        amount = money(amount, acc.digits)
        if amount == 0:
            raise validate.bad("amount", f"must not be 0 (in {acc.currency}'s {acc.digits} digits)")
        if acc.balance + amount > MONEY_MAX:
            raise validate.bad("amount", "would take the balance beyond 10^12")
        if amount < 0 and -amount > self.margin.metrics(acc).margin_free:
            raise Conflict("the free margin cannot cover this withdrawal", code="NOT_ENOUGH_MONEY")
        now = self.core.now_s()
        row = self.finance_row(acc, amount, comment or ("Deposit" if amount >= 0 else "Withdrawal"), now)
        acc.balance = acc.balance + amount
        work = Work()
        work.row(INS_TRADE, row)
        work.balance(acc)
        work.emit(acc.login, self.margin.balance_frame(acc, CODE_CONTROL))
        await self.core.commit(work)
        return row.order

    async def notify(self, acc: Account, level: int, title: str, message: str) -> int:
        book = self.core.book
        nid = book.next_note
        book.next_note += 1
        now = self.core.now_s()
        work = Work()
        work.sql(
            INS_NOTE,
            {"id": nid, "login": acc.login, "level": level, "title": title, "message": message, "ctm": now},
        )
        work.emit(acc.login, ["n", nid, acc.login, level, title, message, now])
        await self.core.commit(work)
        return nid

    async def watch_add(self, acc: Account, sym: Symbol) -> None:
        if sym.symbol in acc.watch:
            return
        acc.watch.append(sym.symbol)
        work = Work()
        work.sql(INS_WATCH, {"login": acc.login, "symbol": sym.symbol, "position": len(acc.watch) - 1})
        await self.core.commit(work)

    async def watch_remove(self, acc: Account, sym: Symbol) -> None:
        if sym.symbol not in acc.watch:
            raise NotFound(f"{sym.symbol} is not in the watch list", code="NOT_FOUND")
        acc.watch.remove(sym.symbol)
        work = Work()
        work.sql(DEL_WATCH, {"login": acc.login, "symbol": sym.symbol})
        await self.core.commit(work)
