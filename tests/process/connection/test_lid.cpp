// Our accounts on the LID-first server (issue 12, docs/PROTOCOL.md §12.1,
// §12.2): who writes to which namespace, what events say, how sessions move
// when a contact migrates, privacy tokens and the 463 path, a number change.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <tuple>

#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

constexpr auto kWait = 20s;

std::unique_ptr<wa::store::Store> profile_store(const Supervisor& sup, const std::string& profile) {
  auto st = wa::store::open_sqlite(sup.data_dir() + "/" + profile + "/store.db");
  if (!st) throw std::runtime_error("store: " + st.error().message);
  return std::move(*st);
}

// The message event with this text, once it arrived.
json wait_text(EventLog& ev, const std::string& profile, const std::string& text) {
  return wait_message_with(ev, profile, "text", text, kWait);
}

// Messages the server refused with this ack error code.
uint64_t refused(const TestServer& ts, int code) {
  json st = server_status(ts);
  return st["counters"]["refused"].value(std::to_string(code), uint64_t{0});
}

// Whether HOLDER's store has a privacy token from ISSUER (by its LID user),
// waited for: tokens come as a notification after the issuer's iq.
bool holds_token_from(const Supervisor& sup, const std::string& holder, const std::string& issuer_lid) {
  const std::string user = issuer_lid.substr(0, issuer_lid.find_first_of(":@"));
  return wait_until([&] {
    auto st = profile_store(sup, holder);
    auto tok = st->get_credential("tctoken:" + user);
    return tok && tok->has_value();
  }, kWait);
}

json send_ok(const Supervisor& sup, const std::string& profile, const std::string& to, const std::string& text) {
  json r = send_text(sup, profile, to, text);
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  return r;
}

}  // namespace

TEST_CASE("lid: migrated accounts write to each other's LIDs, events carry both identities") {
  TwoAccounts t("lma", "15550000301", "lmb", "15550000302");
  const std::string a_pn = user_jid("15550000301"), b_pn = user_jid("15550000302");
  const std::string a_lid = user_of(t.a_lid), b_lid = user_of(t.b_lid);
  REQUIRE(a_lid.ends_with("@lid"));

  send_ok(t.sup, "lma", b_pn, "to b by number");  // resolved to B's LID
  json m = wait_text(t.ev, "lmb", "to b by number");
  REQUIRE(m.is_object());
  CHECK(m["chat"] == a_lid);
  CHECK(m["chat_pn"] == a_pn);
  CHECK(user_of(m["sender"]) == a_lid);
  CHECK(user_of(m["sender_pn"]) == a_pn);

  // B answers the LID it was written from.
  send_ok(t.sup, "lmb", m["chat"], "to a by lid");
  json back = wait_text(t.ev, "lma", "to a by lid");
  REQUIRE(back.is_object());
  CHECK(back["chat"] == b_lid);
  CHECK(back["chat_pn"] == b_pn);
  // A's store keeps B's session under B's LID only.
  auto st = profile_store(t.sup, "lma");
  CHECK(**st->lid_for_pn("15550000302") == b_lid.substr(0, b_lid.find('@')));
  CHECK_FALSE(st->session_devices(b_lid.substr(0, b_lid.find('@')) + "_1")->empty());
  // The delivery receipt names B's LID, with the number beside it.
  CHECK(t.ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "lma", "receipt"))
      if (e["chat"] == b_lid && e.value("chat_pn", "") == b_pn) return true;
    return false;
  }, kWait));
  // Nothing could not be decrypted anywhere.
  CHECK(events_of(t.ev.all(), "lma", "undecryptable").empty());
  CHECK(events_of(t.ev.all(), "lmb", "undecryptable").empty());
  // Our stanzas never mixed namespaces, nor wrote a DM the wrong way.
  CHECK(refused(t.ts, 400) == 0);
  CHECK(refused(t.ts, 463) == 0);
}

