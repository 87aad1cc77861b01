#include "wa/store/sqlite_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "fault_vfs.hpp"
#include "wa/contract/errors.hpp"
#include "row_codec.hpp"
#include "schema.hpp"
#include "wa/store/sqlite_handle.hpp"
#include "transaction_body.hpp"
#include "write_gate.hpp"

namespace wa::store {

// The categories live in the one error registry (wa/contract/errors.hpp).
bool is_store_failure(const Error& e) { return contract::is_store_error(e.code); }

bool is_store_corrupt(const Error& e) { return contract::is_store_corrupt(e.code); }

namespace {
std::function<void(const Error&)>& corruption_observer() {
  static std::function<void(const Error&)> fn;
  return fn;
}
}  // namespace

void set_corruption_observer(std::function<void(const Error&)> observer) {
  corruption_observer() = std::move(observer);
}

namespace sql {
void report_corruption(const Error& e) noexcept {
  try {
    if (auto& fn = corruption_observer()) fn(e);
  } catch (...) {
    // An observer must not turn a returned error into an exception.
  }
}
}  // namespace sql

Bytes encode_u32(uint32_t v) {
  return Bytes{static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
               static_cast<uint8_t>(v)};
}

std::optional<uint32_t> decode_u32(ByteView b) {
  if (b.size() != 4) return std::nullopt;
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// Binds `name` to the canonical (LID when mapped) form of address `from`.
#define WA_CANON(name, from)        \
  auto name##_r = canonical(from);  \
  if (!name##_r) return err(name##_r); \
  const Address& name = *name##_r

namespace {

static_assert(schema::kMigrations.size() == kSchemaVersion, "kSchemaVersion must match the migration list");

template <class T>
Unexpected<Error> err(const Result<T>& r) {
  return {r.error()};
}

using rows::decode_devices;
using rows::encode_devices;
using rows::now_seconds;

}  // namespace

// Database files hold private keys: create them 0600 ourselves (SQLite would
// use 0644 & ~umask, and changing the process umask is not thread-safe). WAL
// and shm files inherit the main file's mode from SQLite.
Status sql::prepare_private_file(const std::string& path) {
  // Never open (and close) a descriptor on a database file that may already
  // be open in this process: close() drops every POSIX lock the process
  // holds on the file, including SQLite's, and then another process takes
  // itself for the only user (it checkpoints and deletes the WAL under the
  // open connections: their later commits become invisible). A worker opens
  // several connections to one profile, so only a file that does not exist
  // yet is created here; an existing one is checked and tightened by path.
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail("db_access", "cannot stat " + path + ": " + std::strerror(errno));
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST) return fail("db_access", "cannot create " + path + ": " + std::strerror(errno));
    if (fd >= 0) ::close(fd);  // new and empty: nobody holds a lock on it yet
    if (::lstat(path.c_str(), &st) != 0) return fail("db_access", "cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return fail("db_access", path + " is not a regular file");
  if (st.st_uid != ::geteuid()) return fail("db_access", path + " is owned by another user");
  if ((st.st_mode & 07777) != 0600 && ::chmod(path.c_str(), 0600) != 0)
    return fail("db_access", "cannot chmod " + path + ": " + std::strerror(errno));
  // Left over from an older run with looser permissions: tighten them too.
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string side = path + suffix;
    struct stat sst {};
    if (::lstat(side.c_str(), &sst) == 0 && S_ISREG(sst.st_mode) && (sst.st_mode & 07777) != 0600)
      ::chmod(side.c_str(), 0600);
  }
  return {};
}

namespace {

class SqliteStore final : public Store {
 public:
  SqliteStore(sql::Db db, SqliteOptions options, std::shared_ptr<WriteGate> gate)
      : db_(std::move(db)), opt_(std::move(options)), gate_(std::move(gate)) {}
  ~SqliteStore() override {
    cache_.clear();  // finalize statements before the connection closes
  }

  Status init() {
    sqlite3_extended_result_codes(db_.get(), 1);
    sqlite3_busy_timeout(db_.get(), std::max(0, opt_.busy_timeout_ms));
    {
      auto r = exec_row_text("PRAGMA journal_mode=WAL");
      if (!r) return err(r);
      if (*r != "wal") return fail("db_error", "WAL journal mode not available");
    }
    // Connection default NORMAL; transaction() switches per purpose (see
    // Durability). secure_delete: removed prekeys and sessions are
    // overwritten in the file instead of lingering in free pages.
    for (const char* pragma : {"PRAGMA synchronous=NORMAL", "PRAGMA secure_delete=ON", "PRAGMA foreign_keys=ON",
                               "PRAGMA trusted_schema=OFF"}) {
      if (auto s = exec(pragma); !s) return s;
    }
    sync_in_commit_ = false;
    return migrate();
  }

  // ---------------------------------------------------------------- transactions

  Status transaction(Durability durability, const std::function<Status()>& fn) override {
    if (depth_ > 0) return fn();  // joins the outer transaction (and its durability)
    // A durable transaction commits like a normal one (WAL frames written,
    // no fsync) and flushes the WAL once the gate is free: the fsync (ms on
    // many disks) no longer holds up the next writer, and writers that
    // commit meanwhile share one flush (write_gate.hpp, group flush). The
    // caller still gets its answer only when its commit is on disk.
    // full_in_commit (a failed flush must roll back), or no WAL handle to
    // flush: SQLite syncs inside the commit, holding the lock.
    sqlite3_file* wal = durability == Durability::full ? wal_file() : nullptr;
    const bool sync_in_commit = durability != Durability::normal && wal == nullptr;
    if (sync_in_commit != sync_in_commit_) {
      // Only allowed outside a transaction, which is where we are.
      int rc = step_cached(sync_in_commit ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(db_.get(), rc, "synchronous")};
      sync_in_commit_ = sync_in_commit;
    }
    auto commit = commit_under_gate(fn);
    if (!commit) return Unexpected<Error>{commit.error()};
    return wal ? flush_wal(wal, *commit) : Status{};
  }

  Status savepoint(const std::function<Status()>& fn) override {
    if (depth_ == 0) return transaction(Durability::full, fn);
    // Nested savepoints share one name (ROLLBACK TO and RELEASE pick the
    // newest), so both statements are prepared once: the receive path opens
    // one per message, and compiling them each time was a tenth of its CPU.
    static constexpr std::string_view kName = "wa_step";
    ++savepoints_;
    struct Level {
      int& n;
      ~Level() { --n; }
    } level{savepoints_};
    if (auto s = with("SAVEPOINT wa_step", [](sql::Query& q) { return q.run(); }); !s) return s;
    Status result;
    try {
      result = fn();
    } catch (...) {
      undo_step(kName);
      throw;
    }
    if (!result) {
      undo_step(kName);
      return result;
    }
    if (auto s = with("RELEASE wa_step", [](sql::Query& q) { return q.run(); }); !s) {
      undo_step(kName);
      return s;
    }
    return {};
  }

  // ---------------------------------------------------------------- credentials

  Result<std::optional<Bytes>> get_credential(std::string_view name) override {
    return with("SELECT value FROM credentials WHERE name = ?", [&](sql::Query& q) -> Result<std::optional<Bytes>> {
      q.bind(name);
      auto row = q.step();
      if (!row) return err(row);
      if (!*row) return std::optional<Bytes>{};
      return std::optional<Bytes>{q.col_blob(0)};
    });
  }

  Status put_credential(std::string_view name, ByteView value) override {
    // Credentials are the account itself (losing them after pairing unlinks the device): full.
    return write(Durability::full, [&] {
      return with(
          "INSERT INTO credentials (name, value) VALUES (?, ?) "
          "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
          [&](sql::Query& q) { return q.bind(name).bind_blob(value).run(); });
    });
  }

  Status delete_credential(std::string_view name) override {
    return write(Durability::full, [&] {
      return with("DELETE FROM credentials WHERE name = ?", [&](sql::Query& q) { return q.bind(name).run(); });
    });
  }

  // ---------------------------------------------------------------- prekeys

  Result<std::optional<PreKey>> load_prekey(uint32_t id) override {
    return with("SELECT pub, priv, uploaded FROM prekeys WHERE id = ?",
                [&](sql::Query& q) -> Result<std::optional<PreKey>> {
                  q.bind(int64_t{id});
                  auto row = q.step();
                  if (!row) return err(row);
                  if (!*row) return std::optional<PreKey>{};
                  PreKey k;
                  k.id = id;
                  k.pub = q.col_blob(0);
                  k.priv = q.col_blob(1);
                  k.uploaded = q.col_int(2) != 0;
                  return std::optional<PreKey>{std::move(k)};
                });
  }

  Status store_prekey(const PreKey& key) override {
    if (auto s = check_keypair(key.pub, key.priv); !s) return s;
    // Prekeys are uploaded right after being stored: full, or a power loss
    // leaves the server handing out keys we no longer have.
    return write(Durability::full, [&] {
      return with(
          "INSERT INTO prekeys (id, pub, priv, uploaded) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (id) DO UPDATE SET pub = excluded.pub, priv = excluded.priv, uploaded = excluded.uploaded",
          [&](sql::Query& q) {
            return q.bind(int64_t{key.id}).bind_blob(key.pub).bind_blob(key.priv).bind(int64_t{key.uploaded}).run();
          });
    });
  }

  Result<bool> contains_prekey(uint32_t id) override {
    return exists("SELECT 1 FROM prekeys WHERE id = ?", int64_t{id});
  }

  Status remove_prekey(uint32_t id) override {
    return write(Durability::normal, [&] {
      return with("DELETE FROM prekeys WHERE id = ?", [&](sql::Query& q) { return q.bind(int64_t{id}).run(); });
    });
  }

  Result<std::vector<PreKey>> prekeys_not_uploaded(size_t limit) override {
    return with("SELECT id, pub, priv FROM prekeys WHERE uploaded = 0 ORDER BY id LIMIT ?",
                [&](sql::Query& q) -> Result<std::vector<PreKey>> {
                  q.bind(clamp_limit(limit));
                  std::vector<PreKey> out;
                  for (;;) {
                    auto row = q.step();
                    if (!row) return err(row);
                    if (!*row) break;
                    PreKey k;
                    k.id = static_cast<uint32_t>(q.col_int(0));
                    k.pub = q.col_blob(1);
                    k.priv = q.col_blob(2);
                    out.push_back(std::move(k));
                  }
                  return out;
                });
  }

  Status mark_prekeys_uploaded(const std::vector<uint32_t>& ids) override {
    return write(Durability::full, [&]() -> Status {
      for (uint32_t id : ids) {
        auto s = with("UPDATE prekeys SET uploaded = 1 WHERE id = ?",
                      [&](sql::Query& q) { return q.bind(int64_t{id}).run(); });
        if (!s) return s;
      }
      return {};
    });
  }

  Result<size_t> count_prekeys(bool uploaded_only) override {
    return with(uploaded_only ? "SELECT count(*) FROM prekeys WHERE uploaded = 1" : "SELECT count(*) FROM prekeys",
                [&](sql::Query& q) -> Result<size_t> {
                  auto row = q.step();
                  if (!row) return err(row);
                  return static_cast<size_t>(q.col_int(0));
                });
  }

  // ---------------------------------------------------------------- signed prekeys

  Result<std::optional<SignedPreKey>> load_signed_prekey(uint32_t id) override {
    return with("SELECT pub, priv, signature, ts FROM signed_prekeys WHERE id = ?",
                [&](sql::Query& q) -> Result<std::optional<SignedPreKey>> {
                  q.bind(int64_t{id});
                  auto row = q.step();
                  if (!row) return err(row);
                  if (!*row) return std::optional<SignedPreKey>{};
                  SignedPreKey k;
                  k.id = id;
                  k.pub = q.col_blob(0);
                  k.priv = q.col_blob(1);
                  k.signature = q.col_blob(2);
                  k.timestamp = q.col_int(3);
                  return std::optional<SignedPreKey>{std::move(k)};
                });
  }

  Status store_signed_prekey(const SignedPreKey& key) override {
    if (auto s = check_keypair(key.pub, key.priv); !s) return s;
    if (key.signature.size() != 64) return fail("bad_key", "signed prekey signature must be 64 bytes");
    return write(Durability::full, [&] {
      return with(
          "INSERT INTO signed_prekeys (id, pub, priv, signature, ts) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (id) DO UPDATE SET pub = excluded.pub, priv = excluded.priv, "
          "signature = excluded.signature, ts = excluded.ts",
          [&](sql::Query& q) {
            return q.bind(int64_t{key.id})
                .bind_blob(key.pub)
                .bind_blob(key.priv)
                .bind_blob(key.signature)
                .bind(key.timestamp)
                .run();
          });
    });
  }

  Result<bool> contains_signed_prekey(uint32_t id) override {
    return exists("SELECT 1 FROM signed_prekeys WHERE id = ?", int64_t{id});
  }

  Status remove_signed_prekey(uint32_t id) override {
    return write(Durability::normal, [&] {
      return with("DELETE FROM signed_prekeys WHERE id = ?", [&](sql::Query& q) { return q.bind(int64_t{id}).run(); });
    });
  }

  // ---------------------------------------------------------------- LID naming
  //
  // Signal state of a contact lives under its LID once the mapping is known
  // (docs/PROTOCOL.md §12.1): a PN address ("123", hosted "123_128") is read
  // and written as the LID one ("456_1", "456_129"), whichever form the
  // caller names. Done here, under every caller, so the receive path, the
  // senders and the Signal library all land on the same row.

  Result<std::string> canonical_name(std::string_view name) {
    bool hosted = false;
    auto user = rows::pn_user_of(name, hosted);
    if (!user) return std::string(name);  // a LID already, or unknown
    auto lid = lid_for_pn(*user);
    if (!lid) return err(lid);
    if (!*lid) return std::string(name);
    return rows::lid_name(**lid, hosted);
  }

  Result<Address> canonical(const Address& a) {
    auto name = canonical_name(a.name);
    if (!name) return err(name);
    return Address{std::move(*name), a.device};
  }

  // Moves the contact's PN-named rows to its LID names. When both exist the
  // LID row is kept: it can only have been made after the contact began
  // writing from its LID, so it is the newer state.
  Status migrate_to_lid(std::string_view pn_user, std::string_view lid_user) {
    for (const auto& [pn_suffix, lid_suffix] : {std::pair{"", "_1"}, std::pair{"_128", "_129"}}) {
      const std::string from = std::string(pn_user) + pn_suffix;
      const std::string to = std::string(lid_user) + lid_suffix;
      WA_TRY(with("INSERT OR IGNORE INTO sessions (name, device, record) SELECT ?, device, record FROM sessions WHERE name = ?",
                  [&](sql::Query& q) { return q.bind(std::string_view(to)).bind(std::string_view(from)).run(); }));
      WA_TRY(with("DELETE FROM sessions WHERE name = ?", [&](sql::Query& q) { return q.bind(std::string_view(from)).run(); }));
      WA_TRY(with("INSERT OR IGNORE INTO identities (name, device, key, first_seen) "
                  "SELECT ?, device, key, first_seen FROM identities WHERE name = ?",
                  [&](sql::Query& q) { return q.bind(std::string_view(to)).bind(std::string_view(from)).run(); }));
      WA_TRY(with("DELETE FROM identities WHERE name = ?", [&](sql::Query& q) { return q.bind(std::string_view(from)).run(); }));
      WA_TRY(with("INSERT OR IGNORE INTO sender_keys (group_id, sender_name, sender_device, record) "
                  "SELECT group_id, ?, sender_device, record FROM sender_keys WHERE sender_name = ?",
                  [&](sql::Query& q) { return q.bind(std::string_view(to)).bind(std::string_view(from)).run(); }));
      WA_TRY(with("DELETE FROM sender_keys WHERE sender_name = ?",
                  [&](sql::Query& q) { return q.bind(std::string_view(from)).run(); }));
    }
    return {};
  }

  // ---------------------------------------------------------------- sessions

  Result<std::optional<Bytes>> load_session(const Address& addr) override {
    WA_CANON(a, addr);
    return load_blob("SELECT record FROM sessions WHERE name = ? AND device = ?", a);
  }

  Status store_session(const Address& addr, ByteView record) override {
    WA_CANON(a, addr);
    // Outside a Signal operation's transaction a session write is
    // re-derivable state: normal. (Signal encrypt asks for full itself.)
    return write(Durability::normal, [&] {
      return with(
          "INSERT INTO sessions (name, device, record) VALUES (?, ?, ?) "
          "ON CONFLICT (name, device) DO UPDATE SET record = excluded.record",
          [&](sql::Query& q) { return q.bind(a.name).bind(int64_t{a.device}).bind_blob(record).run(); });
    });
  }

  Result<bool> contains_session(const Address& addr) override {
    WA_CANON(a, addr);
    return with("SELECT 1 FROM sessions WHERE name = ? AND device = ?", [&](sql::Query& q) -> Result<bool> {
      q.bind(a.name).bind(int64_t{a.device});
      return q.step();
    });
  }

  Result<bool> delete_session(const Address& addr) override {
    WA_CANON(a, addr);
    bool deleted = false;
    auto s = write(Durability::normal, [&]() -> Status {
      auto r = with("DELETE FROM sessions WHERE name = ? AND device = ?",
                    [&](sql::Query& q) { return q.bind(a.name).bind(int64_t{a.device}).run(); });
      if (!r) return r;
      deleted = sqlite3_changes(db_.get()) > 0;
      return {};
    });
    if (!s) return err(s);
    return deleted;
  }

  Result<size_t> delete_all_sessions(std::string_view raw_name) override {
    auto canon_name = canonical_name(raw_name);
    if (!canon_name) return err(canon_name);
    std::string_view name = *canon_name;
    size_t n = 0;
    auto s = write(Durability::normal, [&]() -> Status {
      auto r = with("DELETE FROM sessions WHERE name = ?", [&](sql::Query& q) { return q.bind(name).run(); });
      if (!r) return r;
      n = static_cast<size_t>(sqlite3_changes(db_.get()));
      return {};
    });
    if (!s) return err(s);
    return n;
  }

  Result<std::vector<uint32_t>> session_devices(std::string_view raw_name) override {
    auto canon_name = canonical_name(raw_name);
    if (!canon_name) return err(canon_name);
    std::string_view name = *canon_name;
    return with("SELECT device FROM sessions WHERE name = ? ORDER BY device",
                [&](sql::Query& q) -> Result<std::vector<uint32_t>> {
                  q.bind(name);
                  std::vector<uint32_t> out;
                  for (;;) {
                    auto row = q.step();
                    if (!row) return err(row);
                    if (!*row) break;
                    out.push_back(static_cast<uint32_t>(q.col_int(0)));
                  }
                  return out;
                });
  }

  // ---------------------------------------------------------------- sender keys

  Result<std::optional<Bytes>> load_sender_key(std::string_view group, const Address& addr) override {
    WA_CANON(s, addr);
    return with("SELECT record FROM sender_keys WHERE group_id = ? AND sender_name = ? AND sender_device = ?",
                [&](sql::Query& q) -> Result<std::optional<Bytes>> {
                  q.bind(group).bind(s.name).bind(int64_t{s.device});
                  auto row = q.step();
                  if (!row) return err(row);
                  if (!*row) return std::optional<Bytes>{};
                  return std::optional<Bytes>{q.col_blob(0)};
                });
  }

  Status store_sender_key(std::string_view group, const Address& addr, ByteView record) override {
    WA_CANON(s, addr);
    return write(Durability::normal, [&] {
      return with(
          "INSERT INTO sender_keys (group_id, sender_name, sender_device, record) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (group_id, sender_name, sender_device) DO UPDATE SET record = excluded.record",
          [&](sql::Query& q) { return q.bind(group).bind(s.name).bind(int64_t{s.device}).bind_blob(record).run(); });
    });
  }

  Status delete_sender_key(std::string_view group, const Address& addr) override {
    WA_CANON(s, addr);
    return write(Durability::normal, [&] {
      return with("DELETE FROM sender_keys WHERE group_id = ? AND sender_name = ? AND sender_device = ?",
                  [&](sql::Query& q) { return q.bind(group).bind(s.name).bind(int64_t{s.device}).run(); });
    });
  }

  // ---------------------------------------------------------------- identities

  Result<std::optional<Bytes>> load_identity(const Address& addr) override {
    WA_CANON(a, addr);
    return load_blob("SELECT key FROM identities WHERE name = ? AND device = ?", a);
  }

  Result<IdentityStatus> check_identity(const Address& a, ByteView key) override {
    auto stored = load_identity(a);
    if (!stored) return err(stored);
    if (!*stored) return IdentityStatus::first_use;
    return std::equal(key.begin(), key.end(), (*stored)->begin(), (*stored)->end()) ? IdentityStatus::match
                                                                                    : IdentityStatus::changed;
  }

  Result<IdentityStatus> save_identity(const Address& addr, ByteView key) override {
    WA_CANON(a, addr);
    if (key.size() != 32) return fail("bad_key", "identity key must be 32 bytes");
    IdentityStatus status = IdentityStatus::first_use;
    auto s = write(Durability::full, [&]() -> Status {
      auto st = check_identity(a, key);
      if (!st) return err(st);
      status = *st;
      if (status != IdentityStatus::first_use) return {};
      return with("INSERT INTO identities (name, device, key, first_seen) VALUES (?, ?, ?, ?)", [&](sql::Query& q) {
        return q.bind(a.name).bind(int64_t{a.device}).bind_blob(key).bind(now_seconds()).run();
      });
    });
    if (!s) return err(s);
    return status;
  }

  Status replace_identity(const Address& addr, ByteView key) override {
    WA_CANON(a, addr);
    if (key.size() != 32) return fail("bad_key", "identity key must be 32 bytes");
    return write(Durability::full, [&] {
      return with(
          "INSERT INTO identities (name, device, key, first_seen) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (name, device) DO UPDATE SET key = excluded.key, first_seen = excluded.first_seen",
          [&](sql::Query& q) {
            return q.bind(a.name).bind(int64_t{a.device}).bind_blob(key).bind(now_seconds()).run();
          });
    });
  }

  Status delete_identity(const Address& addr) override {
    WA_CANON(a, addr);
    return write(Durability::full, [&] {
      return with("DELETE FROM identities WHERE name = ? AND device = ?",
                  [&](sql::Query& q) { return q.bind(a.name).bind(int64_t{a.device}).run(); });
    });
  }

  // ---------------------------------------------------------------- device lists

  Result<std::optional<DeviceList>> get_device_list(std::string_view user) override {
    return with("SELECT devices, fetched_at FROM device_lists WHERE user = ?",
                [&](sql::Query& q) -> Result<std::optional<DeviceList>> {
                  q.bind(user);
                  auto row = q.step();
                  if (!row) return err(row);
                  if (!*row) return std::optional<DeviceList>{};
                  auto devices = decode_devices(q.col_text(0));
                  if (!devices) return fail("db_corrupt", "malformed device list");
                  return std::optional<DeviceList>{DeviceList{std::move(*devices), q.col_int(1)}};
                });
  }

  Status put_device_list(std::string_view user, const DeviceList& list) override {
    std::string text = encode_devices(list.devices);
    // A cache: re-fetched from the server if lost.
    return write(Durability::normal, [&] {
      return with(
          "INSERT INTO device_lists (user, devices, fetched_at) VALUES (?, ?, ?) "
          "ON CONFLICT (user) DO UPDATE SET devices = excluded.devices, fetched_at = excluded.fetched_at",
          [&](sql::Query& q) { return q.bind(user).bind(std::string_view(text)).bind(list.fetched_at).run(); });
    });
  }

  Status delete_device_list(std::string_view user) override {
    return write(Durability::normal, [&] {
      return with("DELETE FROM device_lists WHERE user = ?", [&](sql::Query& q) { return q.bind(user).run(); });
    });
  }

  // ---------------------------------------------------------------- LID mappings

  Status put_lid_mapping(std::string_view pn_user, std::string_view lid_user) override {
    if (!rows::valid_mapping(pn_user, lid_user))
      return fail("bad_request", "a LID mapping takes two bare user parts");
    // One transaction for the mapping and the move of the contact's Signal
    // state to its LID name: another process (a sender, the receive path)
    // sees either the PN rows and no mapping, or the mapping and the LID
    // rows — never a mapping with the state still under the PN name, where
    // it would start a second session. BEGIN IMMEDIATE means only one
    // process migrates; the second finds the mapping there and does nothing.
    return write(Durability::full, [&]() -> Status {
      auto known = lid_for_pn(pn_user);
      if (!known) return err(known);
      if (*known && **known == lid_user) return {};
      lid_cache_.clear();
      // INSERT OR REPLACE drops any row conflicting on either unique column,
      // keeping the mapping one-to-one (a number that moved to a new LID, a
      // LID given to another number).
      WA_TRY(with("INSERT OR REPLACE INTO lid_mappings (pn_user, lid_user) VALUES (?, ?)",
                  [&](sql::Query& q) { return q.bind(pn_user).bind(lid_user).run(); }));
      return migrate_to_lid(pn_user, lid_user);
    });
  }

  Result<std::optional<std::string>> lid_for_pn(std::string_view pn_user) override {
    // Asked for every Signal address a transaction touches (canonical()).
    // Inside a write transaction no other process can change the mappings,
    // so an answer holds until it ends or this connection writes one.
    if (depth_ == 0) return load_text("SELECT lid_user FROM lid_mappings WHERE pn_user = ?", pn_user);
    if (auto it = lid_cache_.find(pn_user); it != lid_cache_.end()) return it->second;
    auto r = load_text("SELECT lid_user FROM lid_mappings WHERE pn_user = ?", pn_user);
    if (r) lid_cache_.emplace(std::string(pn_user), *r);
    return r;
  }

  Result<std::optional<std::string>> pn_for_lid(std::string_view lid_user) override {
    return load_text("SELECT pn_user FROM lid_mappings WHERE lid_user = ?", lid_user);
  }

  // ---------------------------------------------------------------- inbox

  Result<InboxPut> inbox_put(const InboxEntry& e) override {
    InboxPut out;
    // The ack to the server follows this write: full, or a power loss loses
    // a message the server will never send again.
    auto s = write(Durability::full, [&]() -> Status {
      // Look first. This look is what keeps a message from being stored
      // twice (the index on msg_id is not unique, schema step 7); it runs
      // inside the write transaction, and only one writer holds that.
      if (!e.msg_id.empty()) {
        auto found = with("SELECT seq FROM inbox WHERE msg_id = ? AND chat = ? AND sender = ? AND msg_id <> ''",
                          [&](sql::Query& q) -> Result<bool> {
                            q.bind(e.msg_id).bind(e.chat).bind(e.sender);
                            auto row = q.step();
                            if (!row) return err(row);
                            if (*row) out.seq = q.col_int(0);
                            return *row;
                          });
        if (!found) return err(found);
        if (*found) return {};
      }
      // seq is the rowid (INTEGER PRIMARY KEY): read back with
      // last_insert_rowid rather than RETURNING, which makes SQLite build a
      // temporary table for every row (an eighth of the receive path's CPU).
      return with("INSERT INTO inbox (msg_id, chat, sender, ts, type, payload) VALUES (?, ?, ?, ?, ?, ?)",
                  [&](sql::Query& q) -> Status {
                    q.bind(e.msg_id).bind(e.chat).bind(e.sender).bind(e.ts).bind(e.type).bind(e.payload);
                    WA_TRY(q.run());
                    if (sqlite3_changes(db_.get()) != 1) return fail("db_error", "inbox insert without a seq");
                    out.seq = sqlite3_last_insert_rowid(db_.get());
                    out.inserted = true;
                    return {};
                  });
    });
    if (!s) return err(s);
    return out;
  }

  Result<std::vector<InboxEntry>> inbox_since(int64_t after_seq, size_t limit) override {
    return with(
        "SELECT seq, msg_id, chat, sender, ts, type, payload, acked FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?",
        [&](sql::Query& q) {
          q.bind(after_seq).bind(clamp_limit(limit));
          return read_inbox(q);
        });
  }

  Result<std::vector<InboxEntry>> inbox_unacked(size_t limit) override {
    return with(
        "SELECT seq, msg_id, chat, sender, ts, type, payload, acked FROM inbox WHERE acked = 0 ORDER BY seq LIMIT ?",
        [&](sql::Query& q) {
          q.bind(clamp_limit(limit));
          return read_inbox(q);
        });
  }

  Status inbox_mark_acked(int64_t seq) override {
    // Losing this flag only means acking again: normal.
    return write(Durability::normal, [&] {
      return with("UPDATE inbox SET acked = 1 WHERE seq = ?", [&](sql::Query& q) { return q.bind(seq).run(); });
    });
  }

  Result<size_t> inbox_prune(int64_t up_to_seq) override {
    size_t n = 0;
    auto s = write(Durability::normal, [&]() -> Status {
      auto r = with("DELETE FROM inbox WHERE seq <= ? AND acked = 1",
                    [&](sql::Query& q) { return q.bind(up_to_seq).run(); });
      if (!r) return r;
      n = static_cast<size_t>(sqlite3_changes(db_.get()));
      return {};
    });
    if (!s) return err(s);
    return n;
  }

  Result<size_t> inbox_retain(int64_t older_than_ts, int64_t keep_last) override {
    size_t n = 0;
    auto s = write(Durability::normal, [&]() -> Status {
      auto r = with(
          "DELETE FROM inbox WHERE ts < ? OR seq <= (SELECT coalesce(max(seq), 0) FROM inbox) - ?",
          [&](sql::Query& q) { return q.bind(older_than_ts).bind(std::max<int64_t>(keep_last, 0)).run(); });
      if (!r) return r;
      n = static_cast<size_t>(sqlite3_changes(db_.get()));
      return {};
    });
    if (!s) return err(s);
    return n;
  }

  Result<int64_t> inbox_last_seq() override {
    return with("SELECT coalesce(max(seq), 0) FROM inbox", [&](sql::Query& q) -> Result<int64_t> {
      auto row = q.step();
      if (!row) return err(row);
      return *row ? q.col_int(0) : int64_t{0};
    });
  }

  Result<std::optional<int64_t>> inbox_find(std::string_view msg_id, std::string_view sender) override {
    if (msg_id.empty()) return std::optional<int64_t>{};
    return with("SELECT seq FROM inbox WHERE msg_id = ? AND sender = ? AND msg_id <> '' LIMIT 1",
                [&](sql::Query& q) -> Result<std::optional<int64_t>> {
                  q.bind(msg_id).bind(sender);
                  auto row = q.step();
                  if (!row) return err(row);
                  if (!*row) return std::optional<int64_t>{};
                  return std::optional<int64_t>{q.col_int(0)};
                });
  }

  Result<std::vector<InboxEntry>> inbox_messages(std::string_view msg_id, std::string_view chat) override {
    if (msg_id.empty()) return std::vector<InboxEntry>{};
    return with(
        "SELECT seq, msg_id, chat, sender, ts, type, payload, acked FROM inbox "
        "WHERE msg_id = ? AND chat = ? AND msg_id <> '' AND type = 'message' ORDER BY seq LIMIT 16",
        [&](sql::Query& q) {
          q.bind(msg_id).bind(chat);
          return read_inbox(q);
        });
  }

  Status inbox_patch(int64_t seq, std::string_view patch) override {
    // Part of the caller's transaction (the revoke's own event is stored in
    // the same one), so its durability is the caller's.
    return write(Durability::full, [&] {
      return with("UPDATE inbox SET payload = json_patch(payload, ?) WHERE seq = ? AND json_valid(?)",
                  [&](sql::Query& q) { return q.bind(patch).bind(seq).bind(patch).run(); });
    });
  }

  // ---------------------------------------------------------------- sent cache

  Status sent_put(const SentMessage& m) override {
    // Only serves retry receipts; after a power loss a retry fails, nothing worse.
    return write(Durability::normal, [&] {
      return with(
          "INSERT INTO sent_messages (msg_id, chat, plaintext, ts) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (msg_id, chat) DO UPDATE SET plaintext = excluded.plaintext, ts = excluded.ts",
          [&](sql::Query& q) { return q.bind(m.msg_id).bind(m.chat).bind_blob(m.plaintext).bind(m.ts).run(); });
    });
  }

  Result<std::optional<SentMessage>> sent_get(std::string_view msg_id, std::string_view chat) override {
    return with("SELECT plaintext, ts FROM sent_messages WHERE msg_id = ? AND chat = ?",
                [&](sql::Query& q) -> Result<std::optional<SentMessage>> {
                  q.bind(msg_id).bind(chat);
                  auto row = q.step();
                  if (!row) return err(row);
                  if (!*row) return std::optional<SentMessage>{};
                  SentMessage m;
                  m.msg_id = std::string(msg_id);
                  m.chat = std::string(chat);
                  m.plaintext = q.col_blob(0);
                  m.ts = q.col_int(1);
                  return std::optional<SentMessage>{std::move(m)};
                });
  }

  // ---------------------------------------------------------------- media

  Status media_put(const MediaRef& m) override {
    // Part of the receive transaction: durable with the message's event.
    return write(Durability::full, [&] {
      return with(
          "INSERT INTO media (msg_id, chat, sender, message, local_path, ts) VALUES (?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (msg_id, chat) DO NOTHING",
          [&](sql::Query& q) {
            return q.bind(m.msg_id).bind(m.chat).bind(m.sender).bind_blob(m.message).bind(m.local_path).bind(m.ts).run();
          });
    });
  }

  Result<std::optional<MediaRef>> media_get(std::string_view msg_id, std::string_view chat) override {
    const char* sql = chat.empty()
                          ? "SELECT chat, sender, message, local_path, ts FROM media WHERE msg_id = ? "
                            "ORDER BY ts DESC LIMIT 1"
                          : "SELECT chat, sender, message, local_path, ts FROM media WHERE msg_id = ? AND chat = ?";
    return with(sql, [&](sql::Query& q) -> Result<std::optional<MediaRef>> {
      q.bind(msg_id);
      if (!chat.empty()) q.bind(chat);
      auto row = q.step();
      if (!row) return err(row);
      if (!*row) return std::optional<MediaRef>{};
      MediaRef m;
      m.msg_id = std::string(msg_id);
      m.chat = q.col_text(0);
      m.sender = q.col_text(1);
      m.message = q.col_blob(2);
      m.local_path = q.col_text(3);
      m.ts = q.col_int(4);
      return std::optional<MediaRef>{std::move(m)};
    });
  }

  Status media_update(const MediaRef& m) override {
    return write(Durability::full, [&] {
      return with("UPDATE media SET message = ?, local_path = ? WHERE msg_id = ? AND chat = ?", [&](sql::Query& q) {
        return q.bind_blob(m.message).bind(m.local_path).bind(m.msg_id).bind(m.chat).run();
      });
    });
  }

  Result<size_t> media_prune(int64_t older_than_ts) override {
    size_t n = 0;
    auto s = write(Durability::normal, [&]() -> Status {
      auto r = with("DELETE FROM media WHERE ts < ?", [&](sql::Query& q) { return q.bind(older_than_ts).run(); });
      if (!r) return r;
      n = static_cast<size_t>(sqlite3_changes(db_.get()));
      return {};
    });
    if (!s) return err(s);
    return n;
  }

  // ------------------------------------------- message secrets and polls

  Status secret_put(const MessageSecret& m) override {
    // Part of the receive (or send) transaction: durable with the message.
    return write(Durability::full, [&] {
      return with(
          "INSERT INTO message_secrets (msg_id, chat, sender, secret, ts) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (msg_id, chat, sender) DO NOTHING",
          [&](sql::Query& q) { return q.bind(m.msg_id).bind(m.chat).bind(m.sender).bind_blob(m.secret).bind(m.ts).run(); });
    });
  }

  Result<std::optional<MessageSecret>> secret_get(std::string_view msg_id, std::string_view chat) override {
    const char* sql = chat.empty() ? "SELECT chat, sender, secret, ts FROM message_secrets WHERE msg_id = ? "
                                     "ORDER BY ts DESC LIMIT 1"
                                   : "SELECT chat, sender, secret, ts FROM message_secrets WHERE msg_id = ? AND chat = ? "
                                     "ORDER BY ts DESC LIMIT 1";
    return with(sql, [&](sql::Query& q) -> Result<std::optional<MessageSecret>> {
      q.bind(msg_id);
      if (!chat.empty()) q.bind(chat);
      auto row = q.step();
      if (!row) return err(row);
      if (!*row) return std::optional<MessageSecret>{};
      MessageSecret m;
      m.msg_id = std::string(msg_id);
      m.chat = q.col_text(0);
      m.sender = q.col_text(1);
      m.secret = q.col_blob(2);
      m.ts = q.col_int(3);
      return std::optional<MessageSecret>{std::move(m)};
    });
  }

  Status poll_put(const PollRecord& p) override {
    return write(Durability::full, [&] {
      return with(
          "INSERT INTO polls (msg_id, chat, sender, name, options, selectable, ts) VALUES (?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (msg_id, chat, sender) DO NOTHING",
          [&](sql::Query& q) {
            return q.bind(p.msg_id).bind(p.chat).bind(p.sender).bind(p.name).bind(rows::names_to_text(p.options))
                .bind(int64_t{p.selectable}).bind(p.ts).run();
          });
    });
  }

  Result<std::optional<PollRecord>> poll_get(std::string_view msg_id, std::string_view chat) override {
    const char* sql = chat.empty() ? "SELECT chat, sender, name, options, selectable, ts FROM polls WHERE msg_id = ? "
                                     "ORDER BY ts DESC LIMIT 1"
                                   : "SELECT chat, sender, name, options, selectable, ts FROM polls WHERE msg_id = ? "
                                     "AND chat = ? ORDER BY ts DESC LIMIT 1";
    return with(sql, [&](sql::Query& q) -> Result<std::optional<PollRecord>> {
      q.bind(msg_id);
      if (!chat.empty()) q.bind(chat);
      auto row = q.step();
      if (!row) return err(row);
      if (!*row) return std::optional<PollRecord>{};
      PollRecord p;
      p.msg_id = std::string(msg_id);
      p.chat = q.col_text(0);
      p.sender = q.col_text(1);
      p.name = q.col_text(2);
      p.options = rows::names_from_text(q.col_text(3));
      p.selectable = static_cast<uint32_t>(q.col_int(4));
      p.ts = q.col_int(5);
      return std::optional<PollRecord>{std::move(p)};
    });
  }

  Result<bool> poll_vote_put(const PollVoteRecord& v) override {
    bool current = false;
    auto s = write(Durability::full, [&]() -> Status {
      auto r = with(
          "INSERT INTO poll_votes (poll_id, chat, voter, options, ts_ms) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (poll_id, chat, voter) DO UPDATE SET options = excluded.options, ts_ms = excluded.ts_ms "
          "WHERE excluded.ts_ms >= poll_votes.ts_ms",
          [&](sql::Query& q) {
            return q.bind(v.poll_id).bind(v.chat).bind(v.voter).bind(rows::names_to_text(v.options)).bind(v.ts_ms).run();
          });
      if (!r) return r;
      current = sqlite3_changes(db_.get()) > 0;
      return {};
    });
    if (!s) return err(s);
    return current;
  }

  Result<std::vector<PollVoteRecord>> poll_votes(std::string_view poll_id, std::string_view chat) override {
    return with("SELECT voter, options, ts_ms FROM poll_votes WHERE poll_id = ? AND chat = ? ORDER BY ts_ms, voter",
                [&](sql::Query& q) -> Result<std::vector<PollVoteRecord>> {
                  q.bind(poll_id).bind(chat);
                  std::vector<PollVoteRecord> out;
                  for (;;) {
                    auto row = q.step();
                    if (!row) return err(row);
                    if (!*row) break;
                    PollVoteRecord v;
                    v.poll_id = std::string(poll_id);
                    v.chat = std::string(chat);
                    v.voter = q.col_text(0);
                    v.options = rows::names_from_text(q.col_text(1));
                    v.ts_ms = q.col_int(2);
                    out.push_back(std::move(v));
                  }
                  return out;
                });
  }

  Result<size_t> sent_prune(int64_t older_than_ts) override {
    size_t n = 0;
    auto s = write(Durability::normal, [&]() -> Status {
      auto r =
          with("DELETE FROM sent_messages WHERE ts < ?", [&](sql::Query& q) { return q.bind(older_than_ts).run(); });
      if (!r) return r;
      n = static_cast<size_t>(sqlite3_changes(db_.get()));
      return {};
    });
    if (!s) return err(s);
    return n;
  }

 private:
  // Runs a cached prepared statement through f(Query&).
  template <class F>
  auto with(std::string_view sql_text, F&& f) -> decltype(f(std::declval<sql::Query&>())) {
    auto stmt = prepare(sql_text);
    if (!stmt) return err(stmt);
    sql::Query q(db_.get(), *stmt);
    return f(q);
  }

  // A write outside any transaction gets its own, with the durability its
  // table needs; inside one it joins (the outer transaction decides).
  template <class F>
  Status write(Durability d, F&& f) {
    if (depth_ > 0) return f();
    return transaction(d, std::function<Status()>(std::forward<F>(f)));
  }

  // Keys are `std::string_view`s of string literals: static storage.
  Result<sqlite3_stmt*> prepare(std::string_view sql_text) {
    auto it = cache_.find(sql_text);
    if (it != cache_.end()) return it->second.get();
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql_text.data(), static_cast<int>(sql_text.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    sql::Stmt stmt(raw);
    if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(db_.get(), rc, "prepare")};
    sqlite3_stmt* p = stmt.get();
    cache_.emplace(sql_text, std::move(stmt));
    return p;
  }

  Status exec(const char* sql_text) { return sql::exec(db_.get(), sql_text); }

  // The statements every transaction runs (BEGIN IMMEDIATE, COMMIT, the
  // synchronous switch), prepared once: sqlite3_exec parsed them anew each
  // time, ~8 % of a sender's CPU per send. SQLITE_OK or the step's error.
  int step_cached(std::string_view sql_text) {
    auto stmt = prepare(sql_text);
    if (!stmt) return sqlite3_errcode(db_.get());
    int rc = sqlite3_step(*stmt);
    sqlite3_reset(*stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }

  Result<std::string> exec_row_text(const char* sql_text) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(), sql_text, -1, &raw, nullptr);
    sql::Stmt stmt(raw);
    if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(db_.get(), rc, "prepare")};
    sql::Query q(db_.get(), stmt.get());
    auto row = q.step();
    if (!row) return err(row);
    return *row ? q.col_text(0) : std::string();
  }

  Status begin_immediate() {
    for (int attempt = 0;; ++attempt) {
      int rc = step_cached("BEGIN IMMEDIATE");
      if (rc == SQLITE_OK) return {};
      if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
        return Unexpected<Error>{sql::sqlite_error(db_.get(), rc, "begin")};
      if (attempt >= opt_.max_busy_retries)
        return fail("busy",
                    "database stayed locked by another process after " + std::to_string(attempt + 1) + " attempts");
      if (opt_.on_busy_retry) opt_.on_busy_retry(attempt + 1);
      backoff(attempt);
    }
  }

  // Jittered so that two processes retrying together do not stay in step.
  static void backoff(int attempt) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    int base_us = 1000 << std::min(attempt, 6);
    std::uniform_int_distribution<int> jitter(base_us / 2, base_us);
    std::this_thread::sleep_for(std::chrono::microseconds(jitter(rng)));
  }

