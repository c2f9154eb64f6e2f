-- dnsUpstream (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"): with dns_mode 'proxy', the
-- resolver every client's DNS (UDP and TCP/53) is asked through the client's own proxy instead of
-- the one it addressed; NULL (the default): the one it addressed. 'a.b.c.d' or 'a.b.c.d:port'.
-- The api checks the meaning (not loopback, link-local, multicast, the LAN, ...: @pgw/domain
-- dns-upstream.ts); the column only keeps the spelling, so no other writer can store a name or IPv6.
-- Grants: the api's UPDATE and the agent's, forwarder's and health's SELECT are on the whole
-- settings table (0002), so they cover this column.
ALTER TABLE settings
  ADD COLUMN dns_upstream text NULL
    CONSTRAINT settings_dns_upstream_spelling CHECK (dns_upstream ~ '^[0-9]{1,3}(\.[0-9]{1,3}){3}(:[0-9]{1,5})?$');
