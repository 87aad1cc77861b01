// Groups, replies, read receipts and chat state end to end: control socket
// -> connection worker (group IQs, receipts, chat state) or a sender (group
// messages with sender keys) -> wa-testserver -> the other accounts' receive
// paths, observed as their events.
#include <doctest/doctest.h>

#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr const char* kPhoneA = "15550000031";
constexpr const char* kPhoneB = "15550000032";
constexpr const char* kPhoneC = "15550000033";

std::string user(const std::string& phone) { return phone + "@s.whatsapp.net"; }

// The `message` event of `profile` with this id, waiting for it.
json wait_message(EventLog& ev, const std::string& profile, const std::string& id, std::chrono::milliseconds t = 20s) {
  return wait_message_with(ev, profile, "id", id, t);
}

// A send that must succeed; its result.
json send_ok(const Supervisor& sup, const std::string& profile, const std::string& to, const std::string& text,
             const json& extra = json::object()) {
  json req{{"cmd", "send_text"}, {"profile", profile}, {"to", to}, {"text", text}};
  req.merge_patch(extra);
  json r = sup.call(req, 60000);
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  return r["result"];
}

std::set<std::string> member_jids(const json& group) {
  std::set<std::string> out;
  // By phone number: a LID group lists LIDs with the number beside them.
  for (const auto& p : group["participants"]) out.insert(pn_of(p, "jid"));
  return out;
}

// Whether `profile` records who holds its sender key for `gid` (read from its
// store, as the sender does).
bool has_sender_key_memory(const Supervisor& sup, const std::string& profile, const std::string& gid) {
  auto st = wa::store::open_sqlite(sup.data_dir() + "/" + profile + "/store.db");
  if (!st) throw std::runtime_error("store: " + st.error().message);
  auto v = (*st)->get_credential("skmem:" + gid);
  if (!v) throw std::runtime_error("store: " + v.error().message);
  return v->has_value();
}

