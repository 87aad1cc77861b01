// Store failures on the receive path, end to end (wa-supervisor +
// wa-connection against wa-testserver): a full disk and an injected I/O
// error must stop receiving without a receipt of any kind - the server keeps
// the messages queued and delivers every one again once the store works -
// and a damaged database must put the account in `failed` (store_corrupt)
// until `check` and `recover`.
#include <doctest/doctest.h>
#include <sys/mount.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "wa/contract/errors.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

int64_t server_counter(const TestServer& ts, const std::string& name) {
  return server_status(ts)["counters"][name].get<int64_t>();
}

int server_queued(const TestServer& ts, const std::string& phone) {
  int n = 0;
  for (const auto& a : server_status(ts)["accounts"])
    if (a["phone"] == phone)
      for (const auto& d : a["devices"]) n += d["queued"].get<int>();
  return n;
}

// Message ids in the profile's event log -> how many times logged, by text.
std::map<std::string, int> logged_texts(const std::string& db_path) {
  std::map<std::string, int> out;
  auto st = wa::store::open_sqlite(db_path);
  if (!st) return out;
  int64_t after = 0;
  for (;;) {
    auto rows = (*st)->inbox_since(after, 500);
    if (!rows || rows->empty()) break;
    for (const auto& e : *rows) {
      after = e.seq;
      if (e.type == "message") ++out[json::parse(e.payload).value("text", "")];
    }
  }
  return out;
}

// Runs the sqlite3 shell on a database; returns its exit code and output.
std::pair<int, std::string> sqlite_shell(const std::string& dir, const std::string& db, const std::string& sql) {
  std::string out = dir + "/sqlite3.out";
  ::unlink(out.c_str());
  pid_t p = spawn({"/usr/bin/sqlite3", "-cmd", ".timeout 5000", db, sql}, out);
  int st = wait_exit(p, 20s);
  return {st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, file_text(out)};
}

