#include "wa/store/postgres_store.hpp"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "pg_conn.hpp"
#include "pg_schema.hpp"
#include "row_codec.hpp"
#include "transaction_body.hpp"

namespace wa::store {

namespace {

static_assert(pg_schema::kMigrations.size() == kPgSchemaVersion, "kPgSchemaVersion must match the migration list");

template <class T>
Unexpected<Error> err(const Result<T>& r) {
  return {r.error()};
}

// Any key, as long as every host uses the same one: serialises schema
// creation and upgrades between hosts starting together.
constexpr int64_t kSchemaLockKey = 0x7761'5f73'6368'656d;  // "wa_schem"

Status migrate(pg::Conn& c) {
  // The common case, a current schema, costs one query and no lock.
  if (auto cur = c.run("SELECT CASE WHEN to_regclass('wa_schema') IS NULL THEN 0 ELSE 1 END"); cur && !cur->empty()) {
    auto has = cur->i64(0, 0);
    if (has && *has == 1)
      if (auto v = c.run("SELECT coalesce(max(version), 0) FROM wa_schema"); v && !v->empty())
        if (auto n = v->i64(0, 0); n && *n == kPgSchemaVersion) return {};
  }
  WA_TRY(c.script("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kSchemaLockKey) + ")"));
  auto body = [&]() -> Status {
    WA_TRY(c.script("CREATE TABLE IF NOT EXISTS wa_schema (version BIGINT NOT NULL)"));
    auto v = c.run("SELECT coalesce(max(version), 0) FROM wa_schema");
    if (!v) return err(v);
    auto version = v->i64(0, 0);
    if (!version) return err(version);
    if (*version > kPgSchemaVersion)
      return fail("schema_too_new", "database schema " + std::to_string(*version) + " is newer than this build (" +
                                        std::to_string(kPgSchemaVersion) + ")");
    for (int64_t next = *version; next < kPgSchemaVersion; ++next) {
      WA_TRY(c.script(pg_schema::kMigrations[static_cast<size_t>(next)]));
      WA_TRY(c.script("DELETE FROM wa_schema; INSERT INTO wa_schema VALUES (" + std::to_string(next + 1) + ")"));
    }
    return {};
  };
  auto s = body();
  if (!s) {
    (void)c.script("ROLLBACK");
    return s;
  }
  WA_TRY(c.script("COMMIT"));
  return {};
}

class PgStore final : public Store {
 public:
  PgStore(pg::Conn c, PgOptions opt) : c_(std::move(c)), opt_(std::move(opt)) {}

  Status init() {
    WA_TRY(migrate(c_));
    WA_TRY(c_.run("INSERT INTO wa_profiles (profile) VALUES ($1) ON CONFLICT DO NOTHING",
                  pg::Params().text(opt_.profile)));
    WA_TRY(c_.run("INSERT INTO wa_leases (profile) VALUES ($1) ON CONFLICT DO NOTHING", pg::Params().text(opt_.profile)));
    // One round trip opens a write transaction: BEGIN, the durability of
    // its commit, and the lease row's lock with the token to compare.
    char* lit = pg::pq().PQescapeLiteral(c_.get(), opt_.profile.data(), opt_.profile.size());
    if (!lit) return fail("db_error", "cannot quote the profile name");
    // The profile's row in wa_profiles is its writers' lock (one writer at
    // a time, across processes and hosts: the transaction rule). The lease
    // row is only share-locked (KEY SHARE): the owner's renewals never wait
    // for a write, while a claim (FOR UPDATE) waits for every write in
    // flight and a write begun after a claim sees the new token.
    const std::string lock = "SELECT l.token FROM wa_leases l JOIN wa_profiles p ON p.profile = l.profile "
                             "WHERE l.profile = " + std::string(lit) + " FOR UPDATE OF p FOR KEY SHARE OF l";
    pg::pq().PQfreemem(lit);
    begin_full_ = "BEGIN; " + lock;
    begin_normal_ = "BEGIN; SET LOCAL synchronous_commit TO off; " + lock;
    return {};
  }

  // ---------------------------------------------------------------- transactions

  Status transaction(Durability durability, const std::function<Status()>& fn) override {
    if (depth_ > 0) return fn();  // joins the outer transaction (and its durability)
    if (c_.in_transaction()) (void)c_.script("ROLLBACK");  // left over from a failure
    if (!c_.ok())
      if (auto s = c_.reconnect(); !s) return s;
    auto locked = c_.script(durability == Durability::normal ? begin_normal_ : begin_full_);
    if (!locked) {
      rollback();
      return err(locked);
    }
    // Fencing: the lease row names the current owner's token. Any other
    // value means another host claimed the account after this process was
    // started (or the row was removed with the profile): write nothing.
    if (locked->empty() || locked->text(0, 0) != std::to_string(opt_.token)) {
      rollback();
      ++fenced_;
      return fail("fenced", "profile " + opt_.profile + ": a newer owner holds the lease (token " +
                                (locked->empty() ? std::string("gone") : locked->text(0, 0)) + ", ours " +
                                std::to_string(opt_.token) + ")");
    }
    Status result = run_transaction_body(fn, depth_, savepoint_lost_, lid_cache_, [this] { rollback(); });
    // A statement that failed without a savepoint aborted the transaction;
    // COMMIT would then roll back quietly.
    if (result && pg::pq().PQtransactionStatus(c_.get()) != PQTRANS_INTRANS)
      result = fail("db_error", "a statement failed inside the transaction: nothing committed");
    if (!result) {
      rollback();
      return result;
    }
    auto commit = c_.script("COMMIT");
    if (!commit) {
      rollback();
      return err(commit);
    }
    return {};
  }

  Status savepoint(const std::function<Status()>& fn) override {
    if (depth_ == 0) return transaction(Durability::full, fn);
    WA_TRY(c_.script("SAVEPOINT wa_step"));
    Status result;
    try {
      result = fn();
    } catch (...) {
      undo_step();
      throw;
    }
    if (!result) {
      undo_step();
      return result;
    }
    if (auto s = c_.script("RELEASE SAVEPOINT wa_step"); !s) {
      undo_step();
      return err(s);
    }
    return {};
  }

  // ---------------------------------------------------------------- credentials

  Result<std::optional<Bytes>> get_credential(std::string_view name) override {
    return opt_blob("SELECT value FROM credentials WHERE profile = $1 AND name = $2", P().text(name));
  }

  Status put_credential(std::string_view name, ByteView value) override {
    return write(Durability::full, [&] {
      return exec("INSERT INTO credentials (profile, name, value) VALUES ($1, $2, $3) "
                  "ON CONFLICT (profile, name) DO UPDATE SET value = excluded.value",
                  P().text(name).blob(value));
    });
  }

  Status delete_credential(std::string_view name) override {
    return write(Durability::full,
                 [&] { return exec("DELETE FROM credentials WHERE profile = $1 AND name = $2", P().text(name)); });
  }

  // ---------------------------------------------------------------- prekeys

  Result<std::optional<PreKey>> load_prekey(uint32_t id) override {
    auto r = c_.run("SELECT pub, priv, uploaded FROM prekeys WHERE profile = $1 AND id = $2", P().i64(id));
    if (!r) return err(r);
    if (r->empty()) return std::optional<PreKey>{};
    auto up = r->boolean(0, 2);
    if (!up) return err(up);
    return std::optional<PreKey>{PreKey{id, r->blob(0, 0), r->blob(0, 1), *up}};
  }

  Status store_prekey(const PreKey& key) override {
    WA_TRY(check_keypair(key.pub, key.priv));
    return write(Durability::full, [&] {
      return exec("INSERT INTO prekeys (profile, id, pub, priv, uploaded) VALUES ($1, $2, $3, $4, $5) "
                  "ON CONFLICT (profile, id) DO UPDATE SET pub = excluded.pub, priv = excluded.priv, "
                  "uploaded = excluded.uploaded",
                  P().i64(key.id).blob(key.pub).blob(key.priv).boolean(key.uploaded));
    });
  }

  Result<bool> contains_prekey(uint32_t id) override {
    return exists("SELECT 1 FROM prekeys WHERE profile = $1 AND id = $2", P().i64(id));
  }

  Status remove_prekey(uint32_t id) override {
    return write(Durability::normal,
                 [&] { return exec("DELETE FROM prekeys WHERE profile = $1 AND id = $2", P().i64(id)); });
  }

  Result<std::vector<PreKey>> prekeys_not_uploaded(size_t limit) override {
    auto r = c_.run("SELECT id, pub, priv FROM prekeys WHERE profile = $1 AND NOT uploaded ORDER BY id LIMIT $2",
                    P().i64(clamp(limit)));
    if (!r) return err(r);
    std::vector<PreKey> out;
    for (int i = 0; i < r->size(); ++i) {
      auto id = r->i64(i, 0);
      if (!id) return err(id);
      out.push_back(PreKey{static_cast<uint32_t>(*id), r->blob(i, 1), r->blob(i, 2), false});
    }
    return out;
  }

  Status mark_prekeys_uploaded(const std::vector<uint32_t>& ids) override {
    return write(Durability::full, [&]() -> Status {
      for (uint32_t id : ids)
        WA_TRY(exec("UPDATE prekeys SET uploaded = true WHERE profile = $1 AND id = $2", P().i64(id)));
      return {};
    });
  }

  Result<size_t> count_prekeys(bool uploaded_only) override {
    auto n = scalar(uploaded_only ? "SELECT count(*) FROM prekeys WHERE profile = $1 AND uploaded"
                                  : "SELECT count(*) FROM prekeys WHERE profile = $1",
                    P());
    if (!n) return err(n);
    return static_cast<size_t>(*n);
  }

  // ---------------------------------------------------------------- signed prekeys

  Result<std::optional<SignedPreKey>> load_signed_prekey(uint32_t id) override {
    auto r = c_.run("SELECT pub, priv, signature, ts FROM signed_prekeys WHERE profile = $1 AND id = $2", P().i64(id));
    if (!r) return err(r);
    if (r->empty()) return std::optional<SignedPreKey>{};
    auto ts = r->i64(0, 3);
    if (!ts) return err(ts);
    return std::optional<SignedPreKey>{SignedPreKey{id, r->blob(0, 0), r->blob(0, 1), r->blob(0, 2), *ts}};
  }

  Status store_signed_prekey(const SignedPreKey& key) override {
    WA_TRY(check_keypair(key.pub, key.priv));
    if (key.signature.size() != 64) return fail("bad_key", "signed prekey signature must be 64 bytes");
    return write(Durability::full, [&] {
      return exec("INSERT INTO signed_prekeys (profile, id, pub, priv, signature, ts) VALUES ($1, $2, $3, $4, $5, $6) "
                  "ON CONFLICT (profile, id) DO UPDATE SET pub = excluded.pub, priv = excluded.priv, "
                  "signature = excluded.signature, ts = excluded.ts",
                  P().i64(key.id).blob(key.pub).blob(key.priv).blob(key.signature).i64(key.timestamp));
    });
  }

  Result<bool> contains_signed_prekey(uint32_t id) override {
    return exists("SELECT 1 FROM signed_prekeys WHERE profile = $1 AND id = $2", P().i64(id));
  }

  Status remove_signed_prekey(uint32_t id) override {
    return write(Durability::normal,
                 [&] { return exec("DELETE FROM signed_prekeys WHERE profile = $1 AND id = $2", P().i64(id)); });
  }

  // ---------------------------------------------------------------- LID naming (see SqliteStore)

  Result<std::string> canonical_name(std::string_view name) {
    bool hosted = false;
    auto user = rows::pn_user_of(name, hosted);
    if (!user) return std::string(name);
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

  Status migrate_to_lid(std::string_view pn_user, std::string_view lid_user) {
    for (const auto& [pn_suffix, lid_suffix] : {std::pair{"", "_1"}, std::pair{"_128", "_129"}}) {
      const std::string from = std::string(pn_user) + pn_suffix;
      const std::string to = std::string(lid_user) + lid_suffix;
      WA_TRY(exec("INSERT INTO sessions (profile, name, device, record) SELECT profile, $2, device, record "
                  "FROM sessions WHERE profile = $1 AND name = $3 ON CONFLICT DO NOTHING",
                  P().text(to).text(from)));
      WA_TRY(exec("DELETE FROM sessions WHERE profile = $1 AND name = $2", P().text(from)));
      WA_TRY(exec("INSERT INTO identities (profile, name, device, key, first_seen) "
                  "SELECT profile, $2, device, key, first_seen FROM identities WHERE profile = $1 AND name = $3 "
                  "ON CONFLICT DO NOTHING",
                  P().text(to).text(from)));
      WA_TRY(exec("DELETE FROM identities WHERE profile = $1 AND name = $2", P().text(from)));
      WA_TRY(exec("INSERT INTO sender_keys (profile, group_id, sender_name, sender_device, record) "
                  "SELECT profile, group_id, $2, sender_device, record FROM sender_keys "
                  "WHERE profile = $1 AND sender_name = $3 ON CONFLICT DO NOTHING",
                  P().text(to).text(from)));
      WA_TRY(exec("DELETE FROM sender_keys WHERE profile = $1 AND sender_name = $2", P().text(from)));
    }
    return {};
  }

  // ---------------------------------------------------------------- sessions

  Result<std::optional<Bytes>> load_session(const Address& addr) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    return opt_blob("SELECT record FROM sessions WHERE profile = $1 AND name = $2 AND device = $3",
                    P().text(a->name).i64(a->device));
  }

  Status store_session(const Address& addr, ByteView record) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    return write(Durability::normal, [&] {
      return exec("INSERT INTO sessions (profile, name, device, record) VALUES ($1, $2, $3, $4) "
                  "ON CONFLICT (profile, name, device) DO UPDATE SET record = excluded.record",
                  P().text(a->name).i64(a->device).blob(record));
    });
  }

  Result<bool> contains_session(const Address& addr) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    return exists("SELECT 1 FROM sessions WHERE profile = $1 AND name = $2 AND device = $3",
                  P().text(a->name).i64(a->device));
  }