bool starts_with(const json& v, const std::string& prefix) {
  return v.is_string() && v.get<std::string>().rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("groups: create, info, messages both ways, add and remove, every member device decrypts") {
  TestServer ts;
  // "gra2" is a second linked device of A's account: it must read what A sends.
  Supervisor sup(config_for(
      ts, json::array({{{"profile", "gra"}}, {{"profile", "gra2"}}, {{"profile", "grb"}}, {{"profile", "grc"}}})));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "gra", kPhoneA);
  pair_by_qr(ts, ev, "gra2", kPhoneA);
  pair_by_qr(ts, ev, "grb", kPhoneB);
  pair_by_qr(ts, ev, "grc", kPhoneC);

  // 1:1 both ways first: the peer and the sender's other device read each message.
  const std::string d1 = send_ok(sup, "gra", user(kPhoneB), "direct A to B")["id"];
  CHECK(wait_message(ev, "grb", d1)["text"] == "direct A to B");
  json own_copy = wait_message(ev, "gra2", d1);
  CHECK(own_copy["text"] == "direct A to B");
  CHECK(own_copy["from_me"] == true);
  CHECK(pn_of(own_copy, "chat") == user(kPhoneB));
  const std::string d2 = send_ok(sup, "grb", user(kPhoneA), "direct B to A")["id"];
  for (const char* p : {"gra", "gra2"}) CHECK(wait_message(ev, p, d2)["text"] == "direct B to A");

  json created = sup.call({{"cmd", "group_create"}, {"profile", "gra"}, {"subject", "team"},
                           {"participants", {user(kPhoneB)}}},
                          30000);
  INFO(created.dump());
  REQUIRE(created.value("ok", false));
  const std::string gid = created["result"]["gid"];
  CHECK(gid.ends_with("@g.us"));
  CHECK(created["result"]["subject"] == "team");
  CHECK(member_jids(created["result"]) == std::set<std::string>{user(kPhoneA), user(kPhoneB)});

  // Any member can read the metadata; the creator is an admin, B is not.
  json info = sup.call({{"cmd", "group_info"}, {"profile", "grb"}, {"gid", gid}}, 30000);
  INFO(info.dump());
  REQUIRE(info.value("ok", false));
  CHECK(info["result"]["gid"] == gid);
  CHECK(info["result"]["subject"] == "team");
  CHECK(info["result"]["addressing_mode"] == "lid");
  for (const auto& p : info["result"]["participants"]) {
    CHECK(p["admin"] == (pn_of(p, "jid") == user(kPhoneA)));
    CHECK(p["jid"].get<std::string>().ends_with("@lid"));
  }
  CHECK(member_jids(info["result"]) == member_jids(created["result"]));
  // C is not a member: the server refuses, the error names its code.
  json outsider = sup.call({{"cmd", "group_info"}, {"profile", "grc"}, {"gid", gid}}, 30000);
  CHECK(error_code(outsider) == "iq_error:403");

  // A -> group: B and A's other device decrypt it (the sender key went to both).
  const std::string m1 = send_ok(sup, "gra", gid, "hello team")["id"];
  for (const char* p : {"grb", "gra2"}) {
    json m = wait_message(ev, p, m1);
    INFO(p, " ", m.dump());
    REQUIRE(m.is_object());
    CHECK(m["chat"] == gid);
    CHECK(starts_with(pn_of(m, "sender"), std::string(kPhoneA) + ":"));
    CHECK(m["text"] == "hello team");
    CHECK(m["from_me"] == (std::string(p) == "gra2"));
  }
  // B -> group: both of A's devices decrypt it.
  const std::string m2 = send_ok(sup, "grb", gid, "hi A")["id"];
  for (const char* p : {"gra", "gra2"}) {
    json m = wait_message(ev, p, m2);
    INFO(p, " ", m.dump());
    REQUIRE(m.is_object());
    CHECK(m["chat"] == gid);
    CHECK(starts_with(pn_of(m, "sender"), std::string(kPhoneB) + ":"));
    CHECK(m["text"] == "hi A");
  }

  // Add C (plus one unknown number and one existing member): per-participant results.
  // B sent to the group, so B remembers who holds its key; the add resets that.
  REQUIRE(has_sender_key_memory(sup, "grb", gid));
  json added = sup.call({{"cmd", "group_add"}, {"profile", "gra"}, {"gid", gid},
                         {"participants", {user(kPhoneC), user("15559999999"), user(kPhoneB)}}},
                        30000);
  INFO(added.dump());
  REQUIRE(added.value("ok", false));
  REQUIRE(added["result"]["participants"].size() == 3);
  CHECK(added["result"]["participants"][0] == json{{"jid", user(kPhoneC)}, {"status", "200"}});
  CHECK(added["result"]["participants"][1]["status"] == "404");
  CHECK(added["result"]["participants"][2]["status"] == "409");
  // B did not make the change: it learns of it from the w:gp2 notification.
  CHECK(wait_until([&] { return !has_sender_key_memory(sup, "grb", gid); }, 20s));
  json info2 = sup.call({{"cmd", "group_info"}, {"profile", "grc"}, {"gid", gid}}, 30000);
  REQUIRE(info2.value("ok", false));
  CHECK(member_jids(info2["result"]) == std::set<std::string>{user(kPhoneA), user(kPhoneB), user(kPhoneC)});

  // The next message reaches the newcomer too, and still everyone else.
  const std::string m3 = send_ok(sup, "gra", gid, "welcome C")["id"];
  for (const char* p : {"grb", "grc", "gra2"}) {
    json m = wait_message(ev, p, m3);
    INFO(p, " ", m.dump());
    REQUIRE(m.is_object());
    CHECK(m["text"] == "welcome C");
  }
  // C answers the group: A (both devices) and B decrypt C's sender key.
  const std::string m4 = send_ok(sup, "grc", gid, "thanks")["id"];
  for (const char* p : {"gra", "gra2", "grb"}) CHECK(wait_message(ev, p, m4)["text"] == "thanks");

  // Remove B: the next message is re-keyed and still decrypts at C and A's device.
  json removed = sup.call({{"cmd", "group_remove"}, {"profile", "gra"}, {"gid", gid},
                           {"participants", {user(kPhoneB)}}},
                          30000);
  INFO(removed.dump());
  REQUIRE(removed.value("ok", false));
  CHECK(removed["result"]["participants"][0]["status"] == "200");
  const std::string m5 = send_ok(sup, "gra", gid, "after B left")["id"];
  for (const char* p : {"grc", "gra2"}) CHECK(wait_message(ev, p, m5)["text"] == "after B left");
  CHECK(events_of(ev.all(), "grb", "undecryptable").empty());
  // B is no longer a member: it is not sent the message, and cannot send to the group.
  for (const auto& e : events_of(ev.all(), "grb", "message")) CHECK(e["id"] != m5);
  json refused = sup.call({{"cmd", "send_text"}, {"profile", "grb"}, {"to", gid}, {"text", "still here?"}}, 60000);
  CHECK(error_code(refused) == "iq_error:403");

  // A read receipt in a group names the author; the author hears it.
  json read = sup.call({{"cmd", "read"}, {"profile", "grc"}, {"chat", gid}, {"ids", json::array({m5})},
                        {"sender", wait_message(ev, "grc", m5)["sender"]}},
                       30000);
  INFO(read.dump());
  REQUIRE(read.value("ok", false));
  CHECK(ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "gra", "receipt"))
      if (e["receipt_type"] == "read" && e["chat"] == gid && e["ids"] == json::array({m5})) return true;
    return false;
  }, 20s));

  // Typing in a group: the other members see who types where.
  json t = sup.call({{"cmd", "typing"}, {"profile", "grc"}, {"chat", gid}, {"state", "on"}});
  REQUIRE(t.value("ok", false));
  for (const char* p : {"gra", "gra2"})
    CHECK(ev.wait_for([&](const std::vector<json>& all) {
      for (const auto& e : events_of(all, p, "chatstate"))
        if (e["chat"] == gid && pn_of(e, "sender") == user(kPhoneC) && e["state"] == "composing") return true;
      return false;
    }, 20s));

  // wactl shows the same group; a participant change that fails exits 2.
  auto [rc, text] = wactl(sup, {"group", "info", "gra", gid});
  CHECK(rc == 0);
  CHECK(text.find("subject: team") != std::string::npos);
  CHECK(text.find(user(kPhoneA) + " (admin)") != std::string::npos);
  auto [rc2, text2] = wactl(sup, {"group", "remove", "gra", gid, user(kPhoneB)});
  CHECK(rc2 == 2);
  CHECK(text2.find(user(kPhoneB) + " 404") != std::string::npos);
}

