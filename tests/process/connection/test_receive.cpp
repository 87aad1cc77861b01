// The receive path end to end: wa-supervisor + wa-connection against
// wa-testserver. Encrypt notifications (low prekey stock, a contact's new
// identity) and exactly-once delivery into the inbox across a kill -9 of the
// connection worker while messages are arriving.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <thread>

#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

// One-time prekeys the server holds for a device (-1: unknown device).
std::unique_ptr<wa::store::Store> open_store(const Supervisor& sup, const std::string& profile) {
  auto st = wa::store::open_sqlite(sup.data_dir() + "/" + profile + "/store.db");
  if (!st) throw std::runtime_error("store: " + st.error().message);
  return std::move(*st);
}

// Message entries of the profile's inbox: id -> how many times stored, and
// id -> text.
struct Inbox {
  std::map<std::string, int> count;
  std::map<std::string, std::string> text;
};
Inbox read_inbox(wa::store::Store& st) {
  Inbox in;
  int64_t after = 0;
  for (;;) {
    auto rows = st.inbox_since(after, 500);
    if (!rows) throw std::runtime_error("inbox: " + rows.error().message);
    if (rows->empty()) break;
    for (const auto& e : *rows) {
      after = e.seq;
      if (e.type != "message") continue;
      ++in.count[e.msg_id];
      in.text[e.msg_id] = json::parse(e.payload).value("text", "");
    }
  }
  return in;
}

}  // namespace

TEST_CASE("a low prekey notification makes the worker upload more") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array({{{"profile", "rcpa"}}})));
  EventLog ev(sup.run_dir());
  json open = pair_by_qr(ts, ev, "rcpa", "15550000031");
  std::string dev = open["jid"];
  REQUIRE(wait_until([&] { return server_prekeys(ts, dev) >= 800; }));

  // Many contacts starting sessions leave 2: the server tells the device.
  const auto drained = ts.admin({"drain-prekeys", "--state", ts.state(), "--jid", dev, "--leave", "2"});
  const int rc = drained.first;
  const std::string out = drained.second;
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(json::parse(out)["result"]["left"] == 2);
  // The worker answers with an upload: the stock goes back up.
  CHECK(wait_until([&] { return server_prekeys(ts, dev) >= 50; }));
  // Still logged in on the same connection (the notification was acked, not fatal).
  CHECK(count_of(ev, "rcpa", "connection", "open") == 1);
}

TEST_CASE("a contact's identity change drops its sessions and the next messages work") {
  TwoAccounts accounts("rcia", "15550000041", "rcib", "15550000042");
  auto& ts = accounts.ts;
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;

  // A starts sessions with B's devices (phone and companion).
  json b1 = send_text(sup, "rcia", user_jid("15550000042"), "before-1");
  REQUIRE_MESSAGE(b1.value("ok", false), b1.dump());
  REQUIRE(ev.wait_for([&](const auto&) { return has_message(ev, "rcib", "before-1"); }));
  {
    auto st = open_store(sup, "rcia");
    auto devs = st->session_devices("15550000042");
    REQUIRE(devs);
    REQUIRE(!devs->empty());
    // Cached under the contact's LID: A writes to LIDs on the LID-first server.
    auto lid = st->lid_for_pn("15550000042");
    REQUIRE(lid);
    REQUIRE(lid->has_value());
    auto dl = st->get_device_list(**lid + "@lid");
    REQUIRE(dl);
    REQUIRE(dl->has_value());
  }

  // B reinstalls: its companion is unlinked and A is told.
  size_t changed_before = count_of(ev, "rcia", "identity_changed");
  const auto reset = ts.admin({"reset-identity", "--state", ts.state(), "--phone", "15550000042"});
  const int rc = reset.first;
  const std::string out = reset.second;
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(json::parse(out)["result"]["notified"].get<int>() >= 1);
  REQUIRE(wait_event(ev, "rcia", "identity_changed", "", changed_before));
  json ic = last_event(ev, "rcia", "identity_changed");
  CHECK(pn_of(ic, "jid") == "15550000042@s.whatsapp.net");
  CHECK(ic["sessions_dropped"].get<int>() >= 1);
  {
    auto st = open_store(sup, "rcia");
    auto devs = st->session_devices("15550000042");
    REQUIRE(devs);
    CHECK(devs->empty());
    for (std::string key : {std::string("15550000042@s.whatsapp.net"), **st->lid_for_pn("15550000042") + "@lid"}) {
      auto dl = st->get_device_list(key);
      REQUIRE(dl);
      CHECK_MESSAGE(!dl->has_value(), key);
    }
  }
  // A's connection is untouched; B was logged out and stays down.
  CHECK(count_of(ev, "rcia", "connection", "open") == 1);
  REQUIRE(wait_event(ev, "rcib", "logged_out", "", 0));
  REQUIRE(wait_until([&] { return sup.state("rcib") == "stopped"; }));

  // B links again (new device, new keys); A's next message reaches it on
  // fresh sessions (new device list, new bundles).
  size_t qrs = count_of(ev, "rcib", "qr");
  REQUIRE(sup.call({{"cmd", "start"}, {"profile", "rcib"}}).value("ok", false));
  REQUIRE(wait_event(ev, "rcib", "qr", "", qrs));
  pair_by_qr(ts, ev, "rcib", "15550000042");
  json r1 = send_text(sup, "rcia", user_jid("15550000042"), "after-1");
  REQUIRE_MESSAGE(r1.value("ok", false), r1.dump());
  CHECK(r1["result"]["devices"].get<int>() >= 2);
  CHECK(ev.wait_for([&](const auto&) { return has_message(ev, "rcib", "after-1"); }));
  for (const auto& e : events_of(ev.all(), "rcib", "undecryptable")) FAIL_CHECK(e.dump());
}

