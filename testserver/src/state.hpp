// The server's durable state: its certificate authority and static key,
// accounts (each with its emulated primary phone's keys), linked devices with
// their Signal key material, one-time prekeys, groups and the per-device
// offline queues. Everything lives in memory for routing speed and is written
// through to SQLite (DIR/state.db) so a restarted server keeps its accounts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/noise/cert.hpp"
#include "wa/result.hpp"
#include "wa/store/sqlite_handle.hpp"

namespace wa::testserver {

// The server-wide addressing model (`wa-testserver serve` flags). `lid`
// false is the 2024 phone-number world, kept exactly as it was; `lid` true
// is the LID-first server of 2026 (testserver/README.md lists its rules).
struct Policy {
  bool lid = false;                   // --addressing lid
  bool refuse_pn_lookups = false;     // --pn-lookups refuse: PN usync/prekeys of migrated peers come back empty
  bool pn_dm_to_migrated_463 = true;  // --pn-dm-to-migrated 463|deliver
  bool require_tctoken = false;       // --tctoken require
};

// tctoken lifetime (7-day buckets, 4 kept): expired iff
// t < (floor(now / 604800) - 3) * 604800.
bool privacy_token_expired(uint64_t t, uint64_t now);

struct Device {
  uint16_t id = 0;
  Bytes noise_pub;     // 32, checked at every login
  Bytes identity_pub;  // 32, Signal identity
  uint32_t regid = 0;
  uint32_t skey_id = 0;
  Bytes skey_pub;  // 32
  Bytes skey_sig;  // 64
  uint32_t key_index = 0;
  std::string push_name;
  std::map<uint32_t, Bytes> prekeys;  // one-time prekeys not yet handed out
};

struct Account {
  std::string phone;  // digits
  std::string lid;    // digits of the LID user
  // The account's chats are LID-addressed (ClientPairingProps
  // isChatDbLidMigrated); `wa-testserver migrate` flips it.
  bool lid_migrated = true;
  // The emulated primary phone (device 0): identity, signed prekey, regid.
  crypto::KeyPair identity;
  crypto::KeyPair spk;
  Bytes spk_sig;
  uint32_t regid = 0;
  uint16_t next_device = 1;
  uint32_t next_key_index = 1;
  std::map<uint16_t, Device> devices;
};

struct Group {
  std::string id;  // digits-digits, without @g.us
  std::string subject;
  std::string creator;  // phone
  uint64_t creation = 0;
  std::vector<std::pair<std::string, bool>> members;  // phone, admin
  std::string addressing_mode = "pn";                 // "pn" | "lid"
  std::string description;                            // "" = none
  std::string desc_id;                                // the id its last change gave it
  uint64_t desc_t = 0;
  std::string desc_by;                                // phone of who set it
  bool announce = false;                              // only admins send
  bool locked = false;                                // only admins edit the group's info
  std::string invite;                                 // current invite code, "" until asked for
  bool has(const std::string& phone) const {
    for (const auto& m : members)
      if (m.first == phone) return true;
    return false;
  }
  // The creator stays a (super)admin whatever the admin flags say.
  bool is_admin(const std::string& phone) const {
    for (const auto& m : members)
      if (m.first == phone) return m.second || phone == creator;
    return false;
  }
};

struct QueuedStanza {
  int64_t seq = 0;
  Bytes node;  // encoded binary node
};

class State {
 public:
  // Opens DIR/state.db (0600), creating the schema and, on first start, the
  // certificate root and server static key.
  static Result<State> open(const std::string& dir, uint64_t now_unix);

  const noise::CertAuthority& ca() const { return ca_; }
  const crypto::KeyPair& server_static() const { return static_; }

  Account* account(const std::string& phone);
  Account* account_by_lid(const std::string& lid);
  // Creates the account (fresh phone keys, new LID) when it does not exist.
  Account& ensure_account(const std::string& phone);
  const std::map<std::string, Account>& accounts() const { return accounts_; }