  // Undoes a failed savepoint's changes. Some SQLite errors (disk full, I/O)
  // roll the whole transaction back on their own; then the savepoint is gone
  // and the enclosing transaction must not commit.
  void undo_step(std::string_view name) noexcept {
    lid_cache_.clear();  // the step may have added a mapping
    const std::string sql_text = "ROLLBACK TO " + std::string(name) + "; RELEASE " + std::string(name);
    if (sqlite3_get_autocommit(db_.get()) ||
        sqlite3_exec(db_.get(), sql_text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      savepoint_lost_ = true;
  }

  void rollback() noexcept {
    lid_cache_.clear();
    if (!sqlite3_get_autocommit(db_.get())) (void)step_cached("ROLLBACK");
  }

  Status migrate() {
    const int target = opt_.migrate_to > 0 ? std::min(opt_.migrate_to, kSchemaVersion) : kSchemaVersion;
    return transaction(Durability::full, [&]() -> Status {
      auto v = exec_row_text("PRAGMA user_version");
      if (!v) return err(v);
      int version = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), version);
      if (ec != std::errc() || version < 0) return fail("db_corrupt", "bad user_version");
      if (version > kSchemaVersion)
        return fail("schema_too_new", "database schema " + std::to_string(version) + " is newer than this build (" +
                                          std::to_string(kSchemaVersion) + ")");
      for (int next = version; next < target; ++next) {
        if (auto s = exec(schema::kMigrations[static_cast<size_t>(next)]); !s) return s;
        std::string set = "PRAGMA user_version = " + std::to_string(next + 1);
        if (auto s = exec(set.c_str()); !s) return s;
      }
      return {};
    });
  }