TEST_CASE("kill -9 of the connection worker while 200 messages arrive - each is in the inbox exactly once") {
  TwoAccounts accounts("rcka", "15550000051", "rckb", "15550000052");
  auto& ts = accounts.ts;
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  pid_t victim = sup.conn_pid("rckb");
  REQUIRE(victim > 0);

  constexpr int kMessages = 200;
  std::atomic<int> sent{0}, failed{0};
  std::thread sender([&] {
    for (int i = 0; i < kMessages; ++i) {
      try {
        json r = send_text(sup, "rcka", user_jid("15550000052"), "m" + std::to_string(i));
        r.value("ok", false) ? ++sent : ++failed;
      } catch (const std::exception&) {
        ++failed;
      }
    }
  });
  // Kill B's worker while the stream is arriving. It is first frozen for
  // a moment so that the kill certainly finds messages the server already
  // handed to its socket but it never processed (the case where a server
  // that forgets delivered messages loses them); the rest arrive while it
  // is down (offline queue, in batches) or after it is back.
  bool arriving = ev.wait_for([&](const auto&) { return events_of(ev.all(), "rckb", "message").size() >= 30; }, 30s);
  ::kill(victim, SIGSTOP);
  const int sent_at_stop = sent;
  bool piled_up = wait_until([&] { return sent >= sent_at_stop + 30 || sent + failed == kMessages; }, 20s);
  const size_t seen_at_kill = events_of(ev.all(), "rckb", "message").size();
  ::kill(victim, SIGKILL);
  const int sent_at_kill = sent;
  sender.join();
  MESSAGE("frozen after ", sent_at_stop, ", killed after ", sent_at_kill, " of ", kMessages, " sends were acked; ",
          seen_at_kill, " announced before the kill");
  CHECK(piled_up);
  // The kill came while messages were still arriving.
  CHECK(sent_at_kill < kMessages);
  REQUIRE(arriving);
  REQUIRE(failed == 0);
  REQUIRE(sent == kMessages);
  REQUIRE(wait_event(ev, "rckb", "instance_exited", "", 0));
  REQUIRE(sup.wait_running("rckb", victim, 20s));

  auto st = open_store(sup, "rckb");
  Inbox in;
  bool all = wait_until([&] {
    in = read_inbox(*st);
    return in.count.size() >= static_cast<size_t>(kMessages);
  }, 30s);
  CHECK(all);
  CHECK(in.count.size() == static_cast<size_t>(kMessages));
  std::set<std::string> texts;
  for (const auto& entry : in.count) {
    CHECK_MESSAGE(entry.second == 1, entry.first);
    texts.insert(in.text[entry.first]);
  }
  for (int i = 0; i < kMessages; ++i) CHECK_MESSAGE(texts.count("m" + std::to_string(i)) == 1, i);
  // Announced at most once each (PUB/SUB may drop, never duplicates).
  std::map<std::string, int> announced;
  for (const auto& e : events_of(ev.all(), "rckb", "message")) ++announced[e["id"].get<std::string>()];
  for (const auto& entry : announced) CHECK_MESSAGE(entry.second == 1, entry.first);
  CHECK(events_of(ev.all(), "rckb", "undecryptable").empty());
  // Everything was answered: nothing is left queued for B on the server.
  CHECK(wait_until([&] {
    for (const auto& a : server_status(ts)["accounts"])
      if (a["phone"] == "15550000052")
        for (const auto& d : a["devices"])
          if (d["queued"].get<int>() != 0) return false;
    return true;
  }));
}
