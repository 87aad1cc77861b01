// Per-profile persistent state behind one interface, so that protocol code
// (Signal bridge, connection and sender workers) never names a database
// engine: a PostgreSQL backend can be added later as another implementation.
//
// Key conventions (all tables): Curve25519 keys are stored raw, 32 bytes
// (no 0x05 type prefix); adapters for libraries that want the prefixed form
// add it. Timestamps are Unix seconds unless a field says otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::store {

// How hard a transaction's commit must be made durable.
//  normal: survives a process crash (WAL written, not fsynced). Right for
//          state that can be re-derived or re-fetched after a power loss.
//  full:   survives power loss: the WAL is fsynced before the call returns
//          (outside the write lock; one fsync may stand for several
//          writers' commits, see write_gate.hpp). Required when the
//          commit precedes an act that cannot be taken back (acking a message
//          to the server, sending a ciphertext, uploading prekeys). If that
//          flush fails the call fails, but the commit stands (visible to
//          readers, maybe not on disk).
//  full_in_commit: full, with the WAL flushed inside the commit, holding the
//          write lock: a failed flush rolls the transaction back, so a failure
//          always means nothing was stored. For a caller that answers a failure
//          as if nothing happened: the receive batch, whose messages the server
//          delivers again, and a copy found stored then counts as announced.
enum class Durability { normal, full, full_in_commit };

// A Signal protocol address: the remote user's name and device number.
struct Address {
  std::string name;
  uint32_t device = 0;
  friend bool operator==(const Address&, const Address&) = default;
};

struct PreKey {
  uint32_t id = 0;
  Bytes pub;   // 32
  Bytes priv;  // 32
  bool uploaded = false;
};

struct SignedPreKey {
  uint32_t id = 0;
  Bytes pub;        // 32
  Bytes priv;       // 32
  Bytes signature;  // 64, XEdDSA by the identity key over 0x05 || pub
  int64_t timestamp = 0;
};

// Result of checking a remote identity key against trust-on-first-use state.
enum class IdentityStatus {
  first_use,  // nothing stored yet (save_identity stores it)
  match,      // equals the stored key
  changed,    // differs from the stored key: never trusted implicitly
};

struct DeviceList {
  std::vector<uint32_t> devices;
  int64_t fetched_at = 0;
};

// One durable event of the profile's event log (the inbox). Messages carry
// their id and (msg_id, chat, sender) is unique: the server re-delivers
// messages it has not seen acked, and those must not become a second event.
// Entries with an empty msg_id (lifecycle, receipts, ...) are never merged.
struct InboxEntry {
  int64_t seq = 0;  // assigned by the store, strictly increasing per profile
  std::string msg_id;
  std::string chat;
  std::string sender;
  int64_t ts = 0;       // when stored, ms since the epoch (retention prunes by it)
  std::string type;     // event type ("message", "receipt", ...)
  std::string payload;  // JSON text of the event
  bool acked = false;   // acked to the server
};

struct InboxPut {
  int64_t seq = 0;
  bool inserted = false;  // false: a duplicate, seq is the earlier entry's
};

// Plaintext of a message we sent, kept for a while to answer retry receipts.
struct SentMessage {
  std::string msg_id;
  std::string chat;
  Bytes plaintext;  // serialized message protobuf
  int64_t ts = 0;
};

// A received media message: what a download needs. `message` is the
// serialized wa.proto.Message holding the media part (its key, direct path
// and hashes: secret, so never in an event); local_path is where a verified
// download put the file ("" until then).
struct MediaRef {
  std::string msg_id;
  std::string chat;
  std::string sender;
  Bytes message;
  std::string local_path;
  int64_t ts = 0;  // when received, unix seconds
};

// Message secrets and polls (schema 6; docs/PROTOCOL.md §12.4). `sender`
// is the message's author as a non-AD user JID in the namespace the message
// used (phone number or LID); `chat` as the chat was named.
struct MessageSecret {
  std::string msg_id;
  std::string chat;
  std::string sender;
  Bytes secret;  // 32 bytes
  int64_t ts = 0;  // unix seconds
};
struct PollRecord {
  std::string msg_id;
  std::string chat;
  std::string sender;
  std::string name;
  std::vector<std::string> options;
  uint32_t selectable = 0;  // 0 = any number
  int64_t ts = 0;
};
struct PollVoteRecord {
  std::string poll_id;
  std::string chat;
  std::string voter;                 // non-AD user JID
  std::vector<std::string> options;  // names; empty = vote withdrawn
  int64_t ts_ms = 0;                 // the voter's senderTimestampMs
};

