// Pairing end to end against wa-testserver: by QR and by phone-number code,
// then the account survives a supervisor restart without re-pairing.
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;

TEST_CASE("pair by QR, then a restarted supervisor logs in again without re-pairing") {
  TestServer ts;
  std::string data_dir;
  json open;
  {
    Supervisor sup(config_for(ts, json::array({{{"profile", "qr1"}}})));
    data_dir = sup.data_dir();
    EventLog ev(sup.run_dir());
    REQUIRE(wait_event(ev, "qr1", "qr", "", 0));
    json qr = last_event(ev, "qr1", "qr");
    std::string text = qr["qr"];
    CHECK(text.rfind("https://wa.me/settings/linked_devices#", 0) == 0);
    CHECK(std::count(text.begin(), text.end(), ',') == 4);
    CHECK(qr["ttl_ms"] == 60000);
    // QR contents never reach the logs.
    CHECK(sup.log_text().find(text.substr(38, 20)) == std::string::npos);

    // Status tells an operator what they ask first: not linked yet.
    json before = sup.instance("qr1");
    CHECK(before["linked"] == false);
    CHECK(before["uptime_ms"].is_number());

    open = pair_by_qr(ts, ev, "qr1", "15550000001");
    // ... and now linked, as which account, and connected.
    CHECK(wait_until([&] { return sup.instance("qr1")["connection"].value("state", "") == "open"; }));
    json after = sup.instance("qr1");
    CHECK(after["linked"]["jid"] == open["jid"]);
    CHECK(after["linked"]["lid"] == open["lid"]);
    int wrc = 0;
    std::string table;
    std::tie(wrc, table) = run_program({bin("wactl"), "--run-dir", sup.run_dir(), "status"}, ts.state() + "/../wactl.out");
    CHECK(wrc == 0);
    CHECK_MESSAGE(table.find(open["jid"].get<std::string>()) != std::string::npos, table);
    CHECK(table.find("open") != std::string::npos);
    CHECK(open["jid"].get<std::string>().rfind("15550000001:", 0) == 0);
    CHECK(open["lid"].get<std::string>().find("@lid") != std::string::npos);
    // After pair-success the server restarts the stream (515) and we log in.
    auto closed = events_of(ev.all(), "qr1", "connection", "closed");
    REQUIRE_FALSE(closed.empty());
    CHECK(closed.back()["reason"] == "restart_required");
    CHECK(closed.back()["retry_in_ms"] == 0);
    CHECK(count_of(ev, "qr1", "paired") == 1);
    CHECK(file_mode(data_dir + "/qr1") == 0700);
    CHECK(file_mode(data_dir + "/qr1/store.db") == 0600);
    auto res_rc = ts.admin({"status", "--state", ts.state(), "--json"});
    const int rc = res_rc.first;
    const std::string status = res_rc.second;
    CHECK(rc == 0);
    CHECK(status.find(open["jid"].get<std::string>()) != std::string::npos);

    // The copy of the TempDir'd data must outlive this supervisor: move it.
    REQUIRE(sup.call({{"cmd", "shutdown"}}).value("ok", false));
    REQUIRE(wait_exit(sup.pid(), 15s) != -1);
    sup.forget();
    std::filesystem::rename(data_dir, ts.state() + "/../data-kept");
  }
  std::string kept = ts.state() + "/../data-kept";
  Supervisor sup2(config_for(ts, json::array({{{"profile", "qr1"}}}), {{"data_dir", kept}}));
  EventLog ev2(sup2.run_dir());
  REQUIRE(wait_event(ev2, "qr1", "connection", "open", 0));
  json again = last_event(ev2, "qr1", "connection", "open");
  CHECK(again["jid"] == open["jid"]);
  CHECK(again["lid"] == open["lid"]);
  CHECK(count_of(ev2, "qr1", "qr") == 0);
}