  Status check_keypair(const Bytes& pub, const Bytes& priv) {
    if (pub.size() != 32 || priv.size() != 32)
      return fail("bad_key", "key pair must be 32-byte public and private keys");
    return {};
  }

  static int64_t clamp_limit(size_t limit) {
    return static_cast<int64_t>(std::min<size_t>(limit, static_cast<size_t>(INT64_MAX)));
  }

  Result<bool> exists(std::string_view sql_text, int64_t key) {
    return with(sql_text, [&](sql::Query& q) -> Result<bool> {
      q.bind(key);
      return q.step();
    });
  }

  Result<std::optional<Bytes>> load_blob(std::string_view sql_text, const Address& a) {
    return with(sql_text, [&](sql::Query& q) -> Result<std::optional<Bytes>> {
      q.bind(a.name).bind(int64_t{a.device});
      auto row = q.step();
      if (!row) return err(row);
      if (!*row) return std::optional<Bytes>{};
      return std::optional<Bytes>{q.col_blob(0)};
    });
  }

  Result<std::optional<std::string>> load_text(std::string_view sql_text, std::string_view key) {
    return with(sql_text, [&](sql::Query& q) -> Result<std::optional<std::string>> {
      q.bind(key);
      auto row = q.step();
      if (!row) return err(row);
      if (!*row) return std::optional<std::string>{};
      return std::optional<std::string>{q.col_text(0)};
    });
  }

