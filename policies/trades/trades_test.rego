# Unit tests of the trades policy: `verdict test policies/trades`.
#
# A separate package, so `verdict build` (which skips *_test.rego files) and its discovery of
# `decision` rules never see the tests.
package trades_test

import data.trades

trader := {"scope": "openid trades", "user_id": 7, "roles": ["trader"], "locations": ["NY", "LDN"]}

analyst := {"scope": "trades", "user_id": 7, "roles": ["analyst"], "locations": ["NY"]}

own_trade := {"type": "trade", "id": "t-1", "properties": {"owner_id": 7, "location": "NY"}}

request(token, action, resource) := {"token": token, "action": action, "resource": resource}

denied_with(d, reason) if {
	d.allow == false
	d.code == "POLICY_DENIED"
	reason in d.reasons
}

test_owner_reads_own_trade_in_location if {
	d := trades.decision with input as request(analyst, "read", own_trade)
	d == {"allow": true, "reasons": []}
}

test_trader_may_write if {
	every action in ["create", "update", "cancel"] {
		d := trades.decision with input as request(trader, action, own_trade)
		d.allow == true
	}
}

test_scope_as_array if {
	token := object.union(trader, {"scope": ["openid", "trades"]})
	d := trades.decision with input as request(token, "update", own_trade)
	d.allow == true
}

test_missing_scope_is_insufficient_scope if {
	token := object.union(trader, {"scope": "openid payments"})
	d := trades.decision with input as request(token, "read", own_trade)
	d == {"allow": false, "code": "INSUFFICIENT_SCOPE", "reasons": ["insufficient_scope: token has no trades scope"]}
}

test_missing_scope_claim_is_insufficient_scope if {
	token := object.remove(trader, ["scope"])
	d := trades.decision with input as request(token, "read", own_trade)
	d.code == "INSUFFICIENT_SCOPE"
}

test_deny_unknown_action if {
	d := trades.decision with input as request(trader, "delete", own_trade)
	denied_with(d, "unknown_action: not a trades action")
}

test_deny_wrong_resource_type if {
	resource := object.union(own_trade, {"type": "invoice"})
	d := trades.decision with input as request(trader, "read", resource)
	denied_with(d, "wrong_resource_type: resource is not a trade")
}

test_deny_not_owner if {
	resource := object.union(own_trade, {"properties": {"owner_id": 8, "location": "NY"}})
	d := trades.decision with input as request(trader, "read", resource)
	d.reasons == ["not_owner: the trade belongs to another user"]
	denied_with(d, "not_owner: the trade belongs to another user")
}

test_deny_wrong_location if {
	resource := object.union(own_trade, {"properties": {"owner_id": 7, "location": "TYO"}})
	d := trades.decision with input as request(trader, "read", resource)
	d.reasons == ["wrong_location: the trade is booked outside the user's locations"]
	d.code == "POLICY_DENIED"
}

test_deny_write_without_permission if {
	d := trades.decision with input as request(analyst, "cancel", own_trade)
	d.reasons == ["missing_permission: no role in the token grants this action"]
	d.code == "POLICY_DENIED"
}

test_deny_lists_every_failed_rule_sorted if {
	resource := {"type": "trade", "id": "t-2", "properties": {"owner_id": 8, "location": "TYO"}}
	d := trades.decision with input as request(analyst, "update", resource)
	d.reasons == [
		"missing_permission: no role in the token grants this action",
		"not_owner: the trade belongs to another user",
		"wrong_location: the trade is booked outside the user's locations",
	]
}

test_role_permissions_come_from_data if {
	d := trades.decision with input as request(analyst, "cancel", own_trade)
		with data.roles as {"analyst": ["cancel"]}
	d.allow == true
}
