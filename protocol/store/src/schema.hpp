// Ordered schema migrations: entry i upgrades PRAGMA user_version i -> i+1.
// Never edit a shipped entry; append a new one.
#pragma once

#include <array>

namespace wa::store::schema {

inline constexpr std::array<const char*, 7> kMigrations = {
    // 1: credentials and Signal state. Ordinary rowid tables (not WITHOUT
    // ROWID): session and sender-key records are several KB each.
    R"sql(
CREATE TABLE credentials (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL);
CREATE TABLE prekeys (
  id       INTEGER PRIMARY KEY,
  pub      BLOB NOT NULL,
  priv     BLOB NOT NULL,
  uploaded INTEGER NOT NULL DEFAULT 0);
CREATE TABLE signed_prekeys (
  id        INTEGER PRIMARY KEY,
  pub       BLOB NOT NULL,
  priv      BLOB NOT NULL,
  signature BLOB NOT NULL,
  ts        INTEGER NOT NULL);
CREATE TABLE sessions (
  name   TEXT NOT NULL,
  device INTEGER NOT NULL,
  record BLOB NOT NULL,
  PRIMARY KEY (name, device));
CREATE TABLE sender_keys (
  group_id      TEXT NOT NULL,
  sender_name   TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  record        BLOB NOT NULL,
  PRIMARY KEY (group_id, sender_name, sender_device));
CREATE TABLE identities (
  name       TEXT NOT NULL,
  device     INTEGER NOT NULL,
  key        BLOB NOT NULL,
  first_seen INTEGER NOT NULL,
  PRIMARY KEY (name, device));
CREATE TABLE device_lists (
  user       TEXT PRIMARY KEY,
  devices    TEXT NOT NULL,
  fetched_at INTEGER NOT NULL);
CREATE TABLE lid_mappings (
  pn_user  TEXT PRIMARY KEY,
  lid_user TEXT NOT NULL UNIQUE);
)sql",
    // 2: durable inbox (AUTOINCREMENT: a pruned seq is never handed out
    // again, consumers replay by seq) and the sent-message cache.
    R"sql(
CREATE TABLE inbox (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  msg_id  TEXT NOT NULL,
  chat    TEXT NOT NULL,
  sender  TEXT NOT NULL,
  ts      INTEGER NOT NULL,
  type    TEXT NOT NULL,
  payload TEXT NOT NULL,
  acked   INTEGER NOT NULL DEFAULT 0,
  UNIQUE (msg_id, chat, sender));
CREATE INDEX inbox_unacked ON inbox (seq) WHERE acked = 0;
CREATE TABLE sent_messages (
  msg_id    TEXT NOT NULL,
  chat      TEXT NOT NULL,
  plaintext BLOB NOT NULL,
  ts        INTEGER NOT NULL,
  PRIMARY KEY (msg_id, chat));
CREATE INDEX sent_messages_ts ON sent_messages (ts);
)sql",
    // 3: the inbox becomes the profile's whole event log, so every public
    // event (lifecycle ones too) takes its seq from one durable sequence.
    // Only entries with a message id are de-duplicated (partial unique
    // index); ts is now when the entry was stored (ms), which retention
    // prunes by. The AUTOINCREMENT high-water mark is carried over so a
    // pruned seq is still never reused.
    R"sql(
CREATE TABLE inbox_v3 (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  msg_id  TEXT NOT NULL DEFAULT '',
  chat    TEXT NOT NULL DEFAULT '',
  sender  TEXT NOT NULL DEFAULT '',
  ts      INTEGER NOT NULL,
  type    TEXT NOT NULL,
  payload TEXT NOT NULL,
  acked   INTEGER NOT NULL DEFAULT 0);
INSERT INTO inbox_v3 (seq, msg_id, chat, sender, ts, type, payload, acked)
  SELECT seq, msg_id, chat, sender, ts * 1000, type, payload, acked FROM inbox;
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'inbox_v3', seq FROM sqlite_sequence WHERE name = 'inbox'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inbox_v3');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'inbox'))
  WHERE name = 'inbox_v3';
DROP TABLE inbox;
ALTER TABLE inbox_v3 RENAME TO inbox;
CREATE UNIQUE INDEX inbox_message ON inbox (msg_id, chat, sender) WHERE msg_id <> '';
CREATE INDEX inbox_unacked ON inbox (seq) WHERE acked = 0;
CREATE INDEX inbox_ts ON inbox (ts);
)sql",
    // 4: Signal state of a contact lives under its LID name once the
    // mapping is known (docs/PROTOCOL.md §12.1). Older stores recorded
    // mappings without using them: their PN-named rows move to the LID
    // names here, the LID row winning where both exist (as at run time).
    R"sql(