// Well-known credential names (values are opaque blobs to the store).
namespace cred {
inline constexpr std::string_view noise_pub = "noise_pub";
inline constexpr std::string_view noise_priv = "noise_priv";
inline constexpr std::string_view identity_pub = "identity_pub";
inline constexpr std::string_view identity_priv = "identity_priv";
inline constexpr std::string_view registration_id = "registration_id";    // 4 bytes BE
inline constexpr std::string_view signed_prekey_id = "signed_prekey_id";  // 4 bytes BE
inline constexpr std::string_view adv_secret = "adv_secret";
inline constexpr std::string_view own_jid = "own_jid";
inline constexpr std::string_view own_lid = "own_lid";
// 1 byte: the account's 1:1 chats are LID-migrated (pair-success client-props).
inline constexpr std::string_view lid_migrated = "lid_migrated";
inline constexpr std::string_view account_identity = "account_identity";  // ADVSignedDeviceIdentity
inline constexpr std::string_view routing_info = "routing_info";
inline constexpr std::string_view platform = "platform";
inline constexpr std::string_view push_name = "push_name";
inline constexpr std::string_view next_prekey_id = "next_prekey_id";  // 4 bytes BE
}  // namespace cred

// The classification of store errors (the category `store` of the one error
// registry, wa/contract/errors.hpp). A store FAILURE is the store's
// own fault, not the data's: the disk is full (disk_full), an I/O error
// (io_error), the file is damaged or holds malformed state (db_corrupt), it
// cannot be opened or written (db_access), the write lock stayed busy past
// its deadline (busy), a failed step could not be undone (savepoint_lost),
// a write refused as inconsistent (constraint: our bug, never the item's),
// or SQLite failed otherwise (db_error). Whatever depended on such a write
// did not happen durably: the receive path sends no receipt of any kind and
// stops receiving until the store works again. Any other code (a bad key,
// a decrypt error from a Signal operation) is about the one item.
bool is_store_failure(const Error& e);
// SQLite found the file damaged (SQLITE_CORRUPT / SQLITE_NOTADB, or a stored
// value that cannot be what we wrote): retrying cannot help.
bool is_store_corrupt(const Error& e);

