// Polls and edits between two of our accounts on the LID-first server
// (issue 14): a poll sent with `poll` arrives as a `poll` event, votes from
// either side are sealed with the poll's message secret and arrive as
// `poll_vote` events with the option names, a new vote replaces the
// voter's previous one in `poll_results`; `edit` on our own message arrives
// as an `edited` event, and the client-side window and ownership are enforced.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr auto kWait = 20s;

// The first event of `type` for `profile` that `pred` accepts, waiting up to kWait.
json wait_event_where(EventLog& ev, const std::string& profile, const std::string& type,
                      const std::function<bool(const json&)>& pred) {
  json found;
  ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, profile, type))
      if (pred(e)) {
        found = e;
        return true;
      }
    return false;
  }, kWait);
  return found;
}

json vote(const Supervisor& sup, const std::string& profile, const std::string& chat, const std::string& id,
          const json& options, const std::string& client_id) {
  return sup.call({{"cmd", "vote"}, {"profile", profile}, {"chat", chat}, {"id", id}, {"options", options},
                   {"client_id", client_id}},
                  30000);
}

// option name -> count, from a poll_results answer.
std::map<std::string, int> counts(const json& results) {
  std::map<std::string, int> out;
  for (const auto& o : results["options"]) out[o["name"].get<std::string>()] = o["count"].get<int>();
  return out;
}

}  // namespace

TEST_CASE("polls: created and voted on from both sides with a new vote replacing the old one") {
  TwoAccounts t("pla", "15550000601", "plb", "15550000602");
  const std::string b_jid = user_jid("15550000602");
  json created = ok(t.sup.call({{"cmd", "poll"}, {"profile", "pla"}, {"to", b_jid}, {"name", "Lunch?"},
                                {"options", {"Pizza", "Sushi", "Salad"}}, {"client_id", "poll-1"}},
                               30000));
  const std::string poll_id = created["id"];

  json p = wait_event_where(t.ev, "plb", "poll", [&](const json& e) { return e.value("id", "") == poll_id; });
  REQUIRE(p.is_object());
  CHECK(p["name"] == "Lunch?");
  CHECK(p["options"] == json({"Pizza", "Sushi", "Salad"}));
  CHECK(p["selectable"] == 1);
  CHECK(p["msg_type"] == "poll");
  CHECK_FALSE(p.contains("protobuf"));

  // B votes on A's poll, naming it as its event did.
  ok(vote(t.sup, "plb", p["chat"], poll_id, {"Sushi"}, "v-1"));
  json v = wait_event_where(t.ev, "pla", "poll_vote", [&](const json& e) { return e.contains("options"); });
  REQUIRE(v.is_object());
  INFO(v.dump());
  CHECK(v["poll_id"] == poll_id);
  CHECK(v["options"] == json({"Sushi"}));
  CHECK_FALSE(v.contains("error"));
  CHECK(user_of(v["voter"]) == user_of(t.b_lid));
  json r = ok(t.sup.call({{"cmd", "poll_results"}, {"profile", "pla"}, {"chat", b_jid}, {"id", poll_id}}));
  CHECK(counts(r) == std::map<std::string, int>{{"Pizza", 0}, {"Salad", 0}, {"Sushi", 1}});
  CHECK(r["voters"] == 1);

  // B changes its mind: the new vote replaces the old one.
  ok(vote(t.sup, "plb", p["chat"], poll_id, {"Pizza"}, "v-2"));
  json v2 = wait_event_where(t.ev, "pla", "poll_vote", [&](const json& e) {
    return e.contains("options") && e["options"] == json({"Pizza"});
  });
  REQUIRE(v2.is_object());
  r = ok(t.sup.call({{"cmd", "poll_results"}, {"profile", "pla"}, {"chat", b_jid}, {"id", poll_id}}));
  CHECK(counts(r) == std::map<std::string, int>{{"Pizza", 1}, {"Salad", 0}, {"Sushi", 0}});

  // A votes on its own poll: B decrypts it with the poll's secret, and A
  // counts its own vote too.
  ok(vote(t.sup, "pla", b_jid, poll_id, {"Salad"}, "v-3"));
  json va = wait_event_where(t.ev, "plb", "poll_vote", [&](const json& e) { return e.contains("options"); });
  REQUIRE(va.is_object());
  CHECK(va["options"] == json({"Salad"}));
  r = ok(t.sup.call({{"cmd", "poll_results"}, {"profile", "pla"}, {"chat", b_jid}, {"id", poll_id}}));
  CHECK(r["voters"] == 2);
  CHECK(counts(r)["Salad"] == 1);
  json rb = ok(t.sup.call({{"cmd", "poll_results"}, {"profile", "plb"}, {"chat", p["chat"]}, {"id", poll_id}}));
  CHECK(counts(rb)["Salad"] == 1);
  CHECK(counts(rb)["Pizza"] == 1);  // B's own vote

  // Refusals: an option the poll does not have, two options on a single
  // choice poll, a poll nobody knows.
  CHECK(error_code(vote(t.sup, "plb", p["chat"], poll_id, {"Soup"}, "v-4")) == "bad_request");
  CHECK(error_code(vote(t.sup, "plb", p["chat"], poll_id, {"Pizza", "Sushi"}, "v-5")) == "bad_request");
  CHECK(error_code(vote(t.sup, "plb", p["chat"], "3EB0000000000000DEAD", {"Pizza"}, "v-6")) == "unknown_poll");
  CHECK(error_code(t.sup.call({{"cmd", "poll_results"}, {"profile", "pla"}, {"chat", b_jid},
                               {"id", "3EB0000000000000DEAD"}})) == "unknown_poll");
  // A multiple-choice poll in the other direction.
  json multi = ok(t.sup.call({{"cmd", "poll"}, {"profile", "plb"}, {"to", user_jid("15550000601")}, {"name", "Days"},
                              {"options", {"Mon", "Tue"}}, {"multiple", true}, {"client_id", "poll-2"}},
                             30000));
  json pm = wait_event_where(t.ev, "pla", "poll", [&](const json& e) { return e.value("id", "") == multi["id"]; });
  REQUIRE(pm.is_object());
  CHECK(pm["selectable"] == 0);
  ok(vote(t.sup, "pla", pm["chat"], multi["id"], {"Mon", "Tue"}, "v-7"));
  json vm = wait_event_where(t.ev, "plb", "poll_vote", [&](const json& e) { return e.value("poll_id", "") == multi["id"]; });
  REQUIRE(vm.is_object());
  CHECK(vm["options"] == json({"Mon", "Tue"}));
  CHECK(events_of(t.ev.all(), "pla", "undecryptable").empty());
  CHECK(events_of(t.ev.all(), "plb", "undecryptable").empty());
}