TEST_CASE("lid: a migrated and an unmigrated account write to each other, each in its own namespace") {
  TwoAccounts t("lxa", "15550000311", "lxb", "15550000312", json::object(), {},
                [](TestServer& ts) { REQUIRE(ts.admin({"migrate", "--state", ts.state(), "--phone", "15550000312", "off"}).first == 0); });
  const std::string a_pn = user_jid("15550000311"), b_pn = user_jid("15550000312");
  const std::string a_lid = user_of(t.a_lid), b_lid = user_of(t.b_lid);

  // B (not migrated) writes by number; A reads it as B's number, the LID beside it.
  send_ok(t.sup, "lxb", a_pn, "pn dm from b");
  json m = wait_text(t.ev, "lxa", "pn dm from b");
  REQUIRE(m.is_object());
  CHECK(m["chat"] == b_pn);
  CHECK(m["chat_lid"] == b_lid);
  // A (migrated) answers to B's LID even when given B's number.
  send_ok(t.sup, "lxa", b_pn, "lid dm from a");
  json r = wait_text(t.ev, "lxb", "lid dm from a");
  REQUIRE(r.is_object());
  CHECK(r["chat"] == a_lid);
  CHECK(r["chat_pn"] == a_pn);
  // B given A's LID still writes by number (a LID DM from it would be refused).
  send_ok(t.sup, "lxb", a_lid, "pn dm again");
  json again = wait_text(t.ev, "lxa", "pn dm again");
  REQUIRE(again.is_object());
  CHECK(again["chat"] == b_pn);
  CHECK(events_of(t.ev.all(), "lxa", "undecryptable").empty());
  CHECK(events_of(t.ev.all(), "lxb", "undecryptable").empty());
  CHECK(refused(t.ts, 400) == 0);
  CHECK(refused(t.ts, 463) == 0);
}

TEST_CASE("lid: two unmigrated accounts chat by phone number on the LID-first server") {
  TwoAccounts t("lna", "15550000321", "lnb", "15550000322", json::object(), {}, [](TestServer& ts) {
    for (const char* p : {"15550000321", "15550000322"})
      REQUIRE(ts.admin({"migrate", "--state", ts.state(), "--phone", p, "off"}).first == 0);
  });
  send_ok(t.sup, "lna", user_jid("15550000322"), "pn both ways 1");
  json m = wait_text(t.ev, "lnb", "pn both ways 1");
  REQUIRE(m.is_object());
  CHECK(m["chat"] == user_jid("15550000321"));
  send_ok(t.sup, "lnb", m["chat"], "pn both ways 2");
  json back = wait_text(t.ev, "lna", "pn both ways 2");
  REQUIRE(back.is_object());
  CHECK(back["chat"] == user_jid("15550000322"));
  CHECK(refused(t.ts, 400) == 0);
}

TEST_CASE("lid: a sender whose phone number the server withholds is answered by LID") {
  TwoAccounts t("loa", "15550000331", "lob", "15550000332");
  REQUIRE(t.ts.fault_phone("15550000332", {"omit-pn"}).first == 0);
  send_ok(t.sup, "loa", user_of(t.b_lid), "no number for you");
  json m = wait_text(t.ev, "lob", "no number for you");
  REQUIRE(m.is_object());
  CHECK(m["chat"] == user_of(t.a_lid));
  CHECK_FALSE(m.contains("chat_pn"));  // nobody told B
  CHECK_FALSE(m.contains("sender_pn"));
  send_ok(t.sup, "lob", m["chat"], "answered by lid");
  json back = wait_text(t.ev, "loa", "answered by lid");
  REQUIRE(back.is_object());
  CHECK(back["chat_pn"] == user_jid("15550000332"));
}

TEST_CASE("lid: a first message without trust is refused 463 and not resent, the contact's token opens the chat") {
  TwoAccounts t("lta", "15550000341", "ltb", "15550000342", json::object(), {"--tctoken", "require"});
  const std::string a_pn = user_jid("15550000341"), b_pn = user_jid("15550000342");
  uint64_t before = 0;
  {
    json st = server_status(t.ts);
    before = st["counters"].value("messages", uint64_t{0});
  }
  json r = send_text(t.sup, "lta", b_pn, "cold hello");
  INFO(r.dump());
  REQUIRE_FALSE(r.value("ok", true));
  CHECK(r["error"]["code"] == "privacy_token_required");
  // One stanza reached the server: the refused one, never a resend.
  CHECK(server_status(t.ts)["counters"].value("messages", uint64_t{0}) == before + 1);
  // A gave B its token after the refusal: B's store gets it (notification).
  CHECK(holds_token_from(t.sup, "ltb", t.a_lid));
  // B writes to A with that token: delivered; now A may write to B.
  send_ok(t.sup, "ltb", a_pn, "warm hello");
  CHECK(wait_text(t.ev, "lta", "warm hello").is_object());
  send_ok(t.sup, "lta", b_pn, "now we talk");
  CHECK(wait_text(t.ev, "ltb", "now we talk").is_object());
  CHECK_FALSE(has_message(t.ev, "ltb", "cold hello"));
  CHECK(refused(t.ts, 463) == 1);
  CHECK(refused(t.ts, 400) == 0);
}

