"""The Musubi examples shared by the OpenAPI declarations, the AsyncAPI fragment and the body
documentation of the routes: a create body that succeeds against a `--seed demo` server."""

from __future__ import annotations

# the demo participants' party ids (deterministic: name + sha256 of the name)
SENDER = "SenderInstitution::1220db5b4ab22cdfa0d1ccfb05bd988dcd51d8791e140e871f23b0be2a1b222cb85c"
RECEIVER = "ReceiverInstitution::1220f8fdafda58efbf50f69489430977b650b7833f5f7b9c0258171d10cbc89a220c"
CUSTODIAN_A = "CustodianA::12208d0452256aa4ddece3c1500dc0356941fd98b9021f9829bb90a89c82f4483224"
CUSTODIAN_B = "CustodianB::122030f2ed42ec4f7d5c57d9b92810f7a0793fca7451e14d8d43bf4b20de1b62c551"

CREATE_BODY = {
    "sender_custodian_party_id": CUSTODIAN_A,
    "intent_signature": "3045022100ab",
    "receiver_party_id": RECEIVER,
    "receiver_custodian_party_id": CUSTODIAN_B,
    "source_contract_id": "00a3f7c21d83#0",
    "source_currency": "JPYSC0",
    "target_amount": "100000",
    "target_currency": "USDCx",
    "source_amount_max": "15500000",
    "kyc_aml_ref": "5b6a2351-440c-4f33-98f0-81e42bcd277b",
    "jurisdiction_sender": "JP",
    "jurisdiction_receiver": "KR",
    "memo": "invoice 42",
}
