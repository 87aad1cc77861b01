#include "state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace wa::testserver {

Result<Db> Db::open(const std::string& path) {
  // The file holds private keys: create it 0600 before SQLite opens it.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail("db_open", "cannot open " + path + ": " + std::strerror(errno));
  ::close(fd);
  Db db;
  if (sqlite3_open_v2(path.c_str(), &db.db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db.db_ ? sqlite3_errmsg(db.db_) : "out of memory";
    return fail("db_open", msg);
  }
  sqlite3_busy_timeout(db.db_, 5000);
  return db;
}

Status Db::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "sqlite error";
    sqlite3_free(err);
    return fail("db", msg);
  }
  return {};
}

Result<Stmt> Db::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK)
    return fail("db", sqlite3_errmsg(db_));
  return Stmt(s);
}

namespace {

// synchronous=NORMAL: a test server must survive its own crash (WAL gives
// that), not a power cut; FULL would cost ~10x per routed offline stanza.
constexpr const char* kSchema = R"(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS accounts(phone TEXT PRIMARY KEY, lid TEXT NOT NULL, identity_priv BLOB NOT NULL,
  spk_priv BLOB NOT NULL, spk_sig BLOB NOT NULL, regid INTEGER NOT NULL, next_device INTEGER NOT NULL,
  next_key_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices(phone TEXT NOT NULL, device INTEGER NOT NULL, noise_pub BLOB NOT NULL,
  identity_pub BLOB NOT NULL, regid INTEGER NOT NULL, skey_id INTEGER NOT NULL, skey_pub BLOB NOT NULL,
  skey_sig BLOB NOT NULL, key_index INTEGER NOT NULL, push_name TEXT NOT NULL, PRIMARY KEY(phone, device));
CREATE TABLE IF NOT EXISTS prekeys(phone TEXT NOT NULL, device INTEGER NOT NULL, id INTEGER NOT NULL,
  pub BLOB NOT NULL, PRIMARY KEY(phone, device, id));
CREATE TABLE IF NOT EXISTS groups(id TEXT PRIMARY KEY, subject TEXT NOT NULL, creator TEXT NOT NULL,
  creation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS group_members(gid TEXT NOT NULL, phone TEXT NOT NULL, admin INTEGER NOT NULL,
  pos INTEGER NOT NULL, PRIMARY KEY(gid, phone));
CREATE TABLE IF NOT EXISTS offline(seq INTEGER PRIMARY KEY AUTOINCREMENT, phone TEXT NOT NULL,
  device INTEGER NOT NULL, node BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS offline_dev ON offline(phone, device, seq);
)";

std::optional<crypto::Key32> to_key(const Bytes& b) {
  if (b.size() != 32) return std::nullopt;
  crypto::Key32 k{};
  std::memcpy(k.data(), b.data(), 32);
  return k;
}

Bytes signal_pub(const crypto::Key32& pub) {
  // Sized up front: g++ 12 misreads an insert after {0x05} as out of bounds.
  Bytes out(1 + pub.size());
  out[0] = 0x05;
  std::memcpy(out.data() + 1, pub.data(), pub.size());
  return out;
}

}  // namespace

Result<State> State::open(const std::string& dir, uint64_t now_unix) {
  auto db = Db::open(dir + "/state.db");
  if (!db) return Unexpected<Error>{db.error()};
  State st;
  st.db_ = std::move(*db);
  WA_TRY(st.db_.exec(kSchema));

  auto get_meta = [&](const char* key) -> std::optional<Bytes> {
    auto s = st.db_.prepare("SELECT value FROM meta WHERE key=?");
    if (!s) return std::nullopt;
    s->bind(1, std::string_view(key));
    if (!s->step()) return std::nullopt;
    return s->blob(0);
  };
  auto put_meta = [&](const char* key, ByteView v) -> Status {
    auto s = st.db_.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
    if (!s) return Unexpected<Error>{s.error()};
    s->bind(1, std::string_view(key)).bind(2, v);
    s->step();
    if (!s->ok()) return fail("db", "cannot write meta");
    return {};
  };

  auto root = get_meta("root_priv");
  auto inter = get_meta("intermediate_priv");
  auto stat = get_meta("static_priv");
  auto window = get_meta("window");
  if (root && inter && stat && window && window->size() == 16) {
    auto r = to_key(*root), i = to_key(*inter), s = to_key(*stat);
    if (!r || !i || !s) return fail("state_corrupt", "bad key sizes in meta");
    st.ca_.root = crypto::keypair_from_private(*r);
    st.ca_.intermediate = crypto::keypair_from_private(*i);
    uint64_t nb = 0, na = 0;
    for (int k = 0; k < 8; ++k) nb = (nb << 8) | (*window)[static_cast<size_t>(k)];
    for (int k = 8; k < 16; ++k) na = (na << 8) | (*window)[static_cast<size_t>(k)];
    st.ca_.not_before = nb;
    st.ca_.not_after = na;
    st.static_ = crypto::keypair_from_private(*s);
    secure_wipe(*root);
    secure_wipe(*inter);
    secure_wipe(*stat);
  } else {
    st.ca_ = noise::CertAuthority::generate(now_unix, 10ull * 365 * 86400);
    st.static_ = crypto::generate_keypair();
    Bytes w(16);
    for (int k = 0; k < 8; ++k) w[static_cast<size_t>(k)] = static_cast<uint8_t>(st.ca_.not_before >> (56 - 8 * k));
    for (int k = 0; k < 8; ++k) w[static_cast<size_t>(8 + k)] = static_cast<uint8_t>(st.ca_.not_after >> (56 - 8 * k));
    WA_TRY(st.db_.exec("BEGIN"));
    WA_TRY(put_meta("root_priv", st.ca_.root.priv));
    WA_TRY(put_meta("intermediate_priv", st.ca_.intermediate.priv));
    WA_TRY(put_meta("static_priv", st.static_.priv));
    WA_TRY(put_meta("window", w));
    WA_TRY(st.db_.exec("COMMIT"));
  }
  WA_TRY(st.load());
  return st;
}

Status State::load() {
  {
    auto s = db_.prepare("SELECT phone, lid, identity_priv, spk_priv, spk_sig, regid, next_device, next_key_index FROM accounts");
    if (!s) return Unexpected<Error>{s.error()};
    while (s->step()) {
      Account a;
      a.phone = s->text(0);
      a.lid = s->text(1);
      auto ip = to_key(s->blob(2)), sp = to_key(s->blob(3));
      if (!ip || !sp) return fail("state_corrupt", "bad account keys");
      a.identity = crypto::keypair_from_private(*ip);
      a.spk = crypto::keypair_from_private(*sp);
      a.spk_sig = s->blob(4);
      a.regid = static_cast<uint32_t>(s->i64(5));
      a.next_device = static_cast<uint16_t>(s->i64(6));
      a.next_key_index = static_cast<uint32_t>(s->i64(7));
      uint64_t lid_n = std::strtoull(a.lid.c_str(), nullptr, 10);
      if (lid_n >= next_lid_) next_lid_ = lid_n + 1;
      lid_to_phone_[a.lid] = a.phone;
      accounts_[a.phone] = std::move(a);
    }
  }
  {
    auto s = db_.prepare("SELECT phone, device, noise_pub, identity_pub, regid, skey_id, skey_pub, skey_sig, key_index, push_name FROM devices");
    if (!s) return Unexpected<Error>{s.error()};
    while (s->step()) {
      auto* a = account(s->text(0));
      if (!a) continue;
      Device d;
      d.id = static_cast<uint16_t>(s->i64(1));
      d.noise_pub = s->blob(2);
      d.identity_pub = s->blob(3);
      d.regid = static_cast<uint32_t>(s->i64(4));
      d.skey_id = static_cast<uint32_t>(s->i64(5));
      d.skey_pub = s->blob(6);
      d.skey_sig = s->blob(7);
      d.key_index = static_cast<uint32_t>(s->i64(8));
      d.push_name = s->text(9);
      a->devices[d.id] = std::move(d);
    }
  }
  {
    auto s = db_.prepare("SELECT phone, device, id, pub FROM prekeys");
    if (!s) return Unexpected<Error>{s.error()};
    while (s->step()) {
      auto* a = account(s->text(0));
      if (!a) continue;
      auto it = a->devices.find(static_cast<uint16_t>(s->i64(1)));
      if (it == a->devices.end()) continue;
      it->second.prekeys[static_cast<uint32_t>(s->i64(2))] = s->blob(3);
    }
  }
  {
    auto s = db_.prepare("SELECT id, subject, creator, creation FROM groups");
    if (!s) return Unexpected<Error>{s.error()};
    while (s->step()) {
      Group g;
      g.id = s->text(0);
      g.subject = s->text(1);
      g.creator = s->text(2);
      g.creation = static_cast<uint64_t>(s->i64(3));
      groups_[g.id] = std::move(g);
    }
    auto m = db_.prepare("SELECT gid, phone, admin FROM group_members ORDER BY gid, pos");
    if (!m) return Unexpected<Error>{m.error()};
    while (m->step()) {
      auto it = groups_.find(m->text(0));
      if (it != groups_.end()) it->second.members.emplace_back(m->text(1), m->i64(2) != 0);
    }
  }
  if (next_lid_ == 0) next_lid_ = 100000000000000ull + crypto::random_u32() % 1000000;
  return {};
}

Account* State::account(const std::string& phone) {
  auto it = accounts_.find(phone);
  return it == accounts_.end() ? nullptr : &it->second;
}

Account* State::account_by_lid(const std::string& lid) {
  auto it = lid_to_phone_.find(lid);
  return it == lid_to_phone_.end() ? nullptr : account(it->second);
}

Account& State::ensure_account(const std::string& phone) {
  if (auto* a = account(phone)) return *a;
  Account a;
  a.phone = phone;
  a.lid = std::to_string(next_lid_++);
  a.identity = crypto::generate_keypair();
  a.spk = crypto::generate_keypair();
  auto sig = crypto::xeddsa_sign(a.identity.priv, signal_pub(a.spk.pub));
  a.spk_sig.assign(sig.begin(), sig.end());
  a.regid = (crypto::random_u32() % 16380) + 1;
  lid_to_phone_[a.lid] = phone;
  auto& ref = accounts_[phone] = std::move(a);
  if (auto st = save_account(ref); !st) {
    // Kept in memory: the server still works, it just forgets on restart.
  }
  return ref;
}

Status State::save_account(const Account& a) {
  auto s = db_.prepare(
      "INSERT OR REPLACE INTO accounts(phone, lid, identity_priv, spk_priv, spk_sig, regid, next_device, next_key_index)"
      " VALUES(?,?,?,?,?,?,?,?)");
  if (!s) return Unexpected<Error>{s.error()};
  s->bind(1, a.phone).bind(2, a.lid).bind(3, ByteView(a.identity.priv)).bind(4, ByteView(a.spk.priv));
  s->bind(5, ByteView(a.spk_sig)).bind(6, int64_t{a.regid}).bind(7, int64_t{a.next_device}).bind(8, int64_t{a.next_key_index});
  s->step();
  if (!s->ok()) return fail("db", "cannot save account");
  return {};
}

Status State::save_account_counters(const Account& a) { return save_account(a); }

Status State::reset_identity(const std::string& phone) {
  auto* a = account(phone);
  if (!a) return fail("not_found", "no account");
  a->identity = crypto::generate_keypair();
  a->spk = crypto::generate_keypair();
  auto sig = crypto::xeddsa_sign(a->identity.priv, signal_pub(a->spk.pub));
  a->spk_sig.assign(sig.begin(), sig.end());
  a->regid = (crypto::random_u32() % 16380) + 1;
  std::vector<uint16_t> ids;
  for (const auto& [id, d] : a->devices) ids.push_back(id);
  for (uint16_t id : ids) WA_TRY(remove_device(phone, id));
  return save_account(*a);
}

Status State::save_device(const std::string& phone, const Device& d) {
  auto s = db_.prepare(
      "INSERT OR REPLACE INTO devices(phone, device, noise_pub, identity_pub, regid, skey_id, skey_pub, skey_sig,"
      " key_index, push_name) VALUES(?,?,?,?,?,?,?,?,?,?)");
  if (!s) return Unexpected<Error>{s.error()};
  s->bind(1, phone).bind(2, int64_t{d.id}).bind(3, ByteView(d.noise_pub)).bind(4, ByteView(d.identity_pub));
  s->bind(5, int64_t{d.regid}).bind(6, int64_t{d.skey_id}).bind(7, ByteView(d.skey_pub)).bind(8, ByteView(d.skey_sig));
  s->bind(9, int64_t{d.key_index}).bind(10, d.push_name);
  s->step();
  if (!s->ok()) return fail("db", "cannot save device");
  return {};
}

Status State::save_signed_prekey(const std::string& phone, const Device& d) { return save_device(phone, d); }

Status State::remove_device(const std::string& phone, uint16_t device) {
  if (auto* a = account(phone)) a->devices.erase(device);
  for (const char* sql : {"DELETE FROM devices WHERE phone=? AND device=?", "DELETE FROM prekeys WHERE phone=? AND device=?",
                          "DELETE FROM offline WHERE phone=? AND device=?"}) {
    auto s = db_.prepare(sql);
    if (!s) return Unexpected<Error>{s.error()};
    s->bind(1, phone).bind(2, int64_t{device});
    s->step();
  }
  return {};
}

Status State::add_prekeys(const std::string& phone, uint16_t device, const std::map<uint32_t, Bytes>& keys) {
  auto* a = account(phone);
  if (!a) return fail("not_found", "no account");
  auto it = a->devices.find(device);
  if (it == a->devices.end()) return fail("not_found", "no device");
  WA_TRY(db_.exec("BEGIN"));
  for (const auto& [id, pub] : keys) {
    it->second.prekeys[id] = pub;
    auto one = db_.prepare("INSERT OR REPLACE INTO prekeys(phone, device, id, pub) VALUES(?,?,?,?)");
    if (!one) continue;
    one->bind(1, phone).bind(2, int64_t{device}).bind(3, int64_t{id}).bind(4, ByteView(pub));
    one->step();
  }
  return db_.exec("COMMIT");
}

std::optional<std::pair<uint32_t, Bytes>> State::take_prekey(const std::string& phone, uint16_t device) {
  auto* a = account(phone);
  if (!a) return std::nullopt;
  auto it = a->devices.find(device);
  if (it == a->devices.end() || it->second.prekeys.empty()) return std::nullopt;
  auto first = it->second.prekeys.begin();
  std::pair<uint32_t, Bytes> out{first->first, std::move(first->second)};
  it->second.prekeys.erase(first);
  if (auto s = db_.prepare("DELETE FROM prekeys WHERE phone=? AND device=? AND id=?")) {
    s->bind(1, phone).bind(2, int64_t{device}).bind(3, int64_t{out.first});
    s->step();
  }
  return out;
}

Group* State::group(const std::string& id) {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : &it->second;
}

std::string State::new_group_id(const std::string& creator, uint64_t now) {
  std::string id;
  do {
    id = creator + "-" + std::to_string(now) + std::to_string(crypto::random_u32() % 1000);
  } while (groups_.count(id));
  return id;
}

Status State::save_group(const Group& g) {
  groups_[g.id] = g;
  WA_TRY(db_.exec("BEGIN"));
  if (auto s = db_.prepare("INSERT OR REPLACE INTO groups(id, subject, creator, creation) VALUES(?,?,?,?)")) {
    s->bind(1, g.id).bind(2, g.subject).bind(3, g.creator).bind(4, static_cast<int64_t>(g.creation));
    s->step();
  }
  if (auto s = db_.prepare("DELETE FROM group_members WHERE gid=?")) {
    s->bind(1, g.id);
    s->step();
  }
  int64_t pos = 0;
  for (const auto& [phone, admin] : g.members) {
    if (auto s = db_.prepare("INSERT INTO group_members(gid, phone, admin, pos) VALUES(?,?,?,?)")) {
      s->bind(1, g.id).bind(2, phone).bind(3, int64_t{admin ? 1 : 0}).bind(4, pos++);
      s->step();
    }
  }
  return db_.exec("COMMIT");
}

Status State::delete_group(const std::string& id) {
  groups_.erase(id);
  for (const char* sql : {"DELETE FROM groups WHERE id=?", "DELETE FROM group_members WHERE gid=?"}) {
    if (auto s = db_.prepare(sql)) {
      s->bind(1, id);
      s->step();
    }
  }
  return {};
}

Status State::enqueue(const std::string& phone, uint16_t device, ByteView node) {
  auto s = db_.prepare("INSERT INTO offline(phone, device, node) VALUES(?,?,?)");
  if (!s) return Unexpected<Error>{s.error()};
  s->bind(1, phone).bind(2, int64_t{device}).bind(3, node);
  s->step();
  if (!s->ok()) return fail("db", "cannot queue stanza");
  return {};
}

std::vector<QueuedStanza> State::queued(const std::string& phone, uint16_t device) {
  std::vector<QueuedStanza> out;
  auto s = db_.prepare("SELECT seq, node FROM offline WHERE phone=? AND device=? ORDER BY seq");
  if (!s) return out;
  s->bind(1, phone).bind(2, int64_t{device});
  while (s->step()) out.push_back({s->i64(0), s->blob(1)});
  return out;
}

size_t State::queued_count(const std::string& phone, uint16_t device) {
  auto s = db_.prepare("SELECT COUNT(*) FROM offline WHERE phone=? AND device=?");
  if (!s) return 0;
  s->bind(1, phone).bind(2, int64_t{device});
  return s->step() ? static_cast<size_t>(s->i64(0)) : 0;
}

Status State::dequeue(const std::vector<int64_t>& seqs) {
  if (seqs.empty()) return {};
  WA_TRY(db_.exec("BEGIN"));
  for (int64_t seq : seqs) {
    if (auto s = db_.prepare("DELETE FROM offline WHERE seq=?")) {
      s->bind(1, seq);
      s->step();
    }
  }
  return db_.exec("COMMIT");
}

}  // namespace wa::testserver
