
-- webhooks: SSRF closed (issue 11).  The checks are in C (webhook_check_url
-- at registration, the address actually connected to at send time); the
-- function's description says what it now refuses.
COMMENT ON FUNCTION alliance.set_endpoint(bigint, text, text) IS
	'registers an institution''s webhook URL and returns its new signing secret (admin, or a role acting for it); refuses http outside alliance.http_hosts, credentials, and internal addresses (loopback, private, link-local, ..., in any spelling) and localhost names unless listed in alliance.http_hosts';