TEST_CASE("reply, read receipts and typing between two accounts") {
  TwoAccounts accounts("rda", kPhoneA, "rdb", kPhoneB);
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;

  const std::string q = send_ok(sup, "rda", user(kPhoneB), "question?")["id"];
  json got = wait_message(ev, "rdb", q);
  REQUIRE(got.is_object());
  CHECK(got["quoted_id"] == "");

  // B replies (through wactl) quoting A's message; A reads the quote's id.
  auto [rc, out] = wactl(sup, {"send", "rdb", user(kPhoneA), "answer", "--reply", q});
  INFO(out);
  REQUIRE(rc == 0);
  REQUIRE(out.rfind("sent ", 0) == 0);
  const std::string a = out.substr(5, out.find('\n') - 5);
  json reply = wait_message(ev, "rda", a);
  INFO(reply.dump());
  REQUIRE(reply.is_object());
  CHECK(reply["text"] == "answer");
  CHECK(reply["quoted_id"] == q);
  // A quotes its own message (found in its sent cache, so the quote carries its text).
  const std::string a2 = send_ok(sup, "rda", user(kPhoneB), "to myself", {{"quoted_id", q}})["id"];
  CHECK(wait_message(ev, "rdb", a2)["quoted_id"] == q);

  // B marks both of A's messages read: A gets one read receipt naming both.
  json read = sup.call({{"cmd", "read"}, {"profile", "rdb"}, {"chat", user(kPhoneA)}, {"ids", json::array({q, a2})}}, 30000);
  INFO(read.dump());
  REQUIRE(read.value("ok", false));
  CHECK(read["result"]["read"] == 2);
  CHECK(ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "rda", "receipt"))
      if (e["receipt_type"] == "read" && pn_of(e, "chat") == user(kPhoneB) && e["ids"] == json::array({q, a2})) return true;
    return false;
  }, 20s));

  // Typing on, then off (through wactl): A sees composing, then paused, from B.
  for (const auto& [state, seen] : {std::pair{"on", "composing"}, std::pair{"off", "paused"}}) {
    auto [trc, tout] = wactl(sup, {"typing", "rdb", user(kPhoneA), state});
    INFO(tout);
    REQUIRE(trc == 0);
    CHECK(ev.wait_for([&, s = std::string(seen)](const std::vector<json>& all) {
      for (const auto& e : events_of(all, "rda", "chatstate"))
        if (e["state"] == s && pn_of(e, "chat") == user(kPhoneB) && pn_of(e, "sender") == user(kPhoneB)) return true;
      return false;
    }, 20s));
  }
}

