// Revokes, locations and contact cards between two of our accounts on the
// LID-first server (issue 14): each sent through its command, received as
// an event typed by the decrypted content, a revoked message kept in the
// receiver's log and marked.
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr auto kWait = 20s;

json call(const Supervisor& sup, json req) {
  // One de-duplication id per distinct request (a repeated id would get the
  // first request's answer back).
  if (!req.contains("client_id")) req["client_id"] = "c-" + std::to_string(std::hash<std::string>{}(req.dump()));
  return sup.call(req, 30000);
}

// The first event of `type` for `profile` whose `key` is `value`.
json wait_event_with(EventLog& ev, const std::string& profile, const std::string& type, const std::string& key,
                     const std::string& value) {
  json found;
  ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, profile, type))
      if (e.value(key, "") == value) found = e;
    return found.is_object();
  }, kWait);
  return found;
}

// The profile's logged event with this seq, as a replay returns it now.
json logged(const Supervisor& sup, const std::string& profile, int64_t seq) {
  json r = ok(sup.call({{"cmd", "events"}, {"profile", profile}, {"since", seq - 1}, {"limit", 1}}));
  REQUIRE(r["events"].size() == 1);
  return r["events"][0];
}

}  // namespace

TEST_CASE("revoke: our own message deleted for everyone stays in the receiver's log marked revoked") {
  TwoAccounts t("rva", "15550000601", "rvb", "15550000602");
  json sent = ok(send_text(t.sup, "rva", user_jid("15550000602"), "regret this"));
  json m = wait_message_with(t.ev, "rvb", "text", "regret this", kWait);
  REQUIRE(m.is_object());

  // The receiver cannot delete the sender's 1:1 message for everyone.
  json refused = call(t.sup, {{"cmd", "revoke"}, {"profile", "rvb"}, {"chat", m["chat"]}, {"id", m["id"]}});
  CHECK(error_code(refused) == "not_own_message");

  json r = ok(call(t.sup, {{"cmd", "revoke"}, {"profile", "rva"}, {"chat", user_jid("15550000602")},
                           {"id", sent["id"]}}));
  CHECK(r["id"] != sent["id"]);
  json ev = wait_event_with(t.ev, "rvb", "revoked", "target_id", sent["id"]);
  REQUIRE(ev.is_object());
  CHECK(ev["msg_type"] == "revoke");
  CHECK(ev["target_found"] == true);
  CHECK(ev["target_from_me"] == false);
  CHECK(ev["by_admin"] == false);
  CHECK(user_of(ev["target_sender"]) == user_of(m["sender"]));
  CHECK_FALSE(ev.contains("protobuf"));
  // The original is still in the log, now marked.
  json original = logged(t.sup, "rvb", m["seq"].get<int64_t>());
  CHECK(original["id"] == m["id"]);
  CHECK(original["text"] == "regret this");
  CHECK(original["revoked"] == true);
  CHECK(original["revoke_id"] == ev["id"]);
  CHECK(events_of(t.ev.all(), "rvb", "undecryptable").empty());
}