// Overwrites a leaf page in the middle of `table` of a database nobody has
// open for writing (its WAL checkpointed into it first) with garbage - or,
// with `every_leaf`, all of its leaf pages, so that a reader meets the damage
// whichever rows it wants (which leaf holds a given row depends on the sizes
// of the random keys stored before it).
void damage_table_page(const std::string& db, const std::string& table, bool every_leaf = false) {
  TempDir scratch;
  {
    const auto ck = sqlite_shell(scratch.path(), db, "PRAGMA wal_checkpoint(TRUNCATE);");
    REQUIRE_MESSAGE(ck.first == 0, ck.second);
  }
  const auto listed = sqlite_shell(scratch.path(), db,
                                   "SELECT pageno FROM dbstat WHERE name = '" + table +
                                       "' AND pagetype = 'leaf' ORDER BY pageno;");
  REQUIRE_MESSAGE(listed.first == 0, listed.second);
  const std::string pages = listed.second;
  std::vector<long> leaves;
  std::istringstream in(pages);
  for (long p; in >> p;) leaves.push_back(p);
  REQUIRE(!leaves.empty());
  if (!every_leaf) leaves = {leaves[leaves.size() / 2]};
  std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  const std::string garbage(4096, '\xA5');
  for (const long page : leaves) {
    f.seekp((page - 1) * 4096);
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  REQUIRE(f.good());
}

// Fills the file system holding `path` to the last byte.
void fill_disk(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  std::vector<char> block(64 * 1024, 'x');
  for (size_t chunk : {size_t{64 * 1024}, size_t{4096}, size_t{512}, size_t{1}}) {
    while (::write(fd, block.data(), chunk) == static_cast<ssize_t>(chunk)) {
    }
  }
  ::close(fd);
}

// A tmpfs of `size` mounted on `dir` for the test's lifetime.
class Tmpfs {
 public:
  Tmpfs(std::string dir, const std::string& size) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    std::string opts = "size=" + size + ",mode=0700";
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// Sets an environment variable for the test's lifetime (the supervisor and
// its workers inherit it).
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~EnvVar() { ::unsetenv(name_); }
  EnvVar(const EnvVar&) = delete;

 private:
  const char* name_;
};

// The shared scenario: B's store is switched off by `break_store`, 30
// messages from A reach B's worker, which must answer none of them and
// keep retrying; `repair_store` switches it on again, and every message
// must then be in B's log exactly once.
void store_outage(TwoAccounts& accounts, const std::string& a, const std::string& b, const std::string& b_phone,
                  const std::string& b_db, const std::string& reason, const std::function<void()>& break_store,
                  const std::function<void()>& repair_store) {
  auto& ts = accounts.ts;
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  // Sessions in place first, so the outage meets ordinary messages.
  json warm = send_text(sup, a, user_jid(b_phone), "warm-up");
  REQUIRE_MESSAGE(warm.value("ok", false), warm.dump());
  REQUIRE(ev.wait_for([&](const auto&) { return has_message(ev, b, "warm-up"); }, 20s));
  // ... and B's delivery receipt for it has been through the server (A
  // heard of it), so the receipt count below starts from a settled value.
  const std::string warm_id = warm["result"].value("id", "");
  REQUIRE(ev.wait_for([&](const auto&) {
    for (const auto& e : events_of(ev.all(), a, "receipt"))
      for (const auto& id : e["ids"])
        if (id == warm_id) return true;
    return false;
  }, 20s));
  const pid_t b_pid = sup.conn_pid(b);

  break_store();
  // Settle what the warm-up left in flight (A's delivery receipt), then
  // count: from here on no receipt of any kind may come from B.
  REQUIRE(wait_until([&] { return server_queued(ts, b_phone) == 0; }, 10s));
  const int64_t receipts_before = server_counter(ts, "receipts");
  const int64_t retries_before = server_counter(ts, "retry_receipts");

  constexpr int kMessages = 30;
  for (int i = 0; i < kMessages; ++i) {
    json r = send_text(sup, a, user_jid(b_phone), "outage-" + std::to_string(i));
    REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  }
  // B met the failure, said so, and - after its backoff - met it again on
  // the server's redelivery: the messages stay queued, unanswered.
  // (CHECK, not REQUIRE: where it never comes, the checks below still say
  // what became of the messages instead.)
  CHECK(wait_event(ev, b, "store_unavailable", "", 1, 30s));
  json su = last_event(ev, b, "store_unavailable");
  CHECK((su.is_object() && su.value("reason", "") == reason));
  CHECK(server_counter(ts, "receipts") == receipts_before);
  CHECK(server_counter(ts, "retry_receipts") == retries_before);
  CHECK(events_of(ev.all(), b, "undecryptable").empty());
  CHECK(events_of(ev.all(), b, "message").size() == 1);  // only the warm-up
  // The worker kept running (it retries; it did not crash or give up).
  CHECK(sup.conn_pid(b) == b_pid);
  CHECK(sup.state(b) == "running");
  {
    auto texts = logged_texts(b_db);
    for (int i = 0; i < kMessages; ++i) CHECK(texts.count("outage-" + std::to_string(i)) == 0);
  }

  repair_store();
  std::map<std::string, int> texts;
  bool all = wait_until([&] {
    texts = logged_texts(b_db);
    for (int i = 0; i < kMessages; ++i)
      if (texts.count("outage-" + std::to_string(i)) == 0) return false;
    return true;
  }, 60s);
  CHECK(all);
  for (int i = 0; i < kMessages; ++i) CHECK_MESSAGE(texts["outage-" + std::to_string(i)] == 1, i);
  // Answered now, with delivery receipts only; nothing left queued.
  CHECK(wait_until([&] { return server_queued(ts, b_phone) == 0; }, 20s));
  CHECK(server_counter(ts, "receipts") >= receipts_before + kMessages);
  CHECK(server_counter(ts, "retry_receipts") == retries_before);
  CHECK(events_of(ev.all(), b, "undecryptable").empty());
  CHECK(sup.conn_pid(b) == b_pid);
}

// A small tmpfs on `dir`, or null (with the reason shown) where this
// machine cannot give one: mounting needs root.
std::unique_ptr<Tmpfs> small_disk(const std::string& dir) {
  if (::geteuid() != 0) {
    MESSAGE("SKIPPED: mounting a small tmpfs for the profile needs root");
    return nullptr;
  }
  auto fs = std::make_unique<Tmpfs>(dir, "8m");
  if (!fs->mounted()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs (" << fs->error() << ")");
    return nullptr;
  }
  return fs;
}

}  // namespace

TEST_CASE("a full disk stops receiving without receipts - after space is freed all 30 messages are in the log once") {
  TempDir base;
  const std::string data = base.path() + "/data";
  const std::string b_dir = data + "/sfdb";
  auto fs = small_disk(b_dir);
  if (!fs) return;
  TwoAccounts accounts("sfda", "15550000071", "sfdb", "15550000072", {{"data_dir", data}});
  const std::string db = b_dir + "/store.db";
  const std::string filler = b_dir + "/filler";
  store_outage(
      accounts, "sfda", "sfdb", "15550000072", db, "disk_full",
      [&] {
        // Everything in the main file and a WAL of length 0: the next write
        // must grow the WAL, and the disk has no byte left for it.
        const auto ck = sqlite_shell(base.path(), db, "PRAGMA wal_checkpoint(TRUNCATE);");
        REQUIRE_MESSAGE(ck.first == 0, ck.second);
        REQUIRE_MESSAGE(ck.second.rfind("0|", 0) == 0, ck.second);
        fill_disk(filler);
      },
      [&] { REQUIRE(::unlink(filler.c_str()) == 0); });
}