Bytes encode_u32(uint32_t v);                    // 4 bytes big-endian
std::optional<uint32_t> decode_u32(ByteView b);  // nullopt unless exactly 4 bytes

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs fn inside one write transaction that other processes on the same
  // profile cannot interleave with (SQLite: BEGIN IMMEDIATE, retried with
  // backoff on SQLITE_BUSY). Commits when fn succeeds, rolls back when it
  // fails or throws. Nested calls join the outer transaction.
  virtual Status transaction(Durability durability, const std::function<Status()>& fn) = 0;

  // Runs fn as one step of the current transaction that can fail on its own
  // (SQLite: SAVEPOINT): when fn fails or throws, only fn's changes are
  // undone and the enclosing transaction goes on; when fn succeeds its
  // changes commit or roll back with the enclosing transaction. Savepoints
  // nest. Outside any transaction it is a transaction of its own
  // (Durability::full). Should undoing fn's changes itself fail, the
  // enclosing transaction can no longer commit: it rolls back whole and
  // reports `savepoint_lost`.
  virtual Status savepoint(const std::function<Status()>& fn) = 0;

  // --- credentials: small named blobs
  virtual Result<std::optional<Bytes>> get_credential(std::string_view name) = 0;
  virtual Status put_credential(std::string_view name, ByteView value) = 0;
  virtual Status delete_credential(std::string_view name) = 0;

  // --- one-time prekeys
  virtual Result<std::optional<PreKey>> load_prekey(uint32_t id) = 0;
  virtual Status store_prekey(const PreKey& key) = 0;
  virtual Result<bool> contains_prekey(uint32_t id) = 0;
  virtual Status remove_prekey(uint32_t id) = 0;
  virtual Result<std::vector<PreKey>> prekeys_not_uploaded(size_t limit) = 0;  // ascending id
  virtual Status mark_prekeys_uploaded(const std::vector<uint32_t>& ids) = 0;
  virtual Result<size_t> count_prekeys(bool uploaded_only) = 0;

  // --- signed prekeys
  virtual Result<std::optional<SignedPreKey>> load_signed_prekey(uint32_t id) = 0;
  virtual Status store_signed_prekey(const SignedPreKey& key) = 0;
  virtual Result<bool> contains_signed_prekey(uint32_t id) = 0;
  virtual Status remove_signed_prekey(uint32_t id) = 0;

  // --- Signal sessions (opaque serialized records)
  virtual Result<std::optional<Bytes>> load_session(const Address& addr) = 0;
  virtual Status store_session(const Address& addr, ByteView record) = 0;
  virtual Result<bool> contains_session(const Address& addr) = 0;
  virtual Result<bool> delete_session(const Address& addr) = 0;  // true if one was deleted
  virtual Result<size_t> delete_all_sessions(std::string_view name) = 0;
  virtual Result<std::vector<uint32_t>> session_devices(std::string_view name) = 0;

  // --- group sender keys, per (group, sender address)
  virtual Result<std::optional<Bytes>> load_sender_key(std::string_view group, const Address& sender) = 0;
  virtual Status store_sender_key(std::string_view group, const Address& sender, ByteView record) = 0;
  virtual Status delete_sender_key(std::string_view group, const Address& sender) = 0;

  // --- remote identities, trust on first use
  virtual Result<std::optional<Bytes>> load_identity(const Address& addr) = 0;
  // Read-only comparison of `key` with the stored identity.
  virtual Result<IdentityStatus> check_identity(const Address& addr, ByteView key) = 0;
  // Stores `key` if nothing is stored; never overwrites a different key (then
  // returns `changed` and leaves the old one in place).
  virtual Result<IdentityStatus> save_identity(const Address& addr, ByteView key) = 0;
  // The explicit decision to trust a new key: overwrites unconditionally.
  virtual Status replace_identity(const Address& addr, ByteView key) = 0;
  virtual Status delete_identity(const Address& addr) = 0;

  // --- device-list cache (user -> devices, fetched_at for a TTL decided by the caller)
  virtual Result<std::optional<DeviceList>> get_device_list(std::string_view user) = 0;
  virtual Status put_device_list(std::string_view user, const DeviceList& list) = 0;
  virtual Status delete_device_list(std::string_view user) = 0;

  // --- LID <-> phone-number user mappings (both directions unique)
  virtual Status put_lid_mapping(std::string_view pn_user, std::string_view lid_user) = 0;
  virtual Result<std::optional<std::string>> lid_for_pn(std::string_view pn_user) = 0;
  virtual Result<std::optional<std::string>> pn_for_lid(std::string_view lid_user) = 0;

  // --- durable inbox
  virtual Result<InboxPut> inbox_put(const InboxEntry& entry) = 0;  // entry.seq/acked ignored
  virtual Result<std::vector<InboxEntry>> inbox_since(int64_t after_seq, size_t limit) = 0;
  virtual Status inbox_mark_acked(int64_t seq) = 0;
  virtual Result<std::vector<InboxEntry>> inbox_unacked(size_t limit) = 0;
  virtual Result<size_t> inbox_prune(int64_t up_to_seq) = 0;  // deletes acked entries with seq <= up_to_seq
  // Retention: deletes entries stored before `older_than_ts` (ms) and all but
  // the newest `keep_last`, acked or not.
  virtual Result<size_t> inbox_retain(int64_t older_than_ts, int64_t keep_last) = 0;
  virtual Result<int64_t> inbox_last_seq() = 0;  // 0 when empty
  // The seq of a stored message with this id from this sender device, if any:
  // a redelivered message is recognised without decrypting it again (its
  // ratchet step is already taken).
  virtual Result<std::optional<int64_t>> inbox_find(std::string_view msg_id, std::string_view sender) = 0;
  // The `message` events with this id in this chat (one per sender device
  // that used the id; the caller checks which one an add-on refers to).
  virtual Result<std::vector<InboxEntry>> inbox_messages(std::string_view msg_id, std::string_view chat) = 0;
  // Merges the JSON object `patch` into event `seq`'s payload (RFC 7396): how
  // a later revoke marks the message it deletes while the event stays.
  virtual Status inbox_patch(int64_t seq, std::string_view patch) = 0;

  // --- sent-message cache for retry receipts
  virtual Status sent_put(const SentMessage& msg) = 0;
  virtual Result<std::optional<SentMessage>> sent_get(std::string_view msg_id, std::string_view chat) = 0;
  virtual Result<size_t> sent_prune(int64_t older_than_ts) = 0;

  // Received media (one row per message and chat; a re-delivery keeps the first).
  virtual Status media_put(const MediaRef& ref) = 0;
  // chat empty: the newest row with that message id in any chat.
  virtual Result<std::optional<MediaRef>> media_get(std::string_view msg_id, std::string_view chat) = 0;
  // A new direct path after a media retry (message), or where the file now is.
  virtual Status media_update(const MediaRef& ref) = 0;
  virtual Result<size_t> media_prune(int64_t older_than_ts) = 0;

  // --- message secrets and polls (schema 6). Lookups take the chat as
  // stored, or "" for the newest row with that id in any chat (a contact
  // named by LID in one place and by number in another).
  virtual Status secret_put(const MessageSecret& s) = 0;  // the first secret of a message stays
  virtual Result<std::optional<MessageSecret>> secret_get(std::string_view msg_id, std::string_view chat) = 0;
  virtual Status poll_put(const PollRecord& p) = 0;  // the first definition stays
  virtual Result<std::optional<PollRecord>> poll_get(std::string_view msg_id, std::string_view chat) = 0;
  // Replaces the voter's previous vote unless that one is newer (ts_ms);
  // returns whether this vote is now the voter's current one.
  virtual Result<bool> poll_vote_put(const PollVoteRecord& v) = 0;
  virtual Result<std::vector<PollVoteRecord>> poll_votes(std::string_view poll_id, std::string_view chat) = 0;

  // The profile's lease as the database sees it now, on a store that hosts
  // share (docs/ARCHITECTURE.md, "Cluster"): nullopt when it has no lease
  // row; not_supported on a store without leases (SQLite). Read on the
  // store's own connection, so a worker checking its lease costs no
  // database session of its own.
  struct LeaseState {
    int64_t token = 0;
    int64_t expires_in_ms = 0;  // <= 0: lapsed or released
  };
  virtual Result<std::optional<LeaseState>> lease_state() {
    return fail("not_supported", "this store has no leases");
  }
};

}  // namespace wa::store
