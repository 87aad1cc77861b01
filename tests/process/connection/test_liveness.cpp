// Liveness end to end: a paired, open account whose connection worker stops
// answering (SIGSTOP) is killed as unresponsive, restarted and open again on
// the server, while another account on the same supervisor sees nothing.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <future>

#include "wa_server.hpp"

using namespace harness;

namespace {
constexpr int kIntervalMs = 500;
// Generous: pairing and login (812 prekeys) block the loop briefly, more so under sanitizers.
constexpr int kTimeoutMs = 4000;
// Detection comes between timeout and timeout + two intervals after the last
// turn (seen up to an interval late, judged at the next look); a stopped
// worker parked in its poll is found at the same look.
constexpr auto kNoticeWithin = std::chrono::milliseconds(kTimeoutMs + 2 * kIntervalMs + 3000);

json fast_liveness() { return json{{"liveness", {{"interval_ms", kIntervalMs}, {"timeout_ms", kTimeoutMs}}}}; }

void send_ok(Supervisor& sup, const std::string& from, const std::string& to, const std::string& text) {
  json r = send_text(sup, from, to, text);
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
}

size_t lifecycle_count(EventLog& ev, const std::string& profile) {
  size_t n = 0;
  for (auto& e : ev.of(profile)) {
    const std::string t = e.value("type", "");
    n += t.rfind("instance_", 0) == 0 || t == "connection";
  }
  return n;
}
}  // namespace

TEST_CASE("liveness - a stopped connection worker of an open account is restarted and open again, B untouched") {
  TwoAccounts acc("lva", "15550000091", "lvb", "15550000092", fast_liveness());
  auto& sup = acc.sup;
  auto& ev = acc.ev;
  const std::string to_b = "15550000092@s.whatsapp.net";
  send_ok(sup, "lva", to_b, "before");
  pid_t a = sup.conn_pid("lva");
  pid_t b = sup.conn_pid("lvb");
  const size_t opens = count_of(ev, "lva", "connection", "open");
  const size_t b_events = lifecycle_count(ev, "lvb");

  REQUIRE(::kill(a, SIGSTOP) == 0);
  // Parked on the stopped worker: fails instance_down once it is declared
  // dead, long before the route's own 120 s timeout.
  auto pending = std::async(std::launch::async, [&] { return send_text(sup, "lva", to_b, "while stopped", 20000); });
  REQUIRE(pending.wait_for(kNoticeWithin) == std::future_status::ready);
  {
    json r = pending.get();
    INFO(r.dump());
    CHECK(error_code(r) == "instance_down");
  }
  REQUIRE(ev.wait_for([&](auto&) { return !ev.of("lva", "instance_unresponsive").empty(); }, kNoticeWithin));
  CHECK(ev.of("lva", "instance_unresponsive")[0]["pid"] == a);

  // Restarted as after a crash, and the account logs in again.
  REQUIRE(sup.wait_running("lva", a, kNoticeWithin));
  CHECK_FALSE(exists(a));
  CHECK(sup.instance("lva")["last_exit"]["reason"] == "unresponsive");
  REQUIRE(wait_event(ev, "lva", "connection", "open", opens));
  {
    json r = send_text(sup, "lva", to_b, "after");
    INFO(r.dump());
    CHECK(r.value("ok", false));
  }

  // B: same process, no restart, no lifecycle or connection event.
  CHECK(sup.conn_pid("lvb") == b);
  CHECK(sup.instance("lvb")["restarts"] == 0);
  CHECK(lifecycle_count(ev, "lvb") == b_events);
}

TEST_CASE("liveness - a connection worker whose loop stays blocked (not stopped, not waiting) is killed, and the message it could not store comes again") {
  // The loop is inside a callback - the store's busy wait on a write lock
  // this test holds - so it is neither parked nor stopped: silent.
  TwoAccounts acc("lwa", "15550000093", "lwb", "15550000094", fast_liveness());
  auto& sup = acc.sup;
  auto& ev = acc.ev;
  const std::string to_a = "15550000093@s.whatsapp.net";
  send_ok(sup, "lwb", to_a, "before");
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) { return events_of(all, "lwa", "message").size() >= 1; }));
  const pid_t a = sup.conn_pid("lwa");
  const pid_t b = sup.conn_pid("lwb");
  // Idle past several deadlines: parked, never judged silent.
  REQUIRE_FALSE(ev.wait_for([&](auto&) { return !ev.of("lwa", "instance_unresponsive").empty(); },
                            std::chrono::milliseconds(2 * kTimeoutMs)));
  CHECK(sup.conn_pid("lwa") == a);

  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((sup.data_dir() + "/lwa/store.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  send_ok(sup, "lwb", to_a, "while blocked");
  const bool noticed =
      ev.wait_for([&](auto&) { return !ev.of("lwa", "instance_unresponsive").empty(); }, kNoticeWithin);
  const bool worker_stopped = exists(a) && proc_state(a) == 'T';
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  REQUIRE(noticed);
  CHECK_FALSE(worker_stopped);
  json u = ev.of("lwa", "instance_unresponsive")[0];
  CHECK(u["pid"] == a);
  CHECK(u["phase"] == "running");
  CHECK(u["silent_ms"].get<int64_t>() >= kTimeoutMs);

  // Restarted; the message it could not store was never receipted, so the
  // server delivers it again and it lands once.
  REQUIRE(sup.wait_running("lwa", a, kNoticeWithin));
  CHECK(sup.instance("lwa")["last_exit"]["reason"] == "unresponsive");
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& m : events_of(all, "lwa", "message"))
      if (m.dump().find("while blocked") != std::string::npos) return true;
    return false;
  }));
  CHECK(sup.conn_pid("lwb") == b);
  CHECK(sup.instance("lwb")["restarts"] == 0);
}
