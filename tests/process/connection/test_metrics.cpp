// `metrics`: the supervisor's counters move with what really happens to an
// account — a message sent, one received, a send refused, a socket that
// closed and came back — and the log head is the newest seq in the log.
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;

namespace {
json row_of(Supervisor& sup, const std::string& profile) {
  json r = sup.call({{"cmd", "metrics"}});
  REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  for (const auto& p : r["result"]["profiles"])
    if (p["profile"] == profile) return p;
  FAIL("no metrics row for " << profile);
  return {};
}
}  // namespace

TEST_CASE("metrics count messages in and out, refused sends by code, reconnects, and report the log head") {
  TwoAccounts accounts("meta", "15550000041", "metb", "15550000042");
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;

  json a0 = row_of(sup, "meta");
  CHECK(a0["state"] == "running");
  CHECK(a0["connection"] == "open");
  CHECK(a0["messages_out"] == 0);
  CHECK(a0["reconnects"] == 0);

  for (int i = 0; i < 2; ++i) {
    json r = sup.call({{"cmd", "send_text"}, {"profile", "meta"}, {"to", "15550000042@s.whatsapp.net"},
                       {"text", "m" + std::to_string(i)}},
                      60000);
    REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  }
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) { return events_of(all, "metb", "message").size() >= 2; }));
  CHECK(row_of(sup, "meta")["messages_out"] == 2);
  CHECK(row_of(sup, "meta")["messages_in"] == 0);  // our own sends are not messages in
  json b = row_of(sup, "metb");
  CHECK(b["messages_in"] == 2);
  CHECK(b["messages_out"] == 0);
  // The head is the newest seq the log holds for the profile.
  json page = sup.call({{"cmd", "events"}, {"profile", "metb"}, {"since", 0}, {"limit", 1}});
  REQUIRE(page.value("ok", false));
  CHECK(b["log_head"].get<int64_t>() >= events_of(ev.all(), "metb", "message").back()["seq"].get<int64_t>());
  CHECK(b["log_head"] == page["result"]["last_seq"]);

  // A send to a stopped account is refused, counted by its code.
  REQUIRE(sup.call({{"cmd", "stop"}, {"profile", "metb"}}, 30000).value("ok", false));
  json refused = sup.call({{"cmd", "send_text"}, {"profile", "metb"}, {"to", "15550000041@s.whatsapp.net"},
                           {"text", "x"}});
  REQUIRE_FALSE(refused.value("ok", true));
  b = row_of(sup, "metb");
  CHECK(b["state"] == "stopped");
  CHECK(b["connection"].is_null());
  CHECK(b["sends_failed"]["instance_down"] == 1);
  CHECK(b["messages_out"] == 0);

  // The server closes meta's socket: the worker reconnects on its own.
  const size_t opens = count_of(ev, "meta", "connection", "open");
  REQUIRE(accounts.ts.fault_jid(accounts.a_dev, {"close"}).first == 0);
  REQUIRE(wait_event(ev, "meta", "connection", "open", opens));
  json a = row_of(sup, "meta");
  CHECK(a["reconnects"] == 1);
  CHECK(a["restarts"] == 0);

  json total = sup.call({{"cmd", "metrics"}})["result"]["supervisor"];
  CHECK(total["instances"] == 2);
  CHECK(total["uptime_ms"].get<int64_t>() > 0);
  CHECK(total["restarts_total"] == 0);
}
