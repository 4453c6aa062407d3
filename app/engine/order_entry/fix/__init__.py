"""The FIX 4.4 drop-copy of the Order Entry execution streams (CONTRACT §4.6).

codec (framing, checks, encoding) · report (an execution event as an ExecutionReport body) ·
logon (the Logon checks) · store (session state SQL) · venue (the one door into the Order
Entry service) · engine (live sessions, shared rendering) · session (one connection's rules).
The TCP edge is `app.routers.order_entry.fix_listener`.
"""