TEST_CASE("pair by phone-number code") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array()));
  EventLog ev(sup.run_dir());
  REQUIRE(sup.call({{"cmd", "start"}, {"profile", "code1"}, {"create", true}}).value("ok", false));
  // Bad digits are refused by the worker with a clear error.
  json reply;
  REQUIRE(wait_until([&] {
    reply = sup.call({{"cmd", "pair_code"}, {"profile", "code1"}, {"phone", "12ab"}});
    return error_code(reply) != "instance_down";
  }));
  CHECK(error_code(reply) == "bad_request");

  reply = sup.call({{"cmd", "pair_code"}, {"profile", "code1"}, {"phone", "15550000002"}}, 30000);
  REQUIRE_MESSAGE(reply.value("ok", false), reply.dump());
  std::string code = reply["result"]["code"];
  CHECK(code.size() == 8);
  REQUIRE(wait_event(ev, "code1", "pairing_code", "", 0));
  CHECK(last_event(ev, "code1", "pairing_code")["code"] == code);

  auto res_rc = ts.admin({"link-code", "--state", ts.state(), "--phone", "15550000002", "--code", code});
  const int rc = res_rc.first;
  const std::string out = res_rc.second;
  REQUIRE_MESSAGE(rc == 0, out);
  REQUIRE(wait_event(ev, "code1", "connection", "open", 0, 30s));
  CHECK(last_event(ev, "code1", "connection", "open")["jid"].get<std::string>().rfind("15550000002:", 0) == 0);

  // A linked profile refuses a second pairing.
  CHECK(error_code(sup.call({{"cmd", "pair_code"}, {"profile", "code1"}, {"phone", "15550000002"}})) == "already_paired");
}

TEST_CASE("wactl pair shows the QR and returns once linked") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array()));
  EventLog ev(sup.run_dir());
  std::string png = sup.data_dir() + "-qr.png";
  std::string out = sup.data_dir() + "-wactl.out";
  // A typo never creates an account: without --create an unknown profile is refused at once.
  int trc = 0;
  std::string ttext;
  std::tie(trc, ttext) = run_program({bin("wactl"), "--run-dir", sup.run_dir(), "pair", "w1typo"}, out + ".typo");
  CHECK(trc == 2);
  CHECK_MESSAGE(ttext.find("unknown_profile") != std::string::npos, ttext);
  CHECK(ttext.find("--create") != std::string::npos);
  CHECK(error_code(sup.call({{"cmd", "status"}, {"profile", "w1typo"}})) == "unknown_profile");

  pid_t wactl = spawn({bin("wactl"), "--run-dir", sup.run_dir(), "pair", "w1", "--create", "--png", png, "--wait-s",
                       "40"},
                      out);
  REQUIRE(wait_event(ev, "w1", "qr", "", 0));
  REQUIRE(wait_until([&] { return file_mode(png) == 0600; }));
  pair_by_qr(ts, ev, "w1", "15550000003");
  int st = wait_exit(wactl, 20s);
  REQUIRE(st != -1);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(file_text(out).find("Linked: 15550000003:") != std::string::npos);
  std::ifstream p(png, std::ios::binary);
  char sig[8] = {};
  p.read(sig, 8);
  CHECK(std::string(sig + 1, 3) == "PNG");

  // Linked already: answered at once, not after the whole wait.
  std::tie(trc, ttext) = run_program({bin("wactl"), "--run-dir", sup.run_dir(), "pair", "w1"}, out + ".again", 10s);
  CHECK(trc == 2);
  CHECK_MESSAGE(ttext.find("already_paired") != std::string::npos, ttext);
}

TEST_CASE("wactl pair on an account already running unlinked shows a fresh QR at once") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array({{{"profile", "w2"}}})));
  EventLog ev(sup.run_dir());
  // Autostart showed its first QR to nobody; the next rotation is a minute away.
  REQUIRE(wait_event(ev, "w2", "qr", "", 0));
  REQUIRE(wait_until([&] { return sup.instance("w2")["linked"] == false; }));
  std::string png = sup.data_dir() + "-qr2.png";
  pid_t wactl = spawn({bin("wactl"), "--run-dir", sup.run_dir(), "pair", "w2", "--png", png, "--wait-s", "40"},
                      sup.data_dir() + "-w2.out");
  CHECK(wait_until([&] { return file_mode(png) == 0600; }, 15s));
  ::kill(wactl, SIGTERM);
  wait_exit(wactl, 5s);
}
