// The close-code policy end to end: each fault injected by wa-testserver
// produces the specified event and reconnect behaviour.
#include <doctest/doctest.h>

#include "wa/ipc/messages.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

struct Paired {
  TestServer ts;
  std::unique_ptr<Supervisor> sup;
  std::unique_ptr<EventLog> ev;
  std::string jid;
  std::string phone;

  explicit Paired(const std::string& p) : phone(p) {
    sup = std::make_unique<Supervisor>(config_for(ts, json::array({{{"profile", "acct"}}})));
    ev = std::make_unique<EventLog>(sup->run_dir());
    jid = pair_by_qr(ts, *ev, "acct", phone)["jid"];
  }
  size_t opens() { return count_of(*ev, "acct", "connection", "open"); }
  size_t closes() { return count_of(*ev, "acct", "connection", "closed"); }
  json last_closed() { return last_event(*ev, "acct", "connection", "closed"); }
  // Injects a fault; expects a close with `reason`, then (if reconnect) a new open.
  void expect_retry(std::vector<std::string> fault, const std::string& reason, bool immediate = false) {
    size_t o = opens(), c = closes();
    pid_t worker = sup->conn_pid("acct");
    auto res_rc = ts.fault_jid(jid, fault);
    const int rc = res_rc.first;
    const std::string out = res_rc.second;
    REQUIRE_MESSAGE(rc == 0, out);
    REQUIRE(wait_event(*ev, "acct", "connection", "closed", c));
    json cl = last_closed();
    CHECK(cl["reason"] == reason);
    CHECK(cl["retry"] == true);
    if (immediate) {
      CHECK(cl["retry_in_ms"] == 0);
    } else {
      CHECK(cl["retry_in_ms"].get<uint64_t>() >= 800);
    }
    REQUIRE(wait_event(*ev, "acct", "connection", "open", o));
    // A socket-level retry, not a worker restart.
    CHECK(sup->conn_pid("acct") == worker);
    CHECK(count_of(*ev, "acct", "instance_exited") == 0);
  }
  // Expects the instance to stop for good (worker exit 75, no restart).
  void expect_stays_down() {
    REQUIRE(wait_until([&] { return sup->state("acct") == "stopped"; }, 15s));
    json i = sup->instance("acct");
    CHECK(i["last_exit"]["exit_code"] == wa::ipc::msg::kExitNoRestart);
    CHECK(i["restarts"] == 0);
    CHECK(count_of(*ev, "acct", "instance_restarting") == 0);
  }
};

}  // namespace

TEST_CASE("515, 503, a dropped socket and a malformed frame each reconnect inside the worker") {
  Paired p("15550000010");
  p.expect_retry({"stream-error", "515"}, "restart_required", true);
  p.expect_retry({"stream-error", "503"}, "service_unavailable");
  p.expect_retry({"close"}, "connection_lost");
  p.expect_retry({"malformed-frame"}, "bad_stream:bad_frame");
}

TEST_CASE("device_removed: logged_out event, credentials removed, the instance stays down") {
  Paired p("15550000011");
  auto res_rc = p.ts.fault_jid(p.jid, {"stream-error", "device_removed"});
  const int rc = res_rc.first;
  const std::string out = res_rc.second;
  REQUIRE_MESSAGE(rc == 0, out);
  REQUIRE(wait_event(*p.ev, "acct", "logged_out", "", 0));
  CHECK(last_event(*p.ev, "acct", "logged_out")["reason"] == "device_removed");
  CHECK(p.last_closed()["retry"] == false);
  p.expect_stays_down();
  // Credentials are gone: a new start registers afresh and shows a QR.
  size_t qrs = count_of(*p.ev, "acct", "qr");
  REQUIRE(p.sup->call({{"cmd", "start"}, {"profile", "acct"}}).value("ok", false));
  REQUIRE(wait_event(*p.ev, "acct", "qr", "", qrs));
}

TEST_CASE("replaced: replaced event, no automatic reconnect") {
  Paired p("15550000012");
  size_t connecting = count_of(*p.ev, "acct", "connection", "connecting");
  auto res_rc = p.ts.fault_jid(p.jid, {"stream-error", "replaced"});
  const int rc = res_rc.first;
  const std::string out = res_rc.second;
  REQUIRE_MESSAGE(rc == 0, out);
  REQUIRE(wait_event(*p.ev, "acct", "replaced", "", 0));
  p.expect_stays_down();
  CHECK(count_of(*p.ev, "acct", "connection", "connecting") == connecting);
  CHECK(count_of(*p.ev, "acct", "logged_out") == 0);
}

TEST_CASE("login refused with 405: client_outdated, the instance stays down") {
  Paired p("15550000013");
  REQUIRE(p.ts.fault_phone(p.phone, {"refuse-login", "405"}).first == 0);
  REQUIRE(p.ts.fault_jid(p.jid, {"close"}).first == 0);
  REQUIRE(wait_event(*p.ev, "acct", "client_outdated", "", 0));
  CHECK(last_event(*p.ev, "acct", "client_outdated")["version"] == "2.3000.1043857760");
  p.expect_stays_down();
}

TEST_CASE("a server under another root key is refused with a clear reason, and retried") {
  TestServer ts;
  json server = ts.server_config();
  server["root_public_key"] = std::string(64, '7');
  Supervisor sup({{"server", server}, {"instances", json::array({{{"profile", "r1"}}})}});
  EventLog ev(sup.run_dir());
  REQUIRE(wait_event(ev, "r1", "connection", "closed", 0));
  json cl = last_event(ev, "r1", "connection", "closed");
  CHECK(cl["reason"] == "cert_untrusted_root");
  CHECK(cl["retry"] == true);
  CHECK(count_of(ev, "r1", "qr") == 0);
  // The retry happens inside the worker with backoff (no worker restarts).
  REQUIRE(wait_event(ev, "r1", "connection", "closed", 1, 10s));
  CHECK(count_of(ev, "r1", "instance_exited") == 0);
}