TEST_CASE("edits: our message edited and the receiver told while others messages and old ones are refused") {
  TwoAccounts t("eda", "15550000611", "edb", "15550000612");
  const std::string b_jid = user_jid("15550000612");
  json sent = ok(send_text(t.sup, "eda", b_jid, "first version"));
  json m = wait_message_with(t.ev, "edb", "text", "first version", kWait);
  REQUIRE(m.is_object());

  ok(t.sup.call({{"cmd", "edit"}, {"profile", "eda"}, {"chat", b_jid}, {"id", sent["id"]}, {"text", "second version"},
                 {"client_id", "e-1"}},
                30000));
  json e = wait_event_where(t.ev, "edb", "edited", [&](const json& x) { return x.value("target_id", "") == sent["id"]; });
  REQUIRE(e.is_object());
  INFO(e.dump());
  CHECK(e["text"] == "second version");
  CHECK(e["chat"] == m["chat"]);
  CHECK(e["encrypted"] == false);
  CHECK(e["msg_type"] == "edit");
  CHECK(user_of(e["target_sender"]) == user_of(m["sender"]));
  CHECK(e["edit_timestamp"].get<int64_t>() > 0);
  // The inbox keeps the history: the original stays, the edit is its own entry.
  json replay = ok(t.sup.call({{"cmd", "events"}, {"profile", "edb"}, {"since", 0}}));
  bool original = false, edited = false;
  for (const auto& x : replay["events"]) {
    if (x.value("type", "") == "message" && x.value("id", "") == m["id"]) original = x.value("text", "") == "first version";
    if (x.value("type", "") == "edited" && x.value("target_id", "") == sent["id"]) edited = true;
  }
  CHECK(original);
  CHECK(edited);

  // B cannot edit A's message.
  json refused = t.sup.call({{"cmd", "edit"}, {"profile", "edb"}, {"chat", m["chat"]}, {"id", m["id"]}, {"text", "x"},
                             {"client_id", "e-2"}},
                            30000);
  CHECK(error_code(refused) == "not_editable");

  // Past the window: the message was sent 21 minutes ago as far as the
  // sent-message cache knows.
  json old = ok(send_text(t.sup, "eda", b_jid, "old one"));
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((t.sup.data_dir() + "/eda/store.db").c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const std::string sql = "UPDATE sent_messages SET ts = ts - 1260 WHERE msg_id = '" + old["id"].get<std::string>() + "'";
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    CHECK(sqlite3_changes(db) >= 1);
    sqlite3_close(db);
  }
  json late = t.sup.call({{"cmd", "edit"}, {"profile", "eda"}, {"chat", b_jid}, {"id", old["id"]}, {"text", "too late"},
                          {"client_id", "e-3"}},
                         30000);
  CHECK(error_code(late) == "edit_window_passed");
}

