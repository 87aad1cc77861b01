// Contacts and presence between our accounts on the LID-first server (issue
// 14): number checks, profile pictures, presence, the block list, about
// texts and logout, each through the control socket (and wactl where it has
// its own routing) against the real wa-testserver.
#include <sqlite3.h>

#include <doctest/doctest.h>

#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr auto kWait = 20s;

// The newest event of `profile` with this type that `pred` accepts, waiting for it.
json wait_matching(EventLog& ev, const std::string& profile, const std::string& type,
                   const std::function<bool(const json&)>& pred) {
  json found;
  ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, profile, type))
      if (pred(e)) found = e;
    return found.is_object();
  }, kWait);
  return found;
}

json contacts_at_server(const TestServer& ts, const std::string& phone) {
  auto res = ts.admin({"contacts", "--state", ts.state(), "--phone", phone});
  if (res.first != 0) throw std::runtime_error("contacts failed: " + res.second);
  return json::parse(res.second)["result"];
}

long count_rows(const std::string& db_path, const std::string& table, const std::string& where = "") {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_stmt* st = nullptr;
  std::string q = "SELECT count(*) FROM " + table + (where.empty() ? "" : " WHERE " + where);
  long n = -1;
  if (sqlite3_prepare_v2(db, q.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

}  // namespace

TEST_CASE("contacts: number check in batches, JID and LID per number, cached, and wactl check with numbers") {
  TwoAccounts t("nca", "15550000601", "ncb", "15550000602");
  // 60 numbers: two usync batches; the registered one in the second.
  json numbers = json::array();
  for (int i = 0; i < 59; ++i) numbers.push_back("+1555000" + std::to_string(7000 + i));
  numbers.push_back("+1 555 000 0602");
  numbers.push_back("not-a-number");
  json r = ok(t.sup.call({{"cmd", "check_numbers"}, {"profile", "nca"}, {"numbers", numbers}}, 30000));
  REQUIRE(r["results"].size() == 61);
  for (int i = 0; i < 59; ++i) {
    CHECK(r["results"][i]["number"] == numbers[i]);
    CHECK(r["results"][i]["exists"] == false);
    CHECK_FALSE(r["results"][i].contains("lid"));
  }
  json b = r["results"][59];
  CHECK(b["exists"] == true);
  CHECK(b["jid"] == user_jid("15550000602"));
  CHECK(b["lid"] == user_of(t.b_lid));
  CHECK(b["cached"] == false);
  CHECK(r["results"][60]["invalid"] == true);

  // Asked again: from the cache, same answer.
  json again = ok(t.sup.call({{"cmd", "check_numbers"}, {"profile", "nca"}, {"numbers", {"15550000602"}}}, 30000));
  CHECK(again["results"][0]["cached"] == true);
  CHECK(again["results"][0]["lid"] == user_of(t.b_lid));

  // wactl: `check PROFILE NUMBER...` is the number check ...
  auto res = wactl(t.sup, {"check", "nca", "+15550000602", "15550009999"});
  const int rc = res.first;
  const std::string out = res.second;
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find(user_jid("15550000602") + " " + user_of(t.b_lid)) != std::string::npos);
  CHECK(out.find("15550009999 not on WhatsApp") != std::string::npos);
  // ... and `check PROFILE` is still the store's integrity check (refused while running).
  auto res2 = wactl(t.sup, {"check", "nca"});
  const int rc2 = res2.first;
  const std::string out2 = res2.second;
  CHECK(rc2 == 2);
  CHECK(out2.find("instance_running") != std::string::npos);
}

TEST_CASE("contacts: presence set and subscribe, presence events while available, last seen when gone") {
  TwoAccounts t("pra", "15550000611", "prb", "15550000612");
  const std::string b_lid = user_of(t.b_lid);
  // A number check teaches A the contact's LID: its presence events carry the number too.
  ok(t.sup.call({{"cmd", "check_numbers"}, {"profile", "pra"}, {"numbers", {"15550000612"}}}, 30000));
  ok(t.sup.call({{"cmd", "presence_set"}, {"profile", "prb"}, {"state", "available"}, {"name", "Bee"}}, 30000));
  // A subscribes while available: B's presence now, then its changes.
  ok(t.sup.call({{"cmd", "presence_set"}, {"profile", "pra"}, {"state", "available"}, {"name", "Ay"}}, 30000));
  ok(t.sup.call({{"cmd", "presence_subscribe"}, {"profile", "pra"}, {"jid", b_lid}}, 30000));
  json now = wait_matching(t.ev, "pra", "presence", [&](const json& e) { return e["state"] == "available"; });
  REQUIRE(now.is_object());
  CHECK(user_of(now["jid"]) == b_lid);
  CHECK(pn_of(now, "jid") == user_jid("15550000612"));
  CHECK(contacts_at_server(t.ts, "15550000612")["push_name"] == "Bee");

  ok(t.sup.call({{"cmd", "presence_set"}, {"profile", "prb"}, {"state", "unavailable"}}, 30000));
  json gone = wait_matching(t.ev, "pra", "presence", [&](const json& e) { return e["state"] == "unavailable"; });
  REQUIRE(gone.is_object());
  CHECK(gone["last_seen"].is_number());
  CHECK(gone["last_seen"].get<int64_t>() > 1700000000);
  // Presence is live only: not in the replayable log.
  json replay = ok(t.sup.call({{"cmd", "events"}, {"profile", "pra"}, {"since", 0}}, 30000));
  for (const auto& e : replay["events"]) CHECK(e["type"] != "presence");
}

TEST_CASE("contacts: profile picture set from an allowed JPEG, URL for a contact, change notifications, removed") {
  TempDir media;
  const std::string root = media.path();
  const std::string jpeg = root + "/me.jpg";
  {
    std::ofstream f(jpeg, std::ios::binary);
    const unsigned char head[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'};
    f.write(reinterpret_cast<const char*>(head), sizeof head);
    f << std::string(2000, 'x');
  }
  std::ofstream(root + "/not.jpg") << "plain text, not an image";
  TwoAccounts t("pia", "15550000621", "pib", "15550000622", json{{"media", {{"allowed_roots", {root}}}}});
  const std::string a_lid = user_of(t.a_lid);
  // Contacts first: the server tells those who talked.
  ok(send_text(t.sup, "pia", user_jid("15550000622"), "hi"));
  REQUIRE(wait_message_with(t.ev, "pib", "text", "hi", kWait).is_object());

  json none = ok(t.sup.call({{"cmd", "picture_get"}, {"profile", "pib"}, {"jid", user_jid("15550000621")}}, 30000));
  CHECK(none["url"].is_null());
  CHECK(error_code(t.sup.call({{"cmd", "picture_set"}, {"profile", "pia"}, {"path", root + "/not.jpg"}}, 30000)) ==
        "unsupported_media");
  CHECK(error_code(t.sup.call({{"cmd", "picture_set"}, {"profile", "pia"}, {"path", "/etc/hostname"}}, 30000)) ==
        "path_not_allowed");

  json set = ok(t.sup.call({{"cmd", "picture_set"}, {"profile", "pia"}, {"path", jpeg}}, 30000));
  const std::string id = set["id"];
  CHECK_FALSE(id.empty());
  json note = wait_matching(t.ev, "pib", "picture_changed", [&](const json& e) { return e["action"] == "set"; });
  REQUIRE(note.is_object());
  CHECK(user_of(note["jid"]) == a_lid);
  CHECK(note["id"] == id);

  json got = ok(t.sup.call({{"cmd", "picture_get"}, {"profile", "pib"}, {"jid", user_jid("15550000621")}}, 30000));
  CHECK(got["id"] == id);
  CHECK(got["type"] == "preview");
  CHECK(got["url"].get<std::string>().rfind("https://", 0) == 0);
  CHECK(got["direct_path"].get<std::string>().rfind("/", 0) == 0);
  json full = ok(t.sup.call({{"cmd", "picture_get"}, {"profile", "pib"}, {"jid", a_lid}, {"full", true}}, 30000));
  CHECK(full["type"] == "image");
  CHECK(full["id"] == id);

  ok(t.sup.call({{"cmd", "picture_remove"}, {"profile", "pia"}}, 30000));
  REQUIRE(wait_matching(t.ev, "pib", "picture_changed", [&](const json& e) { return e["action"] == "delete"; })
              .is_object());
  CHECK(ok(t.sup.call({{"cmd", "picture_get"}, {"profile", "pib"}, {"jid", a_lid}}, 30000))["url"].is_null());
}

TEST_CASE("contacts: block and unblock by number, the other device is told, a blocked contact's messages and about text do not reach") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array({{{"profile", "bla"}}, {{"profile", "bla2"}}, {{"profile", "blb"}}})));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "bla", "15550000631");
  pair_by_qr(ts, ev, "bla2", "15550000631");
  json open_b = pair_by_qr(ts, ev, "blb", "15550000632");
  const std::string b_lid = user_of(open_b.value("lid", ""));
  ok(send_text(sup, "bla", user_jid("15550000632"), "before"));
  REQUIRE(wait_message_with(ev, "blb", "text", "before", kWait).is_object());

  // About text: set by A, pushed to its contact B, read by B.
  ok(sup.call({{"cmd", "about_set"}, {"profile", "bla"}, {"text", "at work"}}, 30000));
  json changed = wait_matching(ev, "blb", "about_changed", [](const json& e) { return e["text"] == "at work"; });
  REQUIRE(changed.is_object());
  CHECK(pn_of(changed, "jid") == user_jid("15550000631"));
  CHECK(ok(sup.call({{"cmd", "about_get"}, {"profile", "blb"}, {"jid", user_jid("15550000631")}}, 30000))["text"] ==
        "at work");

  json blocked = ok(sup.call({{"cmd", "block"}, {"profile", "bla"}, {"jid", user_jid("15550000632")}}, 30000));
  REQUIRE(blocked["blocked"].size() == 1);
  CHECK(blocked["blocked"][0]["jid"] == b_lid);
  CHECK(blocked["blocked"][0]["pn_jid"] == user_jid("15550000632"));
  CHECK(contacts_at_server(ts, "15550000631")["blocked"] == json::array({"15550000632"}));
  json told = wait_matching(ev, "bla2", "blocklist_changed", [](const json&) { return true; });
  REQUIRE(told.is_object());
  CHECK(told["items"][0]["action"] == "block");
  CHECK(user_of(told["items"][0]["jid"]) == b_lid);
  CHECK(ok(sup.call({{"cmd", "blocklist"}, {"profile", "bla"}}, 30000))["blocked"].size() == 1);
  // Hidden from the blocked contact.
  CHECK(ok(sup.call({{"cmd", "about_get"}, {"profile", "blb"}, {"jid", user_jid("15550000631")}}, 30000))["text"]
            .is_null());

  // B's message is acked to B but never reaches A's devices.
  ok(send_text(sup, "blb", user_jid("15550000631"), "while blocked"));
  json unblocked = ok(sup.call({{"cmd", "unblock"}, {"profile", "bla"}, {"jid", b_lid}}, 30000));
  CHECK(unblocked["blocked"].empty());
  REQUIRE(wait_matching(ev, "bla2", "blocklist_changed", [](const json& e) { return e["items"][0]["action"] == "unblock"; })
              .is_object());
  ok(send_text(sup, "blb", user_jid("15550000631"), "after unblock"));
  REQUIRE(wait_message_with(ev, "bla", "text", "after unblock", kWait).is_object());
  REQUIRE(wait_message_with(ev, "bla2", "text", "after unblock", kWait).is_object());
  // Delivered in order: had the blocked one been delivered, it would be here by now.
  CHECK_FALSE(has_message(ev, "bla", "while blocked"));
  CHECK_FALSE(has_message(ev, "bla2", "while blocked"));
  CHECK(ok(sup.call({{"cmd", "blocklist"}, {"profile", "bla"}}, 30000))["blocked"].empty());
}