// Our privacy token is issued by the connection worker after a DM was
// answered (the sender names the contact in its done): once per token bucket
// where the server takes tokens, and once per connection where it answers
// 501 - never one iq per message, and never a send waiting for it.
TEST_CASE("lid: our privacy token is issued once per contact, and a server without tokens is asked once per connection") {
  auto token_iqs = [](const TestServer& ts) {
    return server_status(ts)["counters"].value("privacy_token_iqs", uint64_t{0});
  };
  SUBCASE("the 2026 server takes it once for many messages") {
    TwoAccounts t("tia", "15550000361", "tib", "15550000362");
    for (int i = 0; i < 4; ++i) send_ok(t.sup, "tia", user_jid("15550000362"), "tok " + std::to_string(i));
    CHECK(wait_until([&] { return server_status(t.ts)["counters"].value("privacy_tokens", uint64_t{0}) == 1; }, kWait));
    CHECK(holds_token_from(t.sup, "tib", t.a_lid));
    send_ok(t.sup, "tia", user_jid("15550000362"), "tok after");
    CHECK(wait_text(t.ev, "tib", "tok after").is_object());
    CHECK(token_iqs(t.ts) == 1);
  }
  SUBCASE("the 2024 server, which answers 501, is asked once") {
    TwoAccounts t("tpa", "15550000363", "tpb", "15550000364", json::object(), {"--addressing", "pn"});
    for (int i = 0; i < 4; ++i) send_ok(t.sup, "tpa", user_jid("15550000364"), "pn tok " + std::to_string(i));
    CHECK(wait_until([&] { return token_iqs(t.ts) >= 1; }, kWait));
    CHECK(wait_text(t.ev, "tpb", "pn tok 3").is_object());
    send_ok(t.sup, "tpa", user_jid("15550000364"), "pn tok after");
    CHECK(wait_text(t.ev, "tpb", "pn tok after").is_object());
    CHECK(token_iqs(t.ts) == 1);
    CHECK(server_status(t.ts)["counters"].value("privacy_tokens", uint64_t{0}) == 0);
  }
}

