// The PostgreSQL schema (docs/ARCHITECTURE.md, "Cluster"): one database for
// every profile of every host, each table keyed by profile first. Column
// names and meanings are those of the SQLite schema (schema.hpp) so that a
// profile moves between the two row for row (wactl store-migrate). Integers
// are BIGINT and flags BOOLEAN: the store reads results in binary format
// and relies on those widths.
#pragma once

#include <array>

namespace wa::store::pg_schema {

inline constexpr std::array<const char*, 1> kMigrations = {
    R"sql(
CREATE TABLE wa_profiles (
  profile    TEXT PRIMARY KEY,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_seq   BIGINT NOT NULL DEFAULT 0);
CREATE TABLE wa_leases (
  profile    TEXT PRIMARY KEY REFERENCES wa_profiles ON DELETE CASCADE,
  owner      TEXT NOT NULL DEFAULT '',
  token      BIGINT NOT NULL DEFAULT 0,
  expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity');
CREATE TABLE credentials (
  profile TEXT NOT NULL, name TEXT NOT NULL, value BYTEA NOT NULL,
  PRIMARY KEY (profile, name));
CREATE TABLE prekeys (
  profile TEXT NOT NULL, id BIGINT NOT NULL, pub BYTEA NOT NULL, priv BYTEA NOT NULL,
  uploaded BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (profile, id));
CREATE TABLE signed_prekeys (
  profile TEXT NOT NULL, id BIGINT NOT NULL, pub BYTEA NOT NULL, priv BYTEA NOT NULL,
  signature BYTEA NOT NULL, ts BIGINT NOT NULL,
  PRIMARY KEY (profile, id));
CREATE TABLE sessions (
  profile TEXT NOT NULL, name TEXT NOT NULL, device BIGINT NOT NULL, record BYTEA NOT NULL,
  PRIMARY KEY (profile, name, device));
CREATE TABLE sender_keys (
  profile TEXT NOT NULL, group_id TEXT NOT NULL, sender_name TEXT NOT NULL, sender_device BIGINT NOT NULL,
  record BYTEA NOT NULL,
  PRIMARY KEY (profile, group_id, sender_name, sender_device));
CREATE INDEX sender_keys_sender ON sender_keys (profile, sender_name);
CREATE TABLE identities (
  profile TEXT NOT NULL, name TEXT NOT NULL, device BIGINT NOT NULL, key BYTEA NOT NULL,
  first_seen BIGINT NOT NULL,
  PRIMARY KEY (profile, name, device));
CREATE TABLE device_lists (
  profile TEXT NOT NULL, user_id TEXT NOT NULL, devices TEXT NOT NULL, fetched_at BIGINT NOT NULL,
  PRIMARY KEY (profile, user_id));
CREATE TABLE lid_mappings (
  profile TEXT NOT NULL, pn_user TEXT NOT NULL, lid_user TEXT NOT NULL,
  PRIMARY KEY (profile, pn_user), UNIQUE (profile, lid_user));
CREATE TABLE inbox (
  profile TEXT NOT NULL, seq BIGINT NOT NULL,
  msg_id TEXT NOT NULL DEFAULT '', chat TEXT NOT NULL DEFAULT '', sender TEXT NOT NULL DEFAULT '',
  ts BIGINT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL, acked BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (profile, seq));
CREATE UNIQUE INDEX inbox_message ON inbox (profile, msg_id, chat, sender) WHERE msg_id <> '';
CREATE INDEX inbox_unacked ON inbox (profile, seq) WHERE NOT acked;
CREATE INDEX inbox_ts ON inbox (profile, ts);
CREATE TABLE sent_messages (
  profile TEXT NOT NULL, msg_id TEXT NOT NULL, chat TEXT NOT NULL, plaintext BYTEA NOT NULL, ts BIGINT NOT NULL,
  PRIMARY KEY (profile, msg_id, chat));
CREATE INDEX sent_messages_ts ON sent_messages (profile, ts);
CREATE TABLE media (
  profile TEXT NOT NULL, msg_id TEXT NOT NULL, chat TEXT NOT NULL, sender TEXT NOT NULL, message BYTEA NOT NULL,
  local_path TEXT NOT NULL DEFAULT '', ts BIGINT NOT NULL,
  PRIMARY KEY (profile, msg_id, chat));
CREATE INDEX media_ts ON media (profile, ts);
CREATE TABLE message_secrets (
  profile TEXT NOT NULL, msg_id TEXT NOT NULL, chat TEXT NOT NULL, sender TEXT NOT NULL, secret BYTEA NOT NULL,
  ts BIGINT NOT NULL,
  PRIMARY KEY (profile, msg_id, chat, sender));
CREATE TABLE polls (
  profile TEXT NOT NULL, msg_id TEXT NOT NULL, chat TEXT NOT NULL, sender TEXT NOT NULL, name TEXT NOT NULL,
  options TEXT NOT NULL, selectable BIGINT NOT NULL, ts BIGINT NOT NULL,
  PRIMARY KEY (profile, msg_id, chat, sender));
CREATE TABLE poll_votes (
  profile TEXT NOT NULL, poll_id TEXT NOT NULL, chat TEXT NOT NULL, voter TEXT NOT NULL, options TEXT NOT NULL,
  ts_ms BIGINT NOT NULL,
  PRIMARY KEY (profile, poll_id, chat, voter));
)sql",
};

// The tables holding one profile's data (wa_profiles and wa_leases aside),
// in the order a profile is copied or deleted.
inline constexpr std::array<const char*, 14> kProfileTables = {
    "credentials", "prekeys",  "signed_prekeys", "sessions", "sender_keys", "identities", "device_lists", "lid_mappings",
    "inbox",       "sent_messages", "media",     "message_secrets", "polls", "poll_votes"};

}  // namespace wa::store::pg_schema