TEST_CASE("logout: the server drops the device, credentials and Signal state are wiped, the event log stays, then remove --purge") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array()));
  EventLog ev(sup.run_dir());
  ok(sup.call({{"cmd", "start"}, {"profile", "lo"}, {"create", true}}, 30000));
  json open = pair_by_qr(ts, ev, "lo", "15550000641");
  const std::string dev = open["jid"];
  auto device_listed = [&] {
    const json status = server_status(ts);
    for (const auto& a : status["accounts"])
      for (const auto& d : a["devices"])
        if (d["jid"] == dev) return true;
    return false;
  };
  REQUIRE(device_listed());
  const std::string db = sup.data_dir() + "/lo/store.db";
  REQUIRE(count_rows(db, "prekeys") > 0);
  REQUIRE(count_rows(db, "credentials", "name = 'own_jid'") == 1);

  auto res = wactl(sup, {"logout", "lo"});
  const int rc = res.first;
  const std::string out = res.second;
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("logged out") != std::string::npos);
  REQUIRE(wait_event(ev, "lo", "logged_out", "", 0));
  CHECK(last_event(ev, "lo", "logged_out")["reason"] == "user_initiated");
  REQUIRE(wait_until([&] { return sup.state("lo") == "stopped"; }, kWait));
  // The status says so: stopped and no longer linked.
  CHECK(sup.instance("lo")["linked"] == false);
  const json closed = last_event(ev, "lo", "connection", "closed");
  CHECK(closed["reason"] == "user_initiated");
  CHECK_FALSE(device_listed());
  for (const char* table : {"prekeys", "signed_prekeys", "sessions", "sender_keys", "identities", "device_lists"})
    CHECK(count_rows(db, table) == 0);
  CHECK(count_rows(db, "credentials", "name IN ('own_jid', 'identity_priv', 'noise_priv', 'adv_secret')") == 0);
  // The event log stays, with the logout in it.
  json replay = ok(sup.call({{"cmd", "events"}, {"profile", "lo"}, {"since", 0}}, 30000));
  bool logged = false;
  for (const auto& e : replay["events"]) logged = logged || e["type"] == "logged_out";
  CHECK(logged);

  json removed = ok(sup.call({{"cmd", "remove"}, {"profile", "lo"}, {"purge", true}}, 30000));
  CHECK(removed["purged"] == true);
  CHECK(::access((sup.data_dir() + "/lo").c_str(), F_OK) != 0);
}