TEST_CASE("an injected I/O error stops receiving without receipts - once it clears all 30 messages are in the log once") {
  // Test-only fault hook of wa_store (see protocol/store/src/fault_vfs.hpp):
  // writes to B's database fail with SQLITE_IOERR while the trigger exists.
  EnvVar fault("WA_TEST_FAULT_STORE", "ioerr");
  TempDir base;
  const std::string data = base.path() + "/data";
  TwoAccounts accounts("sfia", "15550000081", "sfib", "15550000082", {{"data_dir", data}});
  const std::string db = data + "/sfib/store.db";
  const std::string trigger = db + ".fault-ioerr";
  store_outage(
      accounts, "sfia", "sfib", "15550000082", db, "io_error",
      [&] { std::ofstream(trigger) << "on"; },
      [&] { REQUIRE(::unlink(trigger.c_str()) == 0); });
}

TEST_CASE("a damaged store.db puts the account in failed store_corrupt - check finds it, recover makes it run again") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array({{{"profile", "sfcb"}}})));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "sfcb", "15550000091");
  const std::string db = sup.data_dir() + "/sfcb/store.db";
  REQUIRE(sup.call({{"cmd", "stop"}, {"profile", "sfcb"}}).value("ok", false));
  // Sound while stopped.
  json c0 = sup.call({{"cmd", "check"}, {"profile", "sfcb"}});
  REQUIRE_MESSAGE(c0.value("ok", false), c0.dump());
  CHECK(c0["result"]["intact"] == true);

  // Damage one page in the middle of the prekeys table (the worker reads
  // all of it after every login).
  damage_table_page(db, "prekeys");

  size_t failed_before = count_of(ev, "sfcb", "instance_failed");
  REQUIRE(sup.call({{"cmd", "start"}, {"profile", "sfcb"}}).value("ok", false));
  REQUIRE(wait_event(ev, "sfcb", "instance_failed", "", failed_before, 30s));
  CHECK(last_event(ev, "sfcb", "instance_failed").value("reason", "") == "store_corrupt");
  REQUIRE(wait_until([&] { return sup.state("sfcb") == "failed"; }));
  json inst = sup.instance("sfcb");
  CHECK(inst["reason"] == "store_corrupt");
  CHECK(inst["connection_pid"].is_null());
  // Not restarted in a loop: it stays failed.
  const size_t restarting = count_of(ev, "sfcb", "instance_restarting");
  CHECK_FALSE(wait_until([&] { return sup.state("sfcb") != "failed"; }, 2s));
  CHECK(count_of(ev, "sfcb", "instance_restarting") == restarting);
  // No sends.
  json s = sup.call({{"cmd", "send_text"}, {"profile", "sfcb"}, {"to", "15550000099@s.whatsapp.net"}, {"text", "x"}});
  CHECK_FALSE(s.value("ok", false));

  json c1 = sup.call({{"cmd", "check"}, {"profile", "sfcb"}}, 60000);
  REQUIRE_MESSAGE(c1.value("ok", false), c1.dump());
  CHECK(c1["result"]["intact"] == false);
  CHECK(!c1["result"]["problems"].empty());
  {
    // The operator's view: wactl check says so and exits 2.
    TempDir scratch;
    const std::string out = scratch.path() + "/wactl.out";
    int st = wait_exit(spawn({bin("wactl"), "--run-dir", sup.run_dir(), "check", "sfcb"}, out), 60s);
    CHECK((st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2));
    const std::string said = file_text(out);
    CHECK_MESSAGE(said.find("DAMAGED") != std::string::npos, said);
  }
  // Running instances are not touched.
  json r = sup.call({{"cmd", "recover"}, {"profile", "sfcb"}}, 60000);
  REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  const std::string kept = r["result"]["damaged_copy"];
  CHECK(kept.rfind(db + ".corrupt-", 0) == 0);
  CHECK(std::filesystem::exists(kept));
  CHECK(r["result"]["rows"].get<size_t>() > 0);
  json c2 = sup.call({{"cmd", "check"}, {"profile", "sfcb"}}, 60000);
  REQUIRE_MESSAGE(c2.value("ok", false), c2.dump());
  CHECK(c2["result"]["intact"] == true);

  // The account runs again on the recovered store: same credentials, logged in.
  size_t opens = count_of(ev, "sfcb", "connection", "open");
  REQUIRE(sup.call({{"cmd", "start"}, {"profile", "sfcb"}}).value("ok", false));
  REQUIRE(wait_event(ev, "sfcb", "connection", "open", opens, 30s));
  CHECK(sup.state("sfcb") == "running");
  json busy = sup.call({{"cmd", "check"}, {"profile", "sfcb"}});
  CHECK(error_code(busy) == "instance_running");
}