  static Result<std::vector<InboxEntry>> read_inbox(sql::Query& q) {
    std::vector<InboxEntry> out;
    for (;;) {
      auto row = q.step();
      if (!row) return err(row);
      if (!*row) break;
      InboxEntry e;
      e.seq = q.col_int(0);
      e.msg_id = q.col_text(1);
      e.chat = q.col_text(2);
      e.sender = q.col_text(3);
      e.ts = q.col_int(4);
      e.type = q.col_text(5);
      e.payload = q.col_text(6);
      e.acked = q.col_int(7) != 0;
      out.push_back(std::move(e));
    }
    return out;
  }

  // fn inside BEGIN IMMEDIATE ... COMMIT, holding the write gate. The
  // answer is the commit's number for the group flush, taken before the
  // gate is let go (0 without a gate).
  Result<uint64_t> commit_under_gate(const std::function<Status()>& fn) {
    // Writers of this database queue on the gate (write_gate.hpp) and are
    // woken at the holder's commit, instead of polling SQLite's lock from
    // its sleeping busy handler; BEGIN IMMEDIATE then rarely waits at all.
    GateHold hold(gate_.get(), opt_.busy_timeout_ms);
    if (auto s = begin_immediate(); !s) return Unexpected<Error>{s.error()};

    Status result = run_transaction_body(fn, depth_, savepoint_lost_, lid_cache_, [this] { rollback(); });
    if (!result) {
      rollback();
      return Unexpected<Error>{result.error()};
    }
    int rc = step_cached("COMMIT");
    if (rc != SQLITE_OK) {
      Error e = sql::sqlite_error(db_.get(), rc, "commit");
      rollback();
      return Unexpected<Error>{std::move(e)};
    }
    return gate_ ? gate_->note_commit() : uint64_t{0};
  }

