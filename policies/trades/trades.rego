# Trades: who may read and write trades.
#
# Input (built by the sidecar from a verified access token and the API's request):
#   input.token     verified JWT claims: scope, sub, user_id, roles, locations, ...
#   input.action    "read" | "create" | "update" | "cancel"
#   input.resource  {type: "trade", id, properties: {owner_id, location}}
#
# Output: data.trades.decision = {allow, reasons, code?}. A deny lists every rule that failed.
package trades

# The actions this business area knows; writes need a role that grants them.
write_actions := {"create", "update", "cancel"}

actions := write_actions | {"read"}

# Scope may be a space-delimited string (RFC 9068) or, tolerated, an array.
token_scopes contains s if {
	is_string(input.token.scope)
	some s in split(input.token.scope, " ")
}

token_scopes contains s if {
	is_array(input.token.scope)
	some s in input.token.scope
}

has_scope if "trades" in token_scopes

owns_trade if input.resource.properties.owner_id == input.token.user_id

in_user_location if input.resource.properties.location in input.token.locations

# Roles come from the token; what a role may do comes from data.json.
role_grants_action if {
	some role in input.token.roles
	input.action in data.roles[role]
}

deny_reasons contains "insufficient_scope: token has no trades scope" if not has_scope

deny_reasons contains "unknown_action: not a trades action" if not input.action in actions

deny_reasons contains "wrong_resource_type: resource is not a trade" if input.resource.type != "trade"

deny_reasons contains "not_owner: the trade belongs to another user" if not owns_trade

deny_reasons contains "wrong_location: the trade is booked outside the user's locations" if {
	not in_user_location
}

deny_reasons contains "missing_permission: no role in the token grants this action" if {
	input.action in write_actions
	not role_grants_action
}

decision := {"allow": true, "reasons": []} if count(deny_reasons) == 0

# Without the scope nothing else is evaluated for the caller: APIs of other business areas
# reject the token at once.
decision := {"allow": false, "code": "INSUFFICIENT_SCOPE", "reasons": ["insufficient_scope: token has no trades scope"]} if {
	not has_scope
}

decision := {"allow": false, "code": "POLICY_DENIED", "reasons": sort(deny_reasons)} if {
	has_scope
	count(deny_reasons) > 0
}