TEST_CASE("lid: a contact migrating mid-conversation keeps its session, moved to the LID, and the next messages decrypt") {
  // The 2024 world first: phone-number sessions both ways.
  TwoAccounts t("lga", "15550000351", "lgb", "15550000352", json::object(), {"--addressing", "pn"});
  const std::string a_pn = user_jid("15550000351"), b_pn = user_jid("15550000352");
  send_ok(t.sup, "lga", b_pn, "before 1");
  REQUIRE(wait_text(t.ev, "lgb", "before 1").is_object());
  send_ok(t.sup, "lgb", a_pn, "before 2");
  REQUIRE(wait_text(t.ev, "lga", "before 2").is_object());
  // Sessions made before either side had a LID for the other: both stores
  // as the 2024 world left them - sessions by number, no mapping (usync
  // answers LIDs even here, so the setup puts it back that way).
  for (const char* p : {"lga", "lgb"}) REQUIRE(t.sup.call({{"cmd", "stop"}, {"profile", p}}).value("ok", false));
  for (const auto& [p, own_pn, peer_pn] : {std::tuple{"lga", "15550000351", "15550000352"},
                                           std::tuple{"lgb", "15550000352", "15550000351"}}) {
    auto st = profile_store(t.sup, p);
    auto peer_lid = st->lid_for_pn(peer_pn);
    REQUIRE(peer_lid->has_value());
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((t.sup.data_dir() + "/" + p + "/store.db").c_str(), &db) == SQLITE_OK);
    const std::string lid_name = **peer_lid + "_1";
    const std::string sql = "UPDATE sessions SET name = '" + std::string(peer_pn) + "' WHERE name = '" + lid_name +
                            "'; UPDATE identities SET name = '" + std::string(peer_pn) + "' WHERE name = '" + lid_name +
                            "'; DELETE FROM lid_mappings WHERE pn_user <> '" + own_pn + "'; DELETE FROM credentials WHERE name = 'lid_migrated';";
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_FALSE(profile_store(t.sup, p)->session_devices(peer_pn)->empty());
  }
  const long b_prekeys = server_prekeys(t.ts, t.b_dev);
  const long a_prekeys = server_prekeys(t.ts, t.a_dev);
  REQUIRE(b_prekeys > 0);

  // The server turns LID-first (every account migrated); both come back
  // and learn it from the AB props.
  size_t opens_a = count_of(t.ev, "lga", "connection", "open"), opens_b = count_of(t.ev, "lgb", "connection", "open");
  t.ts.restart({});
  for (const char* p : {"lga", "lgb"}) REQUIRE(t.sup.call({{"cmd", "start"}, {"profile", p}}).value("ok", false));
  REQUIRE(wait_event(t.ev, "lga", "connection", "open", opens_a, 40s));
  REQUIRE(wait_event(t.ev, "lgb", "connection", "open", opens_b, 40s));
  REQUIRE(wait_until([&] {
    auto a = profile_store(t.sup, "lga")->get_credential("lid_migrated");
    auto b = profile_store(t.sup, "lgb")->get_credential("lid_migrated");
    return a && a->has_value() && b && b->has_value();
  }, kWait));

  send_ok(t.sup, "lga", b_pn, "after 1");
  json m = wait_text(t.ev, "lgb", "after 1");
  REQUIRE(m.is_object());
  CHECK(m["chat"].get<std::string>().ends_with("@lid"));
  CHECK(m["chat_pn"] == a_pn);
  send_ok(t.sup, "lgb", a_pn, "after 2");
  REQUIRE(wait_text(t.ev, "lga", "after 2").is_object());
  // Moved, not rebuilt: no one-time prekey was spent, nothing failed, and
  // nothing is left under the phone number.
  CHECK(server_prekeys(t.ts, t.b_dev) == b_prekeys);
  CHECK(server_prekeys(t.ts, t.a_dev) == a_prekeys);
  CHECK(events_of(t.ev.all(), "lga", "undecryptable").empty());
  CHECK(events_of(t.ev.all(), "lgb", "undecryptable").empty());
  for (const auto& [p, peer_pn] : {std::pair{"lga", "15550000352"}, std::pair{"lgb", "15550000351"}}) {
    auto st = profile_store(t.sup, p);
    auto peer_lid = st->lid_for_pn(peer_pn);
    REQUIRE(peer_lid->has_value());
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((t.sup.data_dir() + "/" + p + "/store.db").c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM sessions WHERE name = ?", -1, &q, nullptr) == SQLITE_OK);
    sqlite3_bind_text(q, 1, peer_pn, -1, SQLITE_TRANSIENT);
    REQUIRE(sqlite3_step(q) == SQLITE_ROW);
    CHECK_MESSAGE(sqlite3_column_int(q, 0) == 0, p);
    sqlite3_finalize(q);
    sqlite3_close(db);
    CHECK_FALSE(st->session_devices(**peer_lid + "_1")->empty());
  }
}

TEST_CASE("lid: a number that moves to a new account is re-mapped by its contacts") {
  TwoAccounts t("lca", "15550000361", "lcb", "15550000362");
  const std::string a_pn = user_jid("15550000361"), b_pn = user_jid("15550000362");
  send_ok(t.sup, "lca", b_pn, "hello before");
  REQUIRE(wait_text(t.ev, "lcb", "hello before").is_object());
  const std::string old_lid = user_of(t.a_lid);

  auto [rc, out] = t.ts.admin({"new-lid", "--state", t.ts.state(), "--phone", "15550000361"});
  REQUIRE_MESSAGE(rc == 0, out);
  const std::string new_lid = json::parse(out)["result"]["lid"];
  CHECK(new_lid != old_lid);
  REQUIRE(t.ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "lcb", "contact_changed"))
      if (e["pn"] == a_pn && e["lid"] == new_lid && e.value("old_lid", "") == old_lid) return true;
    return false;
  }, kWait));
  CHECK(**profile_store(t.sup, "lcb")->lid_for_pn("15550000361") == new_lid.substr(0, new_lid.find('@')));
  // B's next message by number reaches A under its new LID.
  send_ok(t.sup, "lcb", a_pn, "hello new lid");
  json m = wait_text(t.ev, "lca", "hello new lid");
  REQUIRE(m.is_object());
  CHECK(m["chat_pn"] == b_pn);
}