  Result<bool> delete_session(const Address& addr) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    auto n = changed(Durability::normal, "DELETE FROM sessions WHERE profile = $1 AND name = $2 AND device = $3",
                     [&] { return P().text(a->name).i64(a->device); });
    if (!n) return err(n);
    return *n > 0;
  }

  Result<size_t> delete_all_sessions(std::string_view raw_name) override {
    auto name = canonical_name(raw_name);
    if (!name) return err(name);
    return changed(Durability::normal, "DELETE FROM sessions WHERE profile = $1 AND name = $2",
                   [&] { return P().text(*name); });
  }

  Result<std::vector<uint32_t>> session_devices(std::string_view raw_name) override {
    auto name = canonical_name(raw_name);
    if (!name) return err(name);
    auto r = c_.run("SELECT device FROM sessions WHERE profile = $1 AND name = $2 ORDER BY device", P().text(*name));
    if (!r) return err(r);
    std::vector<uint32_t> out;
    for (int i = 0; i < r->size(); ++i) {
      auto d = r->i64(i, 0);
      if (!d) return err(d);
      out.push_back(static_cast<uint32_t>(*d));
    }
    return out;
  }

  // ---------------------------------------------------------------- sender keys

  Result<std::optional<Bytes>> load_sender_key(std::string_view group, const Address& addr) override {
    auto s = canonical(addr);
    if (!s) return err(s);
    return opt_blob("SELECT record FROM sender_keys WHERE profile = $1 AND group_id = $2 AND sender_name = $3 "
                    "AND sender_device = $4",
                    P().text(group).text(s->name).i64(s->device));
  }