TEST_CASE("chat commands: bad input, and not_connected before pairing") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array({{{"profile", "bada"}}})));
  REQUIRE(sup.wait_running("bada"));  // up, but never paired
  auto code = [&](json req) { return error_code(sup.call(req)); };
  // Shape errors come from the supervisor, before the account is involved.
  CHECK(code({{"cmd", "group_create"}, {"profile", "bada"}, {"subject", "x"}, {"participants", json::array()}}) ==
        "bad_request");
  CHECK(code({{"cmd", "group_create"}, {"profile", "bada"}, {"subject", "x"}, {"participants", {"nope"}}}) ==
        "invalid_jid");
  CHECK(code({{"cmd", "group_info"}, {"profile", "bada"}, {"gid", user(kPhoneA)}}) == "invalid_jid");
  CHECK(code({{"cmd", "group_add"}, {"profile", "bada"}, {"gid", "1-2@g.us"}}) == "bad_request");
  CHECK(code({{"cmd", "read"}, {"profile", "bada"}, {"chat", "1-2@g.us"}, {"ids", {"X"}}}) == "bad_request");
  CHECK(code({{"cmd", "read"}, {"profile", "bada"}, {"chat", user(kPhoneA)}, {"ids", "X"}}) == "bad_request");
  CHECK(code({{"cmd", "typing"}, {"profile", "bada"}, {"chat", user(kPhoneA)}, {"state", "maybe"}}) ==
        "bad_request");
  CHECK(code({{"cmd", "typing"}, {"profile", "nobody"}, {"chat", user(kPhoneA)}, {"state", "on"}}) ==
        "unknown_profile");
  // Well-formed, but the account is not logged in: answered at once.
  CHECK(code({{"cmd", "group_info"}, {"profile", "bada"}, {"gid", "1-2@g.us"}}) == "not_connected");
  CHECK(code({{"cmd", "read"}, {"profile", "bada"}, {"chat", user(kPhoneA)}, {"ids", {"X"}}}) == "not_connected");
  CHECK(code({{"cmd", "typing"}, {"profile", "bada"}, {"chat", user(kPhoneA)}, {"state", "on"}}) == "not_connected");
  // wactl refuses a bad state before asking anyone, and maps error replies to exit 2.
  auto [rc, out] = wactl(sup, {"typing", "bada", user(kPhoneA), "maybe"});
  CHECK(rc == 2);  // a usage error
  // Refused by wactl itself (its usage), not by the supervisor.
  CHECK(out.find("maybe") != std::string::npos);
  CHECK(out.find("bad_request") == std::string::npos);
  auto [rc2, out2] = wactl(sup, {"group", "info", "bada", "1-2@g.us"});
  CHECK(rc2 == 2);
  CHECK(out2.find("not_connected") != std::string::npos);
  auto [rc3, out3] = wactl(sup, {"send", "bada", user(kPhoneA), "x", "--reply-sender", user(kPhoneB)});
  CHECK(rc3 == 2);  // --reply-sender without --reply: refused before sending, like every usage error
  CHECK(out3.find("quoted_id") != std::string::npos);
}