TEST_CASE("a damaged page only a sender reads also puts the account in failed store_corrupt") {
  TwoAccounts accounts("sfsa", "15550000101", "sfsb", "15550000102");
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  // A holds sessions with B's devices, then its sessions table is damaged
  // while A is stopped: only a sender reads that table.
  json first = send_text(sup, "sfsa", user_jid("15550000102"), "before");
  REQUIRE_MESSAGE(first.value("ok", false), first.dump());
  REQUIRE(sup.call({{"cmd", "stop"}, {"profile", "sfsa"}}).value("ok", false));
  damage_table_page(sup.data_dir() + "/sfsa/store.db", "sessions", true);
  size_t opens = count_of(ev, "sfsa", "connection", "open");
  REQUIRE(sup.call({{"cmd", "start"}, {"profile", "sfsa"}}).value("ok", false));
  REQUIRE(wait_event(ev, "sfsa", "connection", "open", opens, 30s));

  size_t failed_before = count_of(ev, "sfsa", "instance_failed");
  json r = send_text(sup, "sfsa", user_jid("15550000102"), "after");
  CHECK_FALSE(r.value("ok", false));
  REQUIRE(wait_event(ev, "sfsa", "instance_failed", "", failed_before, 30s));
  CHECK(last_event(ev, "sfsa", "instance_failed").value("reason", "") == "store_corrupt");
  REQUIRE(wait_until([&] { return sup.state("sfsa") == "failed"; }));
  CHECK(sup.instance("sfsa")["reason"] == "store_corrupt");
  CHECK_FALSE(has_message(ev, "sfsb", "after"));
}

TEST_CASE("a full disk during a send fails it once as a store error - nothing half-written, the next send works") {
  TempDir base;
  const std::string data = base.path() + "/data";
  const std::string a_dir = data + "/sdsa";
  auto fs = small_disk(a_dir);
  if (!fs) return;
  TwoAccounts accounts("sdsa", "15550000101", "sdsb", "15550000102", {{"data_dir", data}});
  auto& ts = accounts.ts;
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  const std::string to_b = "15550000102@s.whatsapp.net";
  json warm = send_text(sup, "sdsa", to_b, "warm");
  REQUIRE_MESSAGE(warm.value("ok", false), warm.dump());
  REQUIRE(wait_until([&] { return has_message(ev, "sdsb", "warm"); }, 20s));
  // B's receipts for it reach A and are stored before the disk fills.
  REQUIRE(wait_until([&] { return server_queued(ts, "15550000101") == 0; }, 20s));
  const std::string db = a_dir + "/store.db";
  const std::string filler = a_dir + "/filler";
  const auto ck = sqlite_shell(base.path(), db, "PRAGMA wal_checkpoint(TRUNCATE);");
  REQUIRE_MESSAGE(ck.first == 0, ck.second);
  fill_disk(filler);

  const int64_t messages_before = server_counter(ts, "messages");
  json r = send_text(sup, "sdsa", to_b, "never");
  INFO(r.dump());
  CHECK_FALSE(r.value("ok", true));
  // The store's own code, categorised as a store error by the one registry.
  CHECK(wa::contract::is_store_error(error_code(r)));
  // Nothing left for it: the server never saw it.
  CHECK(server_counter(ts, "messages") == messages_before);

  REQUIRE(::unlink(filler.c_str()) == 0);
  // The next send, on the same sessions: delivered and decrypted, so no
  // ratchet step of the failed send was kept without its message.
  json again;
  REQUIRE(wait_until([&] {
    again = send_text(sup, "sdsa", to_b, "after");
    return again.value("ok", false);
  }, 30s));
  CHECK(wait_until([&] { return has_message(ev, "sdsb", "after"); }, 20s));
  CHECK_FALSE(has_message(ev, "sdsb", "never"));
  CHECK(events_of(ev.all(), "sdsb", "undecryptable").empty());
  CHECK(server_counter(ts, "messages") == messages_before + 1);
}