TEST_CASE("revoke: a group admin deletes a member's message, the member sees by_admin") {
  TwoAccounts t("rgva", "15550000611", "rgvb", "15550000612");
  json g = ok(t.sup.call({{"cmd", "group_create"}, {"profile", "rgva"}, {"subject", "revokes"},
                          {"participants", {user_jid("15550000612")}}}, 30000));
  const std::string gid = g["gid"];
  json sent = ok(send_text(t.sup, "rgvb", gid, "member says"));
  json m = wait_message_with(t.ev, "rgva", "text", "member says", kWait);
  REQUIRE(m.is_object());
  // Someone else's group message needs its author named.
  CHECK(error_code(call(t.sup, {{"cmd", "revoke"}, {"profile", "rgva"}, {"chat", gid}, {"id", m["id"]}})) ==
        "bad_request");
  ok(call(t.sup, {{"cmd", "revoke"}, {"profile", "rgva"}, {"chat", gid}, {"id", m["id"]}, {"sender", m["sender"]}}));
  json ev = wait_event_with(t.ev, "rgvb", "revoked", "target_id", sent["id"]);
  REQUIRE(ev.is_object());
  CHECK(ev["chat"] == gid);
  CHECK(ev["by_admin"] == true);
  CHECK(ev["target_from_me"] == true);

  // A member who is not an admin cannot delete the admin's message: the
  // server refuses the stanza, nothing reaches the group.
  json admin_msg = ok(send_text(t.sup, "rgva", gid, "admin says"));
  json am = wait_message_with(t.ev, "rgvb", "text", "admin says", kWait);
  REQUIRE(am.is_object());
  json refused = call(t.sup, {{"cmd", "revoke"}, {"profile", "rgvb"}, {"chat", gid}, {"id", am["id"]},
                              {"sender", am["sender"]}});
  CHECK(error_code(refused) == "rejected:403");
  ok(send_text(t.sup, "rgvb", gid, "after the refusal"));
  REQUIRE(wait_message_with(t.ev, "rgva", "text", "after the refusal", kWait).is_object());
  CHECK(events_of(t.ev.all(), "rgva", "revoked").empty());
  (void)admin_msg;
}

TEST_CASE("locations and contact cards: sent by command, received typed by their content") {
  TwoAccounts t("loa", "15550000621", "lob", "15550000622");
  const std::string to = user_jid("15550000622");
  json loc = ok(call(t.sup, {{"cmd", "send_location"}, {"profile", "loa"}, {"to", to}, {"latitude", -33.8568},
                             {"longitude", 151.2153}, {"name", "Opera House"}}));
  json l = wait_message_with(t.ev, "lob", "id", loc["id"], kWait);
  REQUIRE(l.is_object());
  CHECK(l["msg_type"] == "location");
  CHECK(l["latitude"].get<double>() == doctest::Approx(-33.8568));
  CHECK(l["longitude"].get<double>() == doctest::Approx(151.2153));
  CHECK(l["name"] == "Opera House");
  CHECK(l["live"] == false);
  CHECK_FALSE(l.contains("text"));

  json card = ok(call(t.sup, {{"cmd", "send_contact"}, {"profile", "loa"}, {"to", to}, {"name", "Jane Doe"},
                              {"phone", "+1 555 010 9999"}, {"quoted_id", loc["id"]}}));
  json c = wait_message_with(t.ev, "lob", "id", card["id"], kWait);
  REQUIRE(c.is_object());
  CHECK(c["msg_type"] == "contact");
  REQUIRE(c["contacts"].size() == 1);
  CHECK(c["contacts"][0]["name"] == "Jane Doe");
  CHECK(c["contacts"][0]["vcard"].get<std::string>().find("waid=15550109999") != std::string::npos);
  CHECK(c["quoted_id"] == loc["id"]);

  // Bad input is refused before anything is sent.
  CHECK(error_code(call(t.sup, {{"cmd", "send_location"}, {"profile", "loa"}, {"to", to}, {"latitude", 91},
                                {"longitude", 0}})) == "bad_request");
  CHECK(error_code(call(t.sup, {{"cmd", "send_location"}, {"profile", "loa"}, {"to", to}, {"latitude", "1"},
                                {"longitude", 0}})) == "bad_request");
  CHECK(error_code(call(t.sup, {{"cmd", "send_contact"}, {"profile", "loa"}, {"to", to}, {"name", "x"}})) ==
        "bad_request");
  CHECK(error_code(call(t.sup, {{"cmd", "send_contact"}, {"profile", "loa"}, {"to", to}, {"name", "x"},
                                {"phone", "12"}})) == "bad_request");
  // Text is still typed text.
  json txt = ok(send_text(t.sup, "loa", to, "plain"));
  json p = wait_message_with(t.ev, "lob", "id", txt["id"], kWait);
  REQUIRE(p.is_object());
  CHECK(p["msg_type"] == "text");
}
