-- Client identity (docs/SECURITY.md flow 19): a mapping may pin its client's MAC address. The
-- agent then drops the client's IP from any other source MAC before DNAT. NULL: not pinned.
-- Only a unicast address identifies one sender: multicast (including broadcast) and all-zero
-- are refused here as in @pgw/domain macAddressSchema.
ALTER TABLE mappings
  ADD COLUMN mac_address macaddr NULL
    CONSTRAINT mappings_mac_address_unicast CHECK (
      (mac_address & '01:00:00:00:00:00'::macaddr) = '00:00:00:00:00:00'::macaddr
      AND mac_address <> '00:00:00:00:00:00'::macaddr
    );