INSERT OR IGNORE INTO sessions (name, device, record)
  SELECT m.lid_user || '_1', s.device, s.record FROM sessions s JOIN lid_mappings m ON s.name = m.pn_user;
INSERT OR IGNORE INTO sessions (name, device, record)
  SELECT m.lid_user || '_129', s.device, s.record FROM sessions s JOIN lid_mappings m ON s.name = m.pn_user || '_128';
DELETE FROM sessions WHERE name IN (SELECT pn_user FROM lid_mappings UNION ALL SELECT pn_user || '_128' FROM lid_mappings);
INSERT OR IGNORE INTO identities (name, device, key, first_seen)
  SELECT m.lid_user || '_1', i.device, i.key, i.first_seen FROM identities i JOIN lid_mappings m ON i.name = m.pn_user;
INSERT OR IGNORE INTO identities (name, device, key, first_seen)
  SELECT m.lid_user || '_129', i.device, i.key, i.first_seen FROM identities i JOIN lid_mappings m ON i.name = m.pn_user || '_128';
DELETE FROM identities WHERE name IN (SELECT pn_user FROM lid_mappings UNION ALL SELECT pn_user || '_128' FROM lid_mappings);
INSERT OR IGNORE INTO sender_keys (group_id, sender_name, sender_device, record)
  SELECT k.group_id, m.lid_user || '_1', k.sender_device, k.record FROM sender_keys k JOIN lid_mappings m ON k.sender_name = m.pn_user;
INSERT OR IGNORE INTO sender_keys (group_id, sender_name, sender_device, record)
  SELECT k.group_id, m.lid_user || '_129', k.sender_device, k.record FROM sender_keys k
  JOIN lid_mappings m ON k.sender_name = m.pn_user || '_128';
DELETE FROM sender_keys WHERE sender_name IN (SELECT pn_user FROM lid_mappings UNION ALL SELECT pn_user || '_128' FROM lid_mappings);
)sql",
    // 5: received media (docs/PROTOCOL.md §12.3): what a download needs — the
    // message's media part with its key, direct path and hashes — kept out
    // of the event log, whose events carry only a handle. One row per
    // (message, chat); local_path is set once a download verified the file.
    R"sql(
CREATE TABLE media (
  msg_id     TEXT NOT NULL,
  chat       TEXT NOT NULL,
  sender     TEXT NOT NULL,
  message    BLOB NOT NULL,
  local_path TEXT NOT NULL DEFAULT '',
  ts         INTEGER NOT NULL,
  PRIMARY KEY (msg_id, chat));
CREATE INDEX media_ts ON media (ts);
)sql",
    // 6: message secrets (docs/PROTOCOL.md §12.4): the 32 random bytes a
    // message carries so that votes on it and edits of it can be encrypted
    // to whoever saw it - kept for ours and for received ones, in the
    // transaction that stores (or sends) the message. Polls keep their
    // option names (a vote names options only by hash) and each voter's
    // latest vote (a new vote replaces the old one).
    R"sql(
CREATE TABLE message_secrets (
  msg_id TEXT NOT NULL,
  chat   TEXT NOT NULL,
  sender TEXT NOT NULL,
  secret BLOB NOT NULL,
  ts     INTEGER NOT NULL,
  PRIMARY KEY (msg_id, chat, sender));
CREATE TABLE polls (
  msg_id     TEXT NOT NULL,
  chat       TEXT NOT NULL,
  sender     TEXT NOT NULL,
  name       TEXT NOT NULL,
  options    TEXT NOT NULL,
  selectable INTEGER NOT NULL,
  ts         INTEGER NOT NULL,
  PRIMARY KEY (msg_id, chat, sender));
CREATE TABLE poll_votes (
  poll_id TEXT NOT NULL,
  chat    TEXT NOT NULL,
  voter   TEXT NOT NULL,
  options TEXT NOT NULL,
  ts_ms   INTEGER NOT NULL,
  PRIMARY KEY (poll_id, chat, voter));
)sql",
    // 7: the message index keys on the id alone. Message ids are random, so
    // each batch of receives wrote into most of the index's leaves: keyed on
    // (msg_id, chat, sender) it was three times the pages, and about half of
    // all the pages a receive commit wrote. Lookups name the id and filter
    // the few rows it finds; inbox_put's look before its insert, inside the
    // one writer's transaction, is what keeps a message from being stored
    // twice.
    R"sql(
DROP INDEX inbox_message;
CREATE INDEX inbox_msg_id ON inbox (msg_id) WHERE msg_id <> '';
)sql",
};

}  // namespace wa::store::schema