TEST_CASE("polls: a poll whose ack was lost is unknown_outcome once and its secret still opens the votes") {
  TwoAccounts t("pka", "15550000621", "pkb", "15550000622", {{"senders", {{"ack_timeout_ms", 2000}}}});
  const std::string b_jid = user_jid("15550000622");
  ok(send_text(t.sup, "pka", b_jid, "warm"));
  // The server takes the poll but never acknowledges it.
  REQUIRE(t.ts.fault_jid(t.a_dev, {"drop-acks", "1"}).first == 0);
  const json req{{"cmd", "poll"}, {"profile", "pka"}, {"to", b_jid}, {"name", "Lost ack?"},
                 {"options", {"Yes", "No"}}, {"client_id", "lost-1"}};
  json r = t.sup.call(req, 60000);
  INFO(r.dump());
  CHECK(error_code(r) == "unknown_outcome");
  const std::string id = r["error"].value("id", "");
  REQUIRE(id.size() >= 16);
  // The client id remembers the answer: never a second poll.
  json replay = t.sup.call(req, 60000);
  CHECK(error_code(replay) == "unknown_outcome");
  CHECK(replay["error"].value("id", "") == id);
  // It did arrive; the secret was kept before the stanza left, so the
  // answer opens.
  json p = wait_event_where(t.ev, "pkb", "poll", [&](const json& e) { return e.value("id", "") == id; });
  REQUIRE(p.is_object());
  ok(vote(t.sup, "pkb", p["chat"], id, {"Yes"}, "lost-v"));
  json v = wait_event_where(t.ev, "pka", "poll_vote", [&](const json& e) { return e.value("poll_id", "") == id; });
  REQUIRE(v.is_object());
  CHECK(v["options"] == json({"Yes"}));
  CHECK(events_of(t.ev.all(), "pkb", "poll").size() == 1);
}

TEST_CASE("polls: in a group a member votes on another member's poll") {
  TwoAccounts t("pga", "15550000631", "pgb", "15550000632");
  json g = ok(t.sup.call({{"cmd", "group_create"}, {"profile", "pga"}, {"subject", "polls"},
                          {"participants", {user_jid("15550000632")}}}, 30000));
  const std::string gid = g["gid"];
  json created = ok(t.sup.call({{"cmd", "poll"}, {"profile", "pgb"}, {"to", gid}, {"name", "Where?"},
                                {"options", {"Here", "There"}}, {"client_id", "gp-1"}},
                               30000));
  json p = wait_event_where(t.ev, "pga", "poll", [&](const json& e) { return e.value("id", "") == created["id"]; });
  REQUIRE(p.is_object());
  CHECK(p["chat"] == gid);
  ok(vote(t.sup, "pga", gid, created["id"], {"There"}, "gv-1"));
  json v = wait_event_where(t.ev, "pgb", "poll_vote", [&](const json& e) { return e.value("poll_id", "") == created["id"]; });
  REQUIRE(v.is_object());
  INFO(v.dump());
  CHECK(v["chat"] == gid);
  CHECK(v["options"] == json({"There"}));
  json r = ok(t.sup.call({{"cmd", "poll_results"}, {"profile", "pgb"}, {"chat", gid}, {"id", created["id"]}}));
  CHECK(counts(r) == std::map<std::string, int>{{"Here", 0}, {"There", 1}});
}
