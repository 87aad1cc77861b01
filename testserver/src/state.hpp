// The server's durable state: its certificate authority and static key,
// accounts (each with its emulated primary phone's keys), linked devices with
// their Signal key material, one-time prekeys, groups and the per-device
// offline queues. Everything lives in memory for routing speed and is written
// through to SQLite (DIR/state.db) so a restarted server keeps its accounts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/noise/cert.hpp"
#include "wa/result.hpp"
#include "wa/store/sqlite_handle.hpp"

namespace wa::testserver {

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
  bool has(const std::string& phone) const {
    for (const auto& m : members)
      if (m.first == phone) return true;
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
  // The user reinstalled: fresh phone identity, signed prekey and
  // registration id; every linked device is removed.
  Status reset_identity(const std::string& phone);

  Group* group(const std::string& id);
  Status save_group(const Group& g);
  Status delete_group(const std::string& id);
  const std::map<std::string, Group>& groups() const { return groups_; }
  std::string new_group_id(const std::string& creator, uint64_t now);

  Status enqueue(const std::string& phone, uint16_t device, ByteView node);
  std::vector<QueuedStanza> queued(const std::string& phone, uint16_t device);
  Status dequeue(const std::vector<int64_t>& seqs);
  size_t queued_count(const std::string& phone, uint16_t device);

 private:
  Status load();
  Status save_account(const Account& a);

  store::sql::Db db_;
  noise::CertAuthority ca_;
  crypto::KeyPair static_;
  std::map<std::string, Account> accounts_;
  std::map<std::string, std::string> lid_to_phone_;
  std::map<std::string, Group> groups_;
  uint64_t next_lid_ = 0;
};

}  // namespace wa::testserver