  Status store_sender_key(std::string_view group, const Address& addr, ByteView record) override {
    auto s = canonical(addr);
    if (!s) return err(s);
    return write(Durability::normal, [&] {
      return exec("INSERT INTO sender_keys (profile, group_id, sender_name, sender_device, record) "
                  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (profile, group_id, sender_name, sender_device) "
                  "DO UPDATE SET record = excluded.record",
                  P().text(group).text(s->name).i64(s->device).blob(record));
    });
  }

  Status delete_sender_key(std::string_view group, const Address& addr) override {
    auto s = canonical(addr);
    if (!s) return err(s);
    return write(Durability::normal, [&] {
      return exec("DELETE FROM sender_keys WHERE profile = $1 AND group_id = $2 AND sender_name = $3 "
                  "AND sender_device = $4",
                  P().text(group).text(s->name).i64(s->device));
    });
  }

  // ---------------------------------------------------------------- identities

  Result<std::optional<Bytes>> load_identity(const Address& addr) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    return opt_blob("SELECT key FROM identities WHERE profile = $1 AND name = $2 AND device = $3",
                    P().text(a->name).i64(a->device));
  }

  Result<IdentityStatus> check_identity(const Address& a, ByteView key) override {
    auto stored = load_identity(a);
    if (!stored) return err(stored);
    if (!*stored) return IdentityStatus::first_use;
    return std::equal(key.begin(), key.end(), (*stored)->begin(), (*stored)->end()) ? IdentityStatus::match
                                                                                    : IdentityStatus::changed;
  }

  Result<IdentityStatus> save_identity(const Address& addr, ByteView key) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    if (key.size() != 32) return fail("bad_key", "identity key must be 32 bytes");
    IdentityStatus status = IdentityStatus::first_use;
    auto s = write(Durability::full, [&]() -> Status {
      auto st = check_identity(*a, key);
      if (!st) return err(st);
      status = *st;
      if (status != IdentityStatus::first_use) return {};
      return exec("INSERT INTO identities (profile, name, device, key, first_seen) VALUES ($1, $2, $3, $4, $5)",
                  P().text(a->name).i64(a->device).blob(key).i64(rows::now_seconds()));
    });
    if (!s) return err(s);
    return status;
  }

  Status replace_identity(const Address& addr, ByteView key) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    if (key.size() != 32) return fail("bad_key", "identity key must be 32 bytes");
    return write(Durability::full, [&] {
      return exec("INSERT INTO identities (profile, name, device, key, first_seen) VALUES ($1, $2, $3, $4, $5) "
                  "ON CONFLICT (profile, name, device) DO UPDATE SET key = excluded.key, first_seen = excluded.first_seen",
                  P().text(a->name).i64(a->device).blob(key).i64(rows::now_seconds()));
    });
  }

  Status delete_identity(const Address& addr) override {
    auto a = canonical(addr);
    if (!a) return err(a);
    return write(Durability::full, [&] {
      return exec("DELETE FROM identities WHERE profile = $1 AND name = $2 AND device = $3",
                  P().text(a->name).i64(a->device));
    });
  }

  // ---------------------------------------------------------------- device lists

  Result<std::optional<DeviceList>> get_device_list(std::string_view user) override {
    auto r = c_.run("SELECT devices, fetched_at FROM device_lists WHERE profile = $1 AND user_id = $2", P().text(user));
    if (!r) return err(r);
    if (r->empty()) return std::optional<DeviceList>{};
    auto devices = rows::decode_devices(r->text(0, 0));
    auto at = r->i64(0, 1);
    if (!devices || !at) return fail("db_corrupt", "malformed device list");
    return std::optional<DeviceList>{DeviceList{std::move(*devices), *at}};
  }

  Status put_device_list(std::string_view user, const DeviceList& list) override {
    const std::string text = rows::encode_devices(list.devices);
    return write(Durability::normal, [&] {
      return exec("INSERT INTO device_lists (profile, user_id, devices, fetched_at) VALUES ($1, $2, $3, $4) "
                  "ON CONFLICT (profile, user_id) DO UPDATE SET devices = excluded.devices, "
                  "fetched_at = excluded.fetched_at",
                  P().text(user).text(text).i64(list.fetched_at));
    });
  }

  Status delete_device_list(std::string_view user) override {
    return write(Durability::normal,
                 [&] { return exec("DELETE FROM device_lists WHERE profile = $1 AND user_id = $2", P().text(user)); });
  }

  // ---------------------------------------------------------------- LID mappings

  Status put_lid_mapping(std::string_view pn_user, std::string_view lid_user) override {
    if (!rows::valid_mapping(pn_user, lid_user)) return fail("bad_request", "a LID mapping takes two bare user parts");
    // The mapping and the move of the contact's Signal state commit together
    // (see SqliteStore::put_lid_mapping); the lease row lock makes this the
    // only writer of the profile meanwhile.
    return write(Durability::full, [&]() -> Status {
      auto known = lid_for_pn(pn_user);
      if (!known) return err(known);
      if (*known && **known == lid_user) return {};
      lid_cache_.clear();
      // Keep the mapping one-to-one: drop rows conflicting on either side.
      WA_TRY(exec("DELETE FROM lid_mappings WHERE profile = $1 AND (pn_user = $2 OR lid_user = $3)",
                  P().text(pn_user).text(lid_user)));
      WA_TRY(exec("INSERT INTO lid_mappings (profile, pn_user, lid_user) VALUES ($1, $2, $3)",
                  P().text(pn_user).text(lid_user)));
      return migrate_to_lid(pn_user, lid_user);
    });
  }

  Result<std::optional<std::string>> lid_for_pn(std::string_view pn_user) override {
    if (depth_ == 0) return opt_text("SELECT lid_user FROM lid_mappings WHERE profile = $1 AND pn_user = $2", pn_user);
    if (auto it = lid_cache_.find(pn_user); it != lid_cache_.end()) return it->second;
    auto r = opt_text("SELECT lid_user FROM lid_mappings WHERE profile = $1 AND pn_user = $2", pn_user);
    if (r) lid_cache_.emplace(std::string(pn_user), *r);
    return r;
  }

  Result<std::optional<std::string>> pn_for_lid(std::string_view lid_user) override {
    return opt_text("SELECT pn_user FROM lid_mappings WHERE profile = $1 AND lid_user = $2", lid_user);
  }

  // ---------------------------------------------------------------- inbox

  Result<InboxPut> inbox_put(const InboxEntry& e) override {
    InboxPut out;
    auto s = write(Durability::full, [&]() -> Status {
      if (!e.msg_id.empty()) {
        auto found = c_.run("SELECT seq FROM inbox WHERE profile = $1 AND msg_id = $2 AND chat = $3 AND sender = $4 "
                            "AND msg_id <> ''",
                            P().text(e.msg_id).text(e.chat).text(e.sender));
        if (!found) return err(found);
        if (!found->empty()) {
          auto seq = found->i64(0, 0);
          if (!seq) return err(seq);
          out.seq = *seq;
          return {};
        }
      }
      // The profile's high-water mark: a seq is never handed out twice,
      // whatever retention deleted.
      auto seq = scalar("UPDATE wa_profiles SET last_seq = last_seq + 1 WHERE profile = $1 RETURNING last_seq", P());
      if (!seq) return err(seq);
      WA_TRY(exec("INSERT INTO inbox (profile, seq, msg_id, chat, sender, ts, type, payload) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                  P().i64(*seq).text(e.msg_id).text(e.chat).text(e.sender).i64(e.ts).text(e.type).text(e.payload)));
      out.seq = *seq;
      out.inserted = true;
      return {};
    });
    if (!s) return err(s);
    return out;
  }

  Result<std::vector<InboxEntry>> inbox_since(int64_t after_seq, size_t limit) override {
    return read_inbox(c_.run("SELECT seq, msg_id, chat, sender, ts, type, payload, acked FROM inbox "
                             "WHERE profile = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                             P().i64(after_seq).i64(clamp(limit))));
  }

  Result<std::vector<InboxEntry>> inbox_unacked(size_t limit) override {
    return read_inbox(c_.run("SELECT seq, msg_id, chat, sender, ts, type, payload, acked FROM inbox "
                             "WHERE profile = $1 AND NOT acked ORDER BY seq LIMIT $2",
                             P().i64(clamp(limit))));
  }

  Status inbox_mark_acked(int64_t seq) override {
    return write(Durability::normal,
                 [&] { return exec("UPDATE inbox SET acked = true WHERE profile = $1 AND seq = $2", P().i64(seq)); });
  }

  Result<size_t> inbox_prune(int64_t up_to_seq) override {
    return changed(Durability::normal, "DELETE FROM inbox WHERE profile = $1 AND seq <= $2 AND acked",
                   [&] { return P().i64(up_to_seq); });
  }

  Result<size_t> inbox_retain(int64_t older_than_ts, int64_t keep_last) override {
    return changed(Durability::normal,
                   "DELETE FROM inbox WHERE profile = $1 AND (ts < $2 OR seq <= "
                   "(SELECT coalesce(max(seq), 0) FROM inbox WHERE profile = $1) - $3)",
                   [&] { return P().i64(older_than_ts).i64(std::max<int64_t>(keep_last, 0)); });
  }

  Result<int64_t> inbox_last_seq() override {
    return scalar("SELECT coalesce(max(seq), 0) FROM inbox WHERE profile = $1", P());
  }

  Result<std::optional<int64_t>> inbox_find(std::string_view msg_id, std::string_view sender) override {
    if (msg_id.empty()) return std::optional<int64_t>{};
    auto r = c_.run("SELECT seq FROM inbox WHERE profile = $1 AND msg_id = $2 AND sender = $3 AND msg_id <> '' LIMIT 1",
                    P().text(msg_id).text(sender));
    if (!r) return err(r);
    if (r->empty()) return std::optional<int64_t>{};
    auto seq = r->i64(0, 0);
    if (!seq) return err(seq);
    return std::optional<int64_t>{*seq};
  }

  Result<std::vector<InboxEntry>> inbox_messages(std::string_view msg_id, std::string_view chat) override {
    if (msg_id.empty()) return std::vector<InboxEntry>{};
    return read_inbox(c_.run("SELECT seq, msg_id, chat, sender, ts, type, payload, acked FROM inbox "
                             "WHERE profile = $1 AND msg_id = $2 AND chat = $3 AND msg_id <> '' AND type = 'message' "
                             "ORDER BY seq LIMIT 16",
                             P().text(msg_id).text(chat)));
  }

  Status inbox_patch(int64_t seq, std::string_view patch) override {
    // RFC 7396 merge in our code rather than jsonb's `||` (which is not a
    // merge patch and would reorder the payload's keys).
    auto p = nlohmann::json::parse(patch, nullptr, false);
    if (p.is_discarded()) return {};  // as SQLite's json_valid(): an invalid patch changes nothing
    return write(Durability::full, [&]() -> Status {
      auto r = c_.run("SELECT payload FROM inbox WHERE profile = $1 AND seq = $2 FOR UPDATE", P().i64(seq));
      if (!r) return err(r);
      if (r->empty()) return {};
      auto doc = nlohmann::ordered_json::parse(r->text(0, 0), nullptr, false);
      if (doc.is_discarded()) return {};
      doc.merge_patch(nlohmann::ordered_json::parse(patch, nullptr, false));
      const std::string merged = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return exec("UPDATE inbox SET payload = $3 WHERE profile = $1 AND seq = $2", P().i64(seq).text(merged));
    });
  }

  // ---------------------------------------------------------------- sent cache

  Status sent_put(const SentMessage& m) override {
    return write(Durability::normal, [&] {
      return exec("INSERT INTO sent_messages (profile, msg_id, chat, plaintext, ts) VALUES ($1, $2, $3, $4, $5) "
                  "ON CONFLICT (profile, msg_id, chat) DO UPDATE SET plaintext = excluded.plaintext, ts = excluded.ts",
                  P().text(m.msg_id).text(m.chat).blob(m.plaintext).i64(m.ts));
    });
  }

  Result<std::optional<SentMessage>> sent_get(std::string_view msg_id, std::string_view chat) override {
    auto r = c_.run("SELECT plaintext, ts FROM sent_messages WHERE profile = $1 AND msg_id = $2 AND chat = $3",
                    P().text(msg_id).text(chat));
    if (!r) return err(r);
    if (r->empty()) return std::optional<SentMessage>{};
    auto ts = r->i64(0, 1);
    if (!ts) return err(ts);
    return std::optional<SentMessage>{SentMessage{std::string(msg_id), std::string(chat), r->blob(0, 0), *ts}};
  }

  Result<size_t> sent_prune(int64_t older_than_ts) override {
    return changed(Durability::normal, "DELETE FROM sent_messages WHERE profile = $1 AND ts < $2",
                   [&] { return P().i64(older_than_ts); });
  }

  // ---------------------------------------------------------------- media

  Status media_put(const MediaRef& m) override {
    return write(Durability::full, [&] {
      return exec("INSERT INTO media (profile, msg_id, chat, sender, message, local_path, ts) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (profile, msg_id, chat) DO NOTHING",
                  P().text(m.msg_id).text(m.chat).text(m.sender).blob(m.message).text(m.local_path).i64(m.ts));
    });
  }

  Result<std::optional<MediaRef>> media_get(std::string_view msg_id, std::string_view chat) override {
    auto r = chat.empty() ? c_.run("SELECT chat, sender, message, local_path, ts FROM media "
                                   "WHERE profile = $1 AND msg_id = $2 ORDER BY ts DESC LIMIT 1",
                                   P().text(msg_id))
                          : c_.run("SELECT chat, sender, message, local_path, ts FROM media "
                                   "WHERE profile = $1 AND msg_id = $2 AND chat = $3",
                                   P().text(msg_id).text(chat));
    if (!r) return err(r);
    if (r->empty()) return std::optional<MediaRef>{};
    auto ts = r->i64(0, 4);
    if (!ts) return err(ts);
    return std::optional<MediaRef>{
        MediaRef{std::string(msg_id), r->text(0, 0), r->text(0, 1), r->blob(0, 2), r->text(0, 3), *ts}};
  }

  Status media_update(const MediaRef& m) override {
    return write(Durability::full, [&] {
      return exec("UPDATE media SET message = $4, local_path = $5 WHERE profile = $1 AND msg_id = $2 AND chat = $3",
                  P().text(m.msg_id).text(m.chat).blob(m.message).text(m.local_path));
    });
  }

  Result<size_t> media_prune(int64_t older_than_ts) override {
    return changed(Durability::normal, "DELETE FROM media WHERE profile = $1 AND ts < $2",
                   [&] { return P().i64(older_than_ts); });
  }

  // ---------------------------------------------------------------- message secrets and polls

  Status secret_put(const MessageSecret& m) override {
    return write(Durability::full, [&] {
      return exec("INSERT INTO message_secrets (profile, msg_id, chat, sender, secret, ts) VALUES ($1, $2, $3, $4, $5, $6) "
                  "ON CONFLICT (profile, msg_id, chat, sender) DO NOTHING",
                  P().text(m.msg_id).text(m.chat).text(m.sender).blob(m.secret).i64(m.ts));
    });
  }

  Result<std::optional<MessageSecret>> secret_get(std::string_view msg_id, std::string_view chat) override {
    auto r = chat.empty() ? c_.run("SELECT chat, sender, secret, ts FROM message_secrets "
                                   "WHERE profile = $1 AND msg_id = $2 ORDER BY ts DESC LIMIT 1",
                                   P().text(msg_id))
                          : c_.run("SELECT chat, sender, secret, ts FROM message_secrets "
                                   "WHERE profile = $1 AND msg_id = $2 AND chat = $3 ORDER BY ts DESC LIMIT 1",
                                   P().text(msg_id).text(chat));
    if (!r) return err(r);
    if (r->empty()) return std::optional<MessageSecret>{};
    auto ts = r->i64(0, 3);
    if (!ts) return err(ts);
    return std::optional<MessageSecret>{MessageSecret{std::string(msg_id), r->text(0, 0), r->text(0, 1), r->blob(0, 2), *ts}};
  }

  Status poll_put(const PollRecord& p) override {
    return write(Durability::full, [&] {
      return exec("INSERT INTO polls (profile, msg_id, chat, sender, name, options, selectable, ts) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (profile, msg_id, chat, sender) DO NOTHING",
                  P().text(p.msg_id).text(p.chat).text(p.sender).text(p.name).text(rows::names_to_text(p.options))
                      .i64(p.selectable).i64(p.ts));
    });
  }

  Result<std::optional<PollRecord>> poll_get(std::string_view msg_id, std::string_view chat) override {
    auto r = chat.empty() ? c_.run("SELECT chat, sender, name, options, selectable, ts FROM polls "
                                   "WHERE profile = $1 AND msg_id = $2 ORDER BY ts DESC LIMIT 1",
                                   P().text(msg_id))
                          : c_.run("SELECT chat, sender, name, options, selectable, ts FROM polls "
                                   "WHERE profile = $1 AND msg_id = $2 AND chat = $3 ORDER BY ts DESC LIMIT 1",
                                   P().text(msg_id).text(chat));
    if (!r) return err(r);
    if (r->empty()) return std::optional<PollRecord>{};
    auto selectable = r->i64(0, 4);
    auto ts = r->i64(0, 5);
    if (!selectable || !ts) return fail("db_corrupt", "malformed poll row");
    return std::optional<PollRecord>{PollRecord{std::string(msg_id), r->text(0, 0), r->text(0, 1), r->text(0, 2),
                                                rows::names_from_text(r->text(0, 3)),
                                                static_cast<uint32_t>(*selectable), *ts}};
  }

  Result<bool> poll_vote_put(const PollVoteRecord& v) override {
    auto n = changed(Durability::full,
                     "INSERT INTO poll_votes (profile, poll_id, chat, voter, options, ts_ms) VALUES ($1, $2, $3, $4, $5, $6) "
                     "ON CONFLICT (profile, poll_id, chat, voter) DO UPDATE SET options = excluded.options, "
                     "ts_ms = excluded.ts_ms WHERE excluded.ts_ms >= poll_votes.ts_ms",
                     [&] { return P().text(v.poll_id).text(v.chat).text(v.voter).text(rows::names_to_text(v.options)).i64(v.ts_ms); });
    if (!n) return err(n);
    return *n > 0;
  }

  Result<std::vector<PollVoteRecord>> poll_votes(std::string_view poll_id, std::string_view chat) override {
    auto r = c_.run("SELECT voter, options, ts_ms FROM poll_votes WHERE profile = $1 AND poll_id = $2 AND chat = $3 "
                    "ORDER BY ts_ms, voter",
                    P().text(poll_id).text(chat));
    if (!r) return err(r);
    std::vector<PollVoteRecord> out;
    for (int i = 0; i < r->size(); ++i) {
      auto ts = r->i64(i, 2);
      if (!ts) return err(ts);
      out.push_back(PollVoteRecord{std::string(poll_id), std::string(chat), r->text(i, 0),
                                   rows::names_from_text(r->text(i, 1)), *ts});
    }
    return out;
  }

  // Logged out (see wipe_signal_state): the Signal state goes, fenced like
  // any write; credentials, the event log and LID mappings stay.
  Status wipe_signal() {
    return write(Durability::full, [&]() -> Status {
      for (const char* table : {"prekeys", "signed_prekeys", "sessions", "sender_keys", "identities", "device_lists"})
        WA_TRY(exec(std::string("DELETE FROM ") + table + " WHERE profile = $1", P()));
      return {};
    });
  }

 private:
  // Every statement's first parameter is the profile.
  pg::Params P() const { return pg::Params().text(opt_.profile); }

  Status exec(std::string_view sql, const pg::Params& p) {
    auto r = c_.run(sql, p);
    if (!r) return err(r);
    return {};
  }

  // A write outside any transaction gets its own (with the lease check);
  // inside one it joins.
  template <class F>
  Status write(Durability d, F&& f) {
    if (depth_ > 0) return f();
    return transaction(d, std::function<Status()>(std::forward<F>(f)));
  }

  // A write reporting how many rows it changed.
  template <class MakeParams>
  Result<size_t> changed(Durability d, std::string_view sql, MakeParams&& make) {
    size_t n = 0;
    auto s = write(d, [&]() -> Status {
      auto r = c_.run(sql, make());
      if (!r) return err(r);
      n = r->affected();
      return {};
    });
    if (!s) return err(s);
    return n;
  }

  Result<int64_t> scalar(std::string_view sql, const pg::Params& p) {
    auto r = c_.run(sql, p);
    if (!r) return err(r);
    if (r->empty()) return fail("db_error", "no row where one was expected");
    return r->i64(0, 0);
  }

  Result<bool> exists(std::string_view sql, const pg::Params& p) {
    auto r = c_.run(sql, p);
    if (!r) return err(r);
    return !r->empty();
  }

  Result<std::optional<Bytes>> opt_blob(std::string_view sql, const pg::Params& p) {
    auto r = c_.run(sql, p);
    if (!r) return err(r);
    if (r->empty()) return std::optional<Bytes>{};
    return std::optional<Bytes>{r->blob(0, 0)};
  }

  Result<std::optional<LeaseState>> lease_state() override {
    auto r = c_.run("SELECT token, CASE WHEN expires_at = '-infinity' THEN -1 "
                    "ELSE (extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint END "
                    "FROM wa_leases WHERE profile = $1",
                    P());
    if (!r) return err(r);
    if (r->empty()) return std::optional<LeaseState>{};
    auto token = r->i64(0, 0);
    auto ms = r->i64(0, 1);
    if (!token || !ms) return fail("db_corrupt", "malformed lease row");
    return std::optional<LeaseState>{LeaseState{*token, *ms}};
  }

  Result<std::optional<std::string>> opt_text(std::string_view sql, std::string_view key) {
    auto r = c_.run(sql, P().text(key));
    if (!r) return err(r);
    if (r->empty()) return std::optional<std::string>{};
    return std::optional<std::string>{r->text(0, 0)};
  }

  static Result<std::vector<InboxEntry>> read_inbox(Result<pg::Rows> r) {
    if (!r) return err(r);
    std::vector<InboxEntry> out;
    for (int i = 0; i < r->size(); ++i) {
      auto seq = r->i64(i, 0);
      auto ts = r->i64(i, 4);
      auto acked = r->boolean(i, 7);
      if (!seq || !ts || !acked) return fail("db_corrupt", "malformed inbox row");
      InboxEntry e;
      e.seq = *seq;
      e.msg_id = r->text(i, 1);
      e.chat = r->text(i, 2);
      e.sender = r->text(i, 3);
      e.ts = *ts;
      e.type = r->text(i, 5);
      e.payload = r->text(i, 6);
      e.acked = *acked;
      out.push_back(std::move(e));
    }
    return out;
  }

  static Status check_keypair(const Bytes& pub, const Bytes& priv) {
    if (pub.size() != 32 || priv.size() != 32) return fail("bad_key", "key pair must be 32-byte public and private keys");
    return {};
  }

  static int64_t clamp(size_t limit) {
    return static_cast<int64_t>(std::min<size_t>(limit, static_cast<size_t>(INT64_MAX)));
  }

  void undo_step() noexcept {
    lid_cache_.clear();
    if (!c_.ok() || !c_.script("ROLLBACK TO SAVEPOINT wa_step; RELEASE SAVEPOINT wa_step")) savepoint_lost_ = true;
  }

  void rollback() noexcept {
    lid_cache_.clear();
    if (c_.in_transaction()) (void)c_.script("ROLLBACK");
  }

  pg::Conn c_;
  PgOptions opt_;
  std::string begin_full_, begin_normal_;
  LidCache lid_cache_;
  int depth_ = 0;
  bool savepoint_lost_ = false;
  uint64_t fenced_ = 0;  // writes refused by the fencing token
};

}  // namespace

Status pg_migrate(const std::string& conninfo) {
  auto c = pg::Conn::open(conninfo, 0);
  if (!c) return err(c);
  return migrate(*c);
}

namespace {
Result<std::unique_ptr<PgStore>> open_pg(const PgOptions& options) {
  if (options.profile.empty()) return fail("bad_request", "empty profile name");
  auto c = pg::Conn::open(options.conninfo, options.statement_timeout_ms, options.profile);
  if (!c) return err(c);
  auto store = std::make_unique<PgStore>(std::move(*c), options);
  WA_TRY(store->init());
  return store;
}
}  // namespace

Result<std::unique_ptr<Store>> open_postgres(const PgOptions& options) {
  auto s = open_pg(options);
  if (!s) return err(s);
  return std::unique_ptr<Store>(std::move(*s));
}

Status pg_wipe_signal_state(const PgOptions& options) {
  auto s = open_pg(options);
  if (!s) return err(s);
  return (*s)->wipe_signal();
}

Result<bool> pg_has_profile(const std::string& conninfo, const std::string& profile) {
  auto c = pg::Conn::open(conninfo, 0);
  if (!c) return err(c);
  WA_TRY(migrate(*c));
  auto r = c->run("SELECT 1 FROM wa_profiles WHERE profile = $1", pg::Params().text(profile));
  if (!r) return err(r);
  return !r->empty();
}

Result<std::vector<std::string>> pg_profiles(const std::string& conninfo) {
  auto c = pg::Conn::open(conninfo, 0);
  if (!c) return err(c);
  WA_TRY(migrate(*c));
  auto r = c->run("SELECT profile FROM wa_profiles ORDER BY profile");
  if (!r) return err(r);
  std::vector<std::string> out;
  for (int i = 0; i < r->size(); ++i) out.push_back(r->text(i, 0));
  return out;
}

Status pg_delete_profile(const std::string& conninfo, const std::string& profile) {
  auto c = pg::Conn::open(conninfo, 0);
  if (!c) return err(c);
  WA_TRY(migrate(*c));
  WA_TRY(c->script("BEGIN"));
  auto body = [&]() -> Status {
    // Its rows first, locked: no writer of the profile is mid-transaction.
    WA_TRY(c->run("SELECT 1 FROM wa_profiles WHERE profile = $1 FOR UPDATE", pg::Params().text(profile)));
    WA_TRY(c->run("SELECT 1 FROM wa_leases WHERE profile = $1 FOR UPDATE", pg::Params().text(profile)));
    for (const char* table : pg_schema::kProfileTables)
      WA_TRY(c->run(std::string("DELETE FROM ") + table + " WHERE profile = $1", pg::Params().text(profile)));
    WA_TRY(c->run("DELETE FROM wa_profiles WHERE profile = $1", pg::Params().text(profile)));
    return {};
  };
  if (auto s = body(); !s) {
    (void)c->script("ROLLBACK");
    return s;
  }
  WA_TRY(c->script("COMMIT"));
  return {};
}

Result<std::string> pg_conninfo(const std::string& file) { return pg::conninfo_from(file); }

}  // namespace wa::store
