-- dnsMode 'proxy' (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"): in TPROXY mode a
-- client's UDP DNS is relayed through its own proxy (SOCKS5 UDP ASSOCIATE) like any UDP, to the
-- resolver it asked; 'drop' (the default, v1.1) drops UDP/53 before anything else sees it.
ALTER TABLE settings DROP CONSTRAINT IF EXISTS settings_dns_mode_check;
ALTER TABLE settings
  ADD CONSTRAINT settings_dns_mode_known CHECK (dns_mode IN ('drop', 'proxy'));