  Status save_device(const std::string& phone, const Device& d);
  Status remove_device(const std::string& phone, uint16_t device);
  Status save_account_counters(const Account& a);
  Status add_prekeys(const std::string& phone, uint16_t device, const std::map<uint32_t, Bytes>& keys);
  // Hands out (and deletes) the lowest one-time prekey, if any is left.
  std::optional<std::pair<uint32_t, Bytes>> take_prekey(const std::string& phone, uint16_t device);
  Status save_signed_prekey(const std::string& phone, const Device& d);
  Status set_lid_migrated(const std::string& phone, bool migrated);
  // Number change: the account gets a fresh LID, the old one resolves to
  // nothing any more. Returns the old LID (digits).
  Result<std::string> change_lid(const std::string& phone);
  // The user reinstalled: fresh phone identity, signed prekey and
  // registration id; every linked device is removed.
  Status reset_identity(const std::string& phone);

  Group* group(const std::string& id);
  Status save_group(const Group& g);
  Status delete_group(const std::string& id);
  const std::map<std::string, Group>& groups() const { return groups_; }
  std::string new_group_id(const std::string& creator, uint64_t now);
  // Invite links: the group a live code opens; whether a code was revoked
  // (memory only: after a restart a revoked code is merely unknown).
  Group* group_by_invite(const std::string& code);
  void revoke_invite(const std::string& code) { revoked_invites_.insert(code); }
  bool invite_revoked(const std::string& code) const { return revoked_invites_.count(code) > 0; }

  // Privacy tokens: `issuer` trusts `holder` (phones); the holder attaches
  // the bytes to its messages to the issuer.
  Status add_token(const std::string& issuer, const std::string& holder, uint64_t t, ByteView token);
  bool token_valid(const std::string& issuer, const std::string& holder, ByteView token, uint64_t now) const;
  // 1:1 conversations: `sender` got a (non-peer) message accepted to `recipient`.
  bool has_dm(const std::string& sender, const std::string& recipient) const;
  Status record_dm(const std::string& sender, const std::string& recipient);
  std::set<std::string> dm_peers(const std::string& phone) const;
  // The omit-pn fault (memory only): deliveries to the device (or, with
  // device nullopt, to every device of the account) carry no *_pn attributes.
  void set_omit_pn(const std::string& phone, std::optional<uint16_t> device);
  void clear_omit_pn(const std::string& phone);
  bool omits_pn(const std::string& phone, uint16_t device) const;

  Policy policy;

  Status enqueue(const std::string& phone, uint16_t device, ByteView node);
  // Runs f() in one transaction: the offline copies of one stanza (a
  // message to three offline devices) share one commit instead of three.
  Status batch(const std::function<Status()>& f);
  std::vector<QueuedStanza> queued(const std::string& phone, uint16_t device);
  Status dequeue(const std::vector<int64_t>& seqs);
  size_t queued_count(const std::string& phone, uint16_t device);

 private:
  Status load();
  Status save_account(const Account& a);

  store::sql::Db db_;
  // The per-stanza INSERT, prepared once (declared after db_: finalized first).
  store::sql::Stmt enqueue_stmt_;
  noise::CertAuthority ca_;
  crypto::KeyPair static_;
  std::map<std::string, Account> accounts_;
  std::map<std::string, std::string> lid_to_phone_;
  std::map<std::string, Group> groups_;
  uint64_t next_lid_ = 0;
  std::map<std::pair<std::string, std::string>, std::map<uint64_t, Bytes>> tokens_;  // (issuer, holder) -> t -> bytes
  std::set<std::pair<std::string, std::string>> dms_;                                // (sender, recipient)
  std::set<std::string> omit_pn_accounts_;
  std::set<std::string> revoked_invites_;
  std::set<std::pair<std::string, uint16_t>> omit_pn_devices_;
};

}  // namespace wa::testserver
