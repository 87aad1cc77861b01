// Group administration end to end: subject, description, settings (locked,
// announce), promote / demote, invite links (get, revoke, join), leave —
// through the control socket and wactl to the connection worker, the
// local server's rights checks, and the w:gp2 notifications every member
// gets, observed as their `group_update` events.
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr const char* kPhoneA = "15550000041";
constexpr const char* kPhoneB = "15550000042";
constexpr const char* kPhoneC = "15550000043";

json call_ok(const Supervisor& sup, const json& req) {
  json r = sup.call(req, 30000);
  INFO(req.dump(), " -> ", r.dump());
  REQUIRE(r.value("ok", false));
  return r["result"];
}

// The first `group_update` of `profile` for `gid` with this action that
// `pred` accepts (after `skip` such events), waiting for it; null if none.
json wait_update(EventLog& ev, const std::string& profile, const std::string& gid, const std::string& action,
                 const std::function<bool(const json&)>& pred = nullptr, std::chrono::milliseconds t = 20s) {
  json found;
  ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, profile, "group_update"))
      if (e.value("gid", "") == gid && e.value("action", "") == action && (!pred || pred(e))) {
        found = e;
        return true;
      }
    return false;
  }, t);
  return found;
}

// The participants of an event, by phone number.
std::set<std::string> participants_pn(const json& e) {
  std::set<std::string> out;
  for (const auto& p : e.value("participants", json::array())) out.insert(pn_of(p, "jid"));
  return out;
}

}  // namespace