  // The connection's open WAL file, or null (not in WAL mode yet, or a VFS
  // that does not say).
  sqlite3_file* wal_file() {
    sqlite3_file* f = nullptr;
    if (sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK) return nullptr;
    if (!f || !f->pMethods) return nullptr;
    return f;
  }

  // Makes commit `commit` durable: nothing to do when another writer's
  // finished flush started after it; else one fsync of the WAL, which
  // covers every commit numbered before it started. SQLite's own flushes
  // with synchronous=NORMAL (before a checkpoint copies frames into the
  // database, and of the header when the WAL starts over) keep a frame
  // that a checkpoint moved durable too. The flags are those SQLite uses
  // for a WAL commit at synchronous=FULL.
  Status flush_wal(sqlite3_file* wal, uint64_t commit) {
    if (gate_ && commit && gate_->flushed_through(commit)) return {};
    const uint64_t covers = gate_ ? gate_->newest_commit() : 0;
    if (int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL); rc != SQLITE_OK)
      return fail("io_error", "the write-ahead log could not be flushed (error " + std::to_string(rc) + ")");
    if (gate_) gate_->note_flushed(covers);
    return {};
  }

  // Holds the gate for one transaction; without it (no gate, deadline
  // passed, a relock) the transaction relies on SQLite's locking alone.
  struct GateHold {
    WriteGate* gate;
    GateHold(WriteGate* g, int timeout_ms) : gate(g && g->lock(std::max(0, timeout_ms)) ? g : nullptr) {}
    ~GateHold() {
      if (gate) gate->unlock();
    }
    GateHold(const GateHold&) = delete;
    GateHold& operator=(const GateHold&) = delete;
  };

  sql::Db db_;
  SqliteOptions opt_;
  std::shared_ptr<WriteGate> gate_;
  std::unordered_map<std::string_view, sql::Stmt> cache_;
  // lid_for_pn answers within the current write transaction (see there).
  LidCache lid_cache_;
  int depth_ = 0;
  int savepoints_ = 0;           // open savepoints inside the current transaction
  bool savepoint_lost_ = false;  // a savepoint could not be undone: no commit
  bool sync_in_commit_ = false;  // the connection's synchronous setting: FULL (true) or NORMAL
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const SqliteOptions& options) {
  if (path.empty()) return fail("bad_path", "empty database path");
  if (auto s = sql::prepare_private_file(path); !s) return Unexpected<Error>{s.error()};
  // Two processes opening one profile at once (the supervisor logging an
  // event while the worker starts) can meet in the WAL switch or the WAL
  // recovery, where SQLite answers BUSY without waiting. Opening is rare:
  // retry with backoff for up to the busy timeout instead of failing a
  // worker's start over a collision that lasts microseconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, options.busy_timeout_ms));
  // One mapping per open; a database without a usable side file is written
  // under SQLite's locking alone, as before the gate existed.
  std::shared_ptr<WriteGate> gate = WriteGate::open(path);
  for (int delay_ms = 1;; delay_ms = std::min(delay_ms * 2, 64)) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                             fault::vfs_name());
    sql::Db db(raw);
    if (rc != SQLITE_OK) return Unexpected<Error>{sql::sqlite_error(db.get(), rc, "open " + path)};
    auto store = std::make_unique<SqliteStore>(std::move(db), options, gate);
    auto s = store->init();
    if (s) return std::unique_ptr<Store>(std::move(store));
    if (s.error().code != "busy" || std::chrono::steady_clock::now() >= deadline) return Unexpected<Error>{s.error()};
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
}

}  // namespace wa::store
