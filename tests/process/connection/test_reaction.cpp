// Reactions between two of our accounts on the LID-first server (issue 14):
// sent with `react`, received as `reaction` events naming the message they
// react to, taken back with an empty emoji, 1:1 and in a group.
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr auto kWait = 20s;

json react(const Supervisor& sup, const std::string& profile, const std::string& chat, const std::string& id,
           const std::string& emoji, const std::string& sender = "") {
  json req{{"cmd", "react"}, {"profile", profile}, {"chat", chat}, {"id", id}, {"client_id", "r-" + id + emoji + sender}};
  if (!emoji.empty()) req["emoji"] = emoji;
  if (!sender.empty()) req["sender"] = sender;
  return sup.call(req, 30000);
}

// The reaction event to `target` with this emoji, once it arrived.
json wait_reaction(EventLog& ev, const std::string& profile, const std::string& target, const std::string& emoji) {
  json found;
  ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, profile, "reaction"))
      if (e.value("target_id", "") == target && e.value("emoji", "?") == emoji) found = e;
    return found.is_object();
  }, kWait);
  return found;
}

}  // namespace

TEST_CASE("reactions: one to a received message and one to our own, then taken back") {
  TwoAccounts t("rea", "15550000501", "reb", "15550000502");
  const std::string a_lid = user_of(t.a_lid), b_lid = user_of(t.b_lid);
  json sent = ok(send_text(t.sup, "rea", user_jid("15550000502"), "react to me"));
  json m = wait_message_with(t.ev, "reb", "text", "react to me", kWait);
  REQUIRE(m.is_object());

  // B reacts to A's message, naming the chat and id as its event did.
  ok(react(t.sup, "reb", m["chat"], m["id"], "👍"));
  json r = wait_reaction(t.ev, "rea", sent["id"], "👍");
  REQUIRE(r.is_object());
  CHECK(r["target_from_me"] == true);
  CHECK(user_of(r["sender"]) == b_lid);
  CHECK(r["chat"] == b_lid);
  CHECK(r["removed"] == false);
  CHECK_FALSE(r.contains("protobuf"));
  // Taken back: an empty emoji.
  ok(react(t.sup, "reb", m["chat"], m["id"], ""));
  json gone = wait_reaction(t.ev, "rea", sent["id"], "");
  REQUIRE(gone.is_object());
  CHECK(gone["removed"] == true);

  // A reacts to its own message: B sees a reaction to a message of A's.
  ok(react(t.sup, "rea", user_jid("15550000502"), sent["id"], "❤️"));
  json own = wait_reaction(t.ev, "reb", sent["id"], "❤️");
  REQUIRE(own.is_object());
  CHECK(own["target_from_me"] == false);
  CHECK(own["target_sender"] == a_lid);
  // Logged like messages: a consumer replaying the log finds them.
  json replay = t.sup.call({{"cmd", "events"}, {"profile", "rea"}, {"since", 0}});
  size_t logged = 0;
  const json logged_events = ok(replay)["events"];
  for (const auto& e : logged_events)
    if (e.value("type", "") == "reaction") ++logged;
  CHECK(logged == 2);
  CHECK(events_of(t.ev.all(), "rea", "undecryptable").empty());
  CHECK(events_of(t.ev.all(), "reb", "undecryptable").empty());
}

TEST_CASE("reactions: in a group, to a member's message (its author named) and to our own") {
  TwoAccounts t("rga", "15550000511", "rgb", "15550000512");
  json g = ok(t.sup.call({{"cmd", "group_create"}, {"profile", "rga"}, {"subject", "reactions"},
                          {"participants", {user_jid("15550000512")}}}, 30000));
  const std::string gid = g["gid"];
  json sent = ok(send_text(t.sup, "rgb", gid, "group message from b"));
  json m = wait_message_with(t.ev, "rga", "text", "group message from b", kWait);
  REQUIRE(m.is_object());
  // Someone else's group message without its author: refused, nothing sent.
  json refused = react(t.sup, "rga", gid, m["id"], "😮");
  CHECK(error_code(refused) == "bad_request");
  ok(react(t.sup, "rga", gid, m["id"], "😮", m["sender"]));
  json r = wait_reaction(t.ev, "rgb", sent["id"], "😮");
  REQUIRE(r.is_object());
  CHECK(r["chat"] == gid);
  CHECK(r["target_from_me"] == true);
  // B reacts to its own group message.
  ok(react(t.sup, "rgb", gid, sent["id"], "🎉"));
  json own = wait_reaction(t.ev, "rga", sent["id"], "🎉");
  REQUIRE(own.is_object());
  CHECK(own["target_from_me"] == false);
  CHECK(user_of(own["target_sender"]) == user_of(m["sender"]));
}
