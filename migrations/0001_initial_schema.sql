-- Users of the console and API. Passwords are Argon2id hashes; token_version revokes all of a user's tokens at once.
CREATE TABLE users (
  id            serial PRIMARY KEY,
  username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('admin', 'viewer')),
  token_version integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Upstream proxies. password_enc is AES-256-GCM sealed with PGW_SECRET_KEY; status is written only by the health service.
CREATE TABLE proxies (
  id                    serial PRIMARY KEY,
  name                  text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
  protocol              text NOT NULL CHECK (protocol IN ('http', 'socks5')),
  host                  text NOT NULL CHECK (host ~ '^[A-Za-z0-9.-]{1,253}$'),
  port                  integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  username              text CHECK (length(username) BETWEEN 1 AND 255),
  password_enc          text,
  status                text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'up', 'down')),
  status_changed_at     timestamptz,
  latency_ms            integer,
  exit_ip               inet,
  last_error            text,
  last_checked_at       timestamptz,
  consecutive_successes integer NOT NULL DEFAULT 0,
  consecutive_failures  integer NOT NULL DEFAULT 0,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

-- One LAN client pinned to one proxy through its own forwarder port on 127.0.0.1.
CREATE TABLE mappings (
  id          serial PRIMARY KEY,
  client_ip   inet NOT NULL UNIQUE CHECK (family(client_ip) = 4 AND masklen(client_ip) = 32),
  proxy_id    integer NOT NULL REFERENCES proxies (id) ON DELETE RESTRICT,
  listen_port integer NOT NULL UNIQUE CHECK (listen_port BETWEEN 1 AND 65535),
  enabled     boolean NOT NULL DEFAULT true,
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mappings_proxy_id ON mappings (proxy_id);

-- Operator settings: exactly one row, typed columns (validated again in @pgw/domain settingsSchema).
CREATE TABLE settings (
  id                     smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  lan_interface          text NOT NULL DEFAULT 'ens19',
  wan_interface          text NOT NULL DEFAULT 'eth0',
  lan_cidr               cidr NOT NULL DEFAULT '192.168.2.0/24',
  forwarder_port_min     integer NOT NULL DEFAULT 20000 CHECK (forwarder_port_min BETWEEN 1 AND 65535),
  forwarder_port_max     integer NOT NULL DEFAULT 29999 CHECK (forwarder_port_max BETWEEN 1 AND 65535),
  health_interval_s      integer NOT NULL DEFAULT 30 CHECK (health_interval_s BETWEEN 5 AND 3600),
  probe_timeout_ms       integer NOT NULL DEFAULT 5000 CHECK (probe_timeout_ms BETWEEN 500 AND 60000),
  check_url              text NOT NULL DEFAULT 'http://203.0.113.10/ip',
  dns_mode               text NOT NULL DEFAULT 'drop' CHECK (dns_mode IN ('drop')),
  strict_output          boolean NOT NULL DEFAULT false,
  fail_threshold         integer NOT NULL DEFAULT 1 CHECK (fail_threshold BETWEEN 1 AND 10),
  recover_threshold      integer NOT NULL DEFAULT 2 CHECK (recover_threshold BETWEEN 1 AND 10),
  history_retention_days integer NOT NULL DEFAULT 30 CHECK (history_retention_days BETWEEN 1 AND 3650),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CHECK (forwarder_port_min <= forwarder_port_max),
  CHECK (lan_interface <> wan_interface)
);
INSERT INTO settings (id) VALUES (1);

-- Probe history: status, latency and exit IP per check; exit-IP changes are read from here.
CREATE TABLE proxy_checks (
  id         bigserial PRIMARY KEY,
  proxy_id   integer NOT NULL REFERENCES proxies (id) ON DELETE CASCADE,
  checked_at timestamptz NOT NULL DEFAULT now(),
  ok         boolean NOT NULL,
  latency_ms integer,
  exit_ip    inet,
  error      text,
  trigger    text NOT NULL CHECK (trigger IN ('periodic', 'on_demand', 'upstream_failure'))
);
CREATE INDEX proxy_checks_proxy_time ON proxy_checks (proxy_id, checked_at DESC);
CREATE INDEX proxy_checks_time ON proxy_checks (checked_at);

-- Append-only audit trail of every change, written in the same transaction as the change.
CREATE TABLE audit_log (
  id             bigserial PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  actor_user_id  integer REFERENCES users (id) ON DELETE SET NULL,
  actor_username text,
  source_ip      inet,
  action         text NOT NULL,
  entity_type    text NOT NULL,
  entity_id      text,
  before         jsonb,
  after          jsonb,
  request_id     text
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id);
CREATE INDEX audit_log_actor ON audit_log (actor_username);

-- Logged-out tokens until they expire on their own.
CREATE TABLE revoked_tokens (
  jti        text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);