TEST_CASE("group administration: rights, settings, roles, invite links and leave, seen as group_update events") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array({{{"profile", "gaa"}}, {{"profile", "gab"}}, {{"profile", "gac"}}})));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "gaa", kPhoneA);
  pair_by_qr(ts, ev, "gab", kPhoneB);
  pair_by_qr(ts, ev, "gac", kPhoneC);

  json created = call_ok(sup, {{"cmd", "group_create"}, {"profile", "gaa"}, {"subject", "club"},
                               {"participants", {user_jid(kPhoneB)}}});
  const std::string gid = created["gid"];
  CHECK(created["announce"] == false);
  CHECK(created["locked"] == false);

  // An unlocked group: any member renames it; everyone hears who did.
  CHECK(call_ok(sup, {{"cmd", "group_subject"}, {"profile", "gab"}, {"gid", gid}, {"subject", "club 2"}})["subject"] ==
        "club 2");
  for (const char* p : {"gaa", "gab"}) {
    json e = wait_update(ev, p, gid, "subject");
    INFO(p, " ", e.dump());
    REQUIRE(e.is_object());
    CHECK(e["subject"] == "club 2");
    CHECK(pn_of(e, "author") == user_jid(kPhoneB));
    CHECK(e["t"].get<int64_t>() > 0);
  }

  // Settings are the admins': B is refused, A locks the group.
  json refused = sup.call({{"cmd", "group_settings"}, {"profile", "gab"}, {"gid", gid}, {"setting", "locked"},
                           {"state", "on"}}, 30000);
  CHECK(error_code(refused) == "iq_error:401");
  call_ok(sup, {{"cmd", "group_settings"}, {"profile", "gaa"}, {"gid", gid}, {"setting", "locked"}, {"state", "on"}});
  json locked = wait_update(ev, "gab", gid, "locked");
  REQUIRE(locked.is_object());
  CHECK(locked["state"] == "on");
  CHECK(pn_of(locked, "author") == user_jid(kPhoneA));
  // Locked: only admins edit the group's info.
  CHECK(error_code(sup.call({{"cmd", "group_subject"}, {"profile", "gab"}, {"gid", gid}, {"subject", "mine"}}, 30000)) ==
        "iq_error:401");
  CHECK(error_code(sup.call({{"cmd", "group_description"}, {"profile", "gab"}, {"gid", gid}, {"description", "x"}},
                            30000)) == "iq_error:401");

  // Description: set, seen by members, in the metadata; then removed.
  call_ok(sup, {{"cmd", "group_description"}, {"profile", "gaa"}, {"gid", gid}, {"description", "be nice"}});
  json d = wait_update(ev, "gab", gid, "description");
  REQUIRE(d.is_object());
  CHECK(d["description"] == "be nice");
  json info = call_ok(sup, {{"cmd", "group_info"}, {"profile", "gab"}, {"gid", gid}});
  CHECK(info["subject"] == "club 2");
  CHECK(info["description"] == "be nice");
  CHECK(info["locked"] == true);
  // A second change names the first one's id as `prev`: the server accepts it.
  call_ok(sup, {{"cmd", "group_description"}, {"profile", "gaa"}, {"gid", gid}});
  CHECK(wait_update(ev, "gab", gid, "description", [](const json& e) { return e["description"] == ""; }).is_object());
  CHECK_FALSE(call_ok(sup, {{"cmd", "group_info"}, {"profile", "gaa"}, {"gid", gid}}).contains("description"));

  // Roles and the invite link are the admins' too.
  CHECK(error_code(sup.call({{"cmd", "group_promote"}, {"profile", "gab"}, {"gid", gid},
                             {"participants", {user_jid(kPhoneB)}}}, 30000)) == "iq_error:401");
  CHECK(error_code(sup.call({{"cmd", "group_invite"}, {"profile", "gab"}, {"gid", gid}}, 30000)) == "iq_error:401");

  // Announce: B's message is refused by the server; promoted, B may send.
  call_ok(sup, {{"cmd", "group_settings"}, {"profile", "gaa"}, {"gid", gid}, {"setting", "announce"}, {"state", "on"}});
  json ann = wait_update(ev, "gab", gid, "announce");
  REQUIRE(ann.is_object());
  CHECK(ann["state"] == "on");
  json quiet = send_text(sup, "gab", gid, "may I?");
  CHECK(error_code(quiet) == "rejected:403");
  json promoted = call_ok(sup, {{"cmd", "group_promote"}, {"profile", "gaa"}, {"gid", gid},
                                {"participants", {user_jid(kPhoneB)}}});
  CHECK(promoted["participants"][0]["status"] == "200");
  json pe = wait_update(ev, "gab", gid, "promote");
  REQUIRE(pe.is_object());
  CHECK(participants_pn(pe) == std::set<std::string>{user_jid(kPhoneB)});
  CHECK(pn_of(pe, "author") == user_jid(kPhoneA));
  json spoke = send_text(sup, "gab", gid, "now I may");
  INFO(spoke.dump());
  REQUIRE(spoke.value("ok", false));
  CHECK(wait_message_with(ev, "gaa", "id", spoke["result"]["id"].get<std::string>())["text"] == "now I may");
  call_ok(sup, {{"cmd", "group_demote"}, {"profile", "gaa"}, {"gid", gid}, {"participants", {user_jid(kPhoneB)}}});
  json de = wait_update(ev, "gaa", gid, "demote");
  REQUIRE(de.is_object());
  CHECK(participants_pn(de) == std::set<std::string>{user_jid(kPhoneB)});

  // Invite link: C joins by the link; everyone hears an add by invite.
  json inv = call_ok(sup, {{"cmd", "group_invite"}, {"profile", "gaa"}, {"gid", gid}});
  const std::string code = inv["code"];
  CHECK(inv["link"] == "https://chat.whatsapp.com/" + code);
  CHECK(call_ok(sup, {{"cmd", "group_invite"}, {"profile", "gaa"}, {"gid", gid}})["code"] == code);  // stable
  CHECK(call_ok(sup, {{"cmd", "group_join"}, {"profile", "gac"}, {"invite", inv["link"]}})["gid"] == gid);
  for (const char* p : {"gaa", "gab"}) {
    json add = wait_update(ev, p, gid, "add", [](const json& e) { return e.value("reason", "") == "invite"; });
    INFO(p, " ", add.dump());
    REQUIRE(add.is_object());
    CHECK(participants_pn(add) == std::set<std::string>{user_jid(kPhoneC)});
    CHECK(pn_of(add, "author") == user_jid(kPhoneC));
  }
  // A message after the join reaches the newcomer (the sender key went to it).
  json welcome = call_ok(sup, {{"cmd", "send_text"}, {"profile", "gaa"}, {"to", gid}, {"text", "welcome"}});
  CHECK(wait_message_with(ev, "gac", "id", welcome["id"].get<std::string>())["text"] == "welcome");

  // Revoked: the old code is gone (410), a new one works; junk is refused here.
  json revoked = call_ok(sup, {{"cmd", "group_revoke_invite"}, {"profile", "gaa"}, {"gid", gid}});
  CHECK(revoked["code"] != code);
  call_ok(sup, {{"cmd", "group_leave"}, {"profile", "gab"}, {"gid", gid}});
  json left = wait_update(ev, "gaa", gid, "leave");
  REQUIRE(left.is_object());
  CHECK(participants_pn(left) == std::set<std::string>{user_jid(kPhoneB)});
  CHECK(pn_of(left, "author") == user_jid(kPhoneB));
  CHECK(wait_update(ev, "gab", gid, "leave").is_object());  // the leaver hears it too
  CHECK(error_code(sup.call({{"cmd", "group_info"}, {"profile", "gab"}, {"gid", gid}}, 30000)) == "iq_error:403");
  CHECK(error_code(sup.call({{"cmd", "group_join"}, {"profile", "gab"}, {"invite", code}}, 30000)) == "iq_error:410");
  CHECK(error_code(sup.call({{"cmd", "group_join"}, {"profile", "gab"}, {"invite", "NoSuchCode123"}}, 30000)) ==
        "iq_error:406");
  CHECK(error_code(sup.call({{"cmd", "group_join"}, {"profile", "gab"}, {"invite", "https://evil.example/x y"}},
                            30000)) == "invalid_invite");
  CHECK(error_code(sup.call({{"cmd", "group_settings"}, {"profile", "gaa"}, {"gid", gid}, {"setting", "loud"},
                             {"state", "on"}})) == "bad_request");

  // wactl: join by the new bare code, rename, switch announce off, print the link.
  auto [rc, out] = wactl(sup, {"group", "join", "gab", revoked["code"].get<std::string>()});
  CHECK(rc == 0);
  CHECK(out.find("joined " + gid) != std::string::npos);
  auto [rc2, out2] = wactl(sup, {"group", "subject", "gaa", gid, "club 3"});
  CHECK(rc2 == 0);
  CHECK(wait_update(ev, "gab", gid, "subject", [](const json& e) { return e["subject"] == "club 3"; }).is_object());
  auto [rc3, out3] = wactl(sup, {"group", "settings", "gaa", gid, "announce", "off"});
  CHECK(rc3 == 0);
  CHECK(wait_update(ev, "gac", gid, "announce", [](const json& e) { return e["state"] == "off"; }).is_object());
  auto [rc4, out4] = wactl(sup, {"group", "invite", "gaa", gid});
  CHECK(rc4 == 0);
  CHECK(out4 == "https://chat.whatsapp.com/" + revoked["code"].get<std::string>() + "\n");
  auto [rc5, out5] = wactl(sup, {"group", "info", "gab", gid});
  CHECK(rc5 == 0);
  CHECK(out5.find("subject: club 3") != std::string::npos);
  CHECK(out5.find("locked: only admins edit") != std::string::npos);
  auto [rc6, out6] = wactl(sup, {"group", "description", "gab", gid, "mine"});
  CHECK(rc6 != 0);
  CHECK(out6.find("iq_error:401") != std::string::npos);
}
