// The LID-first server (`serve --addressing lid`): addressing rules, alt
// attributes, lid groups, privacy tokens, number change. Each case also
// states what the pn server (the default) still does, so a rule that leaks
// into the old world fails here.
#include <doctest/doctest.h>

#include "route_helpers.hpp"
#include <sqlite3.h>

#include "routing.hpp"
#include "temp_dir.hpp"

using namespace wa;
using namespace wa::testserver;
using binary::Node;

using namespace wa::testserver::test_helpers;

namespace {

constexpr uint64_t kNow = 1780000000;

Node dm(const std::string& id, const std::string& to_jid, std::vector<std::string> device_jids) {
  Node msg("message", {{"id", id}, {"to", to_jid}, {"type", "text"}});
  binary::Children tos;
  uint8_t b = 1;
  for (const auto& j : device_jids) tos.push_back(to(j, enc("msg", b++)));
  msg.content = binary::Children{Node("participants", {}, std::move(tos))};
  return msg;
}

// 155501 (devices 1, 2) and 155502 (devices 1, 3); lid mode unless told.
struct Fixture {
  test::TempDir dir;
  State st = State::open(dir.path(), kNow).value();
  std::string a_lid, b_lid;
  explicit Fixture(bool lid = true) {
    add_device(st, "155501", 1);
    add_device(st, "155501", 2);
    add_device(st, "155502", 1);
    add_device(st, "155502", 3);
    st.policy.lid = lid;
    st.policy.refuse_pn_lookups = lid;
    a_lid = st.account("155501")->lid;
    b_lid = st.account("155502")->lid;
  }
  std::string al(uint16_t d = 0) const { return lid_jid(a_lid, d); }
  std::string bl(uint16_t d = 0) const { return lid_jid(b_lid, d); }
};

int error_code_of(const Result<RoutePlan>& r) { return r ? 0 : ack_error_code(r.error()); }

}  // namespace

TEST_CASE("lid mode: a 1:1 message mixing PN and LID device JIDs is refused with 400, nothing delivered") {
  Fixture f;
  // Peer devices in the other namespace than `to`.
  auto mixed = plan_message(f.st, {"155501", 1}, dm("X1", f.bl(), {f.bl(1), "155502:3@s.whatsapp.net"}), kNow);
  CHECK(error_code_of(mixed) == 400);
  // Own devices in the other namespace.
  auto own = plan_message(f.st, {"155501", 1}, dm("X2", f.bl(), {f.bl(1), f.bl(3), "155501:2@s.whatsapp.net"}), kNow);
  CHECK(error_code_of(own) == 400);
  // One device listed in both forms.
  auto both = plan_message(f.st, {"155501", 1}, dm("X3", f.bl(), {f.bl(3), "155502:3@s.whatsapp.net"}), kNow);
  CHECK(error_code_of(both) == 400);
  // A PN `to` over LID devices.
  auto pn_to = plan_message(f.st, {"155501", 1}, dm("X4", "155502@s.whatsapp.net", {f.bl(1)}), kNow);
  CHECK(error_code_of(pn_to) == 400);

  // The pn server keeps delivering such a stanza, as it always did.
  Fixture old(false);
  auto kept = plan_message(old.st, {"155501", 1}, dm("X1", old.bl(), {old.bl(1), "155502:3@s.whatsapp.net"}), kNow);
  REQUIRE(kept);
  CHECK(kept->deliveries.size() == 2);
}

TEST_CASE("lid mode: a LID-addressed DM needs a LID-migrated sender - it arrives from SENDERLID:d with sender_pn") {
  Fixture f;
  REQUIRE(f.st.set_lid_migrated("155501", false));
  auto refused = plan_message(f.st, {"155501", 1}, dm("L1", f.bl(), {f.bl(1), f.bl(3)}), kNow);
  CHECK(error_code_of(refused) == 400);

  REQUIRE(f.st.set_lid_migrated("155501", true));
  auto plan = plan_message(f.st, {"155501", 1}, dm("L2", f.bl(), {f.bl(1), f.bl(3), f.al(2)}), kNow);
  REQUIRE(plan);
  CHECK(plan->deliveries.size() == 3);
  const Delivery* b3 = find(*plan, "155502", 3);
  REQUIRE(b3);
  CHECK(b3->node.attr_or("from", "") == f.al(1));
  CHECK(b3->node.attr_or("sender_pn", "") == "155501@s.whatsapp.net");
  CHECK_FALSE(b3->node.has_attr("sender_lid"));
  CHECK_FALSE(b3->node.has_attr("addressing_mode"));
  // The sender's other device: chat in the same namespace, PN as the alt.
  const Delivery* a2 = find(*plan, "155501", 2);
  REQUIRE(a2);
  CHECK(a2->node.attr_or("from", "") == f.al(1));
  CHECK(a2->node.attr_or("recipient", "") == f.bl());
  CHECK(a2->node.attr_or("peer_recipient_pn", "") == "155502@s.whatsapp.net");
  CHECK_FALSE(a2->node.has_attr("peer_recipient_lid"));
}

TEST_CASE("lid mode: a PN-addressed DM between migrated accounts gets 463 - to an unmigrated one it arrives with sender_lid") {
  Fixture f;
  auto pn = dm("P1", "155502@s.whatsapp.net", {"155502:1@s.whatsapp.net", "155501:2@s.whatsapp.net"});
  CHECK(error_code_of(plan_message(f.st, {"155501", 1}, pn, kNow)) == 463);

  f.st.policy.pn_dm_to_migrated_463 = false;  // --pn-dm-to-migrated deliver
  auto delivered = plan_message(f.st, {"155501", 1}, pn, kNow);
  REQUIRE(delivered);
  CHECK(delivered->deliveries.size() == 2);

  f.st.policy.pn_dm_to_migrated_463 = true;
  REQUIRE(f.st.set_lid_migrated("155502", false));
  auto plan = plan_message(f.st, {"155501", 1}, pn, kNow);
  REQUIRE(plan);
  const Delivery* b1 = find(*plan, "155502", 1);
  REQUIRE(b1);
  CHECK(b1->node.attr_or("from", "") == "155501:1@s.whatsapp.net");
  CHECK(b1->node.attr_or("sender_lid", "") == f.al());
  CHECK_FALSE(b1->node.has_attr("sender_pn"));
  const Delivery* a2 = find(*plan, "155501", 2);
  REQUIRE(a2);
  CHECK(a2->node.attr_or("recipient", "") == "155502@s.whatsapp.net");
  CHECK(a2->node.attr_or("peer_recipient_lid", "") == f.bl());

  // The pn server adds no alt attributes at all.
  Fixture old(false);
  auto oldplan = plan_message(old.st, {"155501", 1}, pn, kNow);
  REQUIRE(oldplan);
  const Delivery* ob1 = find(*oldplan, "155502", 1);
  REQUIRE(ob1);
  CHECK_FALSE(ob1->node.has_attr("sender_lid"));
}

TEST_CASE("lid mode: peer messages stay PN and are never refused, without alt attributes") {
  Fixture f;
  Node peer = dm("Q1", "155501@s.whatsapp.net", {"155501:2@s.whatsapp.net"});
  peer.set_attr("category", "peer");
  f.st.policy.require_tctoken = true;
  auto plan = plan_message(f.st, {"155501", 1}, peer, kNow);
  REQUIRE(plan);
  REQUIRE(plan->deliveries.size() == 1);
  CHECK(plan->deliveries[0].node.attr_or("from", "") == "155501:1@s.whatsapp.net");
  CHECK(plan->deliveries[0].node.attr_or("category", "") == "peer");
  CHECK_FALSE(plan->deliveries[0].node.has_attr("sender_lid"));
}

TEST_CASE("lid mode: DMs never carry addressing_mode even when the sender put one on") {
  Fixture f;
  Node msg = dm("A1", f.bl(), {f.bl(1)});
  msg.set_attr("addressing_mode", "lid");
  auto plan = plan_message(f.st, {"155501", 1}, msg, kNow);
  REQUIRE(plan);
  REQUIRE(plan->deliveries.size() == 1);
  CHECK_FALSE(plan->deliveries[0].node.has_attr("addressing_mode"));
}

TEST_CASE("omit-pn: deliveries to the faulted device carry no sender_pn, peer_recipient_pn or participant_pn") {
  Fixture f;
  f.st.set_omit_pn("155502", 3);
  f.st.set_omit_pn("155501", 2);
  auto plan = plan_message(f.st, {"155501", 1}, dm("O1", f.bl(), {f.bl(1), f.bl(3), f.al(2)}), kNow);
  REQUIRE(plan);
  CHECK_FALSE(find(*plan, "155502", 3)->node.has_attr("sender_pn"));
  CHECK(find(*plan, "155502", 1)->node.attr_or("sender_pn", "") == "155501@s.whatsapp.net");
  const Delivery* a2 = find(*plan, "155501", 2);
  CHECK(a2->node.attr_or("recipient", "") == f.bl());
  CHECK_FALSE(a2->node.has_attr("peer_recipient_pn"));

  Group g;
  g.id = "155501-7";
  g.creator = "155501";
  g.addressing_mode = "lid";
  g.members = {{"155501", true}, {"155502", false}};
  REQUIRE(f.st.save_group(g));
  Node gm("message", {{"id", "OG"}, {"to", "155501-7@g.us"}, {"type", "text"}});
  gm.content = binary::Children{enc("skmsg", 1)};
  auto gp = plan_message(f.st, {"155501", 1}, gm, kNow);
  REQUIRE(gp);
  CHECK_FALSE(find(*gp, "155502", 3)->node.has_attr("participant_pn"));
  CHECK(find(*gp, "155502", 1)->node.attr_or("participant_pn", "") == "155501@s.whatsapp.net");

  f.st.clear_omit_pn("155502");
  auto again = plan_message(f.st, {"155501", 1}, dm("O2", f.bl(), {f.bl(3)}), kNow);
  REQUIRE(again);
  CHECK(find(*again, "155502", 3)->node.attr_or("sender_pn", "") == "155501@s.whatsapp.net");
}

TEST_CASE("lid groups: LID devices only (PN ones 400) - participant=LID:d, participant_pn, addressing_mode=lid") {
  Fixture f;
  Group g;
  g.id = "155501-8";
  g.creator = "155501";
  g.addressing_mode = "lid";
  g.members = {{"155501", true}, {"155502", false}};
  REQUIRE(f.st.save_group(g));
  Node msg("message", {{"id", "G1"}, {"to", "155501-8@g.us"}, {"type", "text"}, {"addressing_mode", "lid"}});
  msg.content = binary::Children{enc("skmsg", 0x50), Node("participants", {}, binary::Children{to(f.bl(3), enc("pkmsg", 0x51))})};
  auto plan = plan_message(f.st, {"155501", 1}, msg, kNow);
  REQUIRE(plan);
  CHECK(plan->deliveries.size() == 3);
  const Delivery* b3 = find(*plan, "155502", 3);
  REQUIRE(b3);
  CHECK(b3->node.attr_or("participant", "") == f.al(1));
  CHECK(b3->node.attr_or("participant_pn", "") == "155501@s.whatsapp.net");
  CHECK(b3->node.attr_or("addressing_mode", "") == "lid");
  CHECK(b3->node.children().size() == 2);

  Node pn_dev = msg;
  pn_dev.content = binary::Children{enc("skmsg", 0x50),
                                    Node("participants", {}, binary::Children{to("155502:3@s.whatsapp.net", enc("pkmsg", 0x51))})};
  CHECK(error_code_of(plan_message(f.st, {"155501", 1}, pn_dev, kNow)) == 400);

  // A pn group on the LID-first server: PN participant with the LID alt;
  // the group's mode wins over what the sender wrote.
  Group pg = g;
  pg.id = "155501-9";
  pg.addressing_mode = "pn";
  REQUIRE(f.st.save_group(pg));
  Node pm("message", {{"id", "G2"}, {"to", "155501-9@g.us"}, {"type", "text"}, {"addressing_mode", "lid"}});
  pm.content = binary::Children{enc("skmsg", 0x50)};
  auto pplan = plan_message(f.st, {"155501", 1}, pm, kNow);
  REQUIRE(pplan);
  const Delivery* p1 = find(*pplan, "155502", 1);
  REQUIRE(p1);
  CHECK(p1->node.attr_or("participant", "") == "155501:1@s.whatsapp.net");
  CHECK(p1->node.attr_or("participant_lid", "") == f.al());
  CHECK(p1->node.attr_or("addressing_mode", "") == "pn");
}

TEST_CASE("lid mode: receipts and retry receipts to LID JIDs reach the device, from the sender's LID device") {
  Fixture f;
  Node retry("receipt", {{"id", "M1"}, {"to", f.al(2)}, {"type", "retry"}});
  retry.content = binary::Children{Node("retry", {{"count", "1"}, {"id", "M1"}})};
  auto plan = plan_receipt(f.st, {"155502", 3}, retry, kNow);
  REQUIRE(plan);
  REQUIRE(plan->deliveries.size() == 1);
  CHECK(plan->deliveries[0].to == DeviceAddr{"155501", 2});
  CHECK(plan->deliveries[0].node.attr_or("from", "") == f.bl(3));
  CHECK(plan->ack.attr_or("from", "") == f.al(2));

  Node read("receipt", {{"id", "M1"}, {"to", f.al()}, {"type", "read"}});
  auto all = plan_receipt(f.st, {"155502", 3}, read, kNow);
  REQUIRE(all);
  CHECK(all->deliveries.size() == 2);
  for (const auto& d : all->deliveries) CHECK(d.node.attr_or("from", "") == f.bl(3));
}

TEST_CASE("privacy tokens: 7-day buckets, 4 kept") {
  const uint64_t week = 604800;
  const uint64_t now = 3000 * week + 5;  // bucket 3000: buckets 2997..3000 are kept
  CHECK_FALSE(privacy_token_expired(2997 * week, now));
  CHECK(privacy_token_expired(2997 * week - 1, now));
  CHECK_FALSE(privacy_token_expired(now, now));
  CHECK_FALSE(privacy_token_expired(0, 2 * week));  // no underflow near the epoch
}

TEST_CASE("privacy IQ: a token per peer, pushed to every holder device with the holder's own LID - stored") {
  Fixture f;
  Node iq("iq", {{"xmlns", "privacy"}, {"type", "set"}, {"id", "p1"}});
  iq.content = binary::Children{Node("tokens", {}, binary::Children{
      Node("token", {{"jid", f.bl()}, {"t", std::to_string(kNow)}, {"type", "trusted_contact"}}),
      Node("token", {{"jid", "155501@s.whatsapp.net"}, {"t", "1"}, {"type", "trusted_contact"}}),  // self: skipped
      Node("token", {{"jid", "155502@s.whatsapp.net"}, {"t", "1"}, {"type", "other"}}),             // other type: skipped
      Node("token", {{"jid", "155599@s.whatsapp.net"}, {"t", "1"}, {"type", "trusted_contact"}})})};  // unknown
  int n = 0;
  auto plan = plan_privacy_tokens(f.st, {"155501", 1}, iq, kNow, [&] { return "id" + std::to_string(++n); });
  REQUIRE(plan);
  REQUIRE(plan->size() == 2);  // 155502:1 and :3
  const Node& note = (*plan)[0].node;
  CHECK(note.attr_or("type", "") == "privacy_token");
  CHECK(note.attr_or("from", "") == "155501@s.whatsapp.net");
  CHECK(note.attr_or("sender_lid", "") == f.al());
  const Node* tokens = note.child("tokens");
  REQUIRE(tokens);
  const Node* token = tokens->child("token");
  REQUIRE(token);
  CHECK(token->attr_or("jid", "") == f.bl());
  CHECK(token->attr_or("t", "") == std::to_string(kNow));
  CHECK(token->attr_or("type", "") == "trusted_contact");
  REQUIRE(token->bytes());
  Bytes bytes = *token->bytes();
  CHECK(bytes.size() >= 16);
  CHECK(*(*plan)[1].node.child("tokens")->child("token")->bytes() == bytes);
  CHECK(f.st.token_valid("155501", "155502", bytes, kNow));
  CHECK_FALSE(f.st.token_valid("155502", "155501", bytes, kNow));  // issuer and holder are not interchangeable

  Node bad_t = iq;
  bad_t.content = binary::Children{Node("tokens", {}, binary::Children{
      Node("token", {{"jid", f.bl()}, {"t", "soon"}, {"type", "trusted_contact"}})})};
  CHECK_FALSE(plan_privacy_tokens(f.st, {"155501", 1}, bad_t, kNow, [] { return std::string("x"); }));
  CHECK_FALSE(plan_privacy_tokens(f.st, {"155501", 1}, Node("iq"), kNow, [] { return std::string("x"); }));
}

TEST_CASE("tctoken require: a first message is 463 unless a conversation or a valid token of the recipient exists") {
  Fixture f;
  f.st.policy.require_tctoken = true;
  auto first = plan_message(f.st, {"155501", 1}, dm("T1", f.bl(), {f.bl(1)}), kNow);
  CHECK(error_code_of(first) == 463);

  // 155502 trusts 155501: a token it issued, attached by 155501.
  const Bytes token{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  REQUIRE(f.st.add_token("155502", "155501", kNow - 100, token));
  Node with = dm("T2", f.bl(), {f.bl(1)});
  with.mutable_children()->push_back(Node("tctoken", {}, Bytes{9, 9}));
  CHECK(error_code_of(plan_message(f.st, {"155501", 1}, with, kNow)) == 463);  // wrong bytes
  Node good = dm("T3", f.bl(), {f.bl(1)});
  good.mutable_children()->push_back(Node("tctoken", {}, token));
  // An expired token does not count...
  CHECK(error_code_of(plan_message(f.st, {"155501", 1}, good, kNow + 5 * 604800)) == 463);
  // ...a valid one does, and the conversation stays open afterwards.
  REQUIRE(plan_message(f.st, {"155501", 1}, good, kNow));
  CHECK(plan_message(f.st, {"155501", 1}, dm("T4", f.bl(), {f.bl(1)}), kNow));
  // The recipient may answer: it now has a conversation with the sender.
  CHECK(plan_message(f.st, {"155502", 1}, dm("T5", f.al(), {f.al(1)}), kNow));

  // The conversation survives a restart.
  State reopened = State::open(f.dir.path(), kNow).value();
  reopened.policy = f.st.policy;
  CHECK(reopened.has_dm("155501", "155502"));
  CHECK(reopened.token_valid("155502", "155501", token, kNow));

  // Off (the default): nothing is asked for.
  Fixture off;
  CHECK(plan_message(off.st, {"155501", 1}, dm("T6", off.bl(), {off.bl(1)}), kNow));
}

TEST_CASE("tctoken require: a retry resend to one device and a note to self pass without a token") {
  Fixture f;
  f.st.policy.require_tctoken = true;
  Node resend("message", {{"id", "R1"}, {"to", f.bl(3)}, {"type", "text"}});
  resend.content = binary::Children{Node("enc", {{"v", "2"}, {"type", "msg"}, {"count", "1"}}, Bytes{1})};
  auto plan = plan_message(f.st, {"155501", 1}, resend, kNow);
  REQUIRE(plan);
  CHECK(plan->deliveries.size() == 1);
  CHECK(plan_message(f.st, {"155501", 1}, dm("S1", f.al(), {f.al(2)}), kNow));
}

TEST_CASE("pn lookups of migrated third parties are refused only in lid mode, only when both are migrated") {
  Fixture f;
  auto pn = binary::Jid::parse("155502@s.whatsapp.net").value();
  auto lid = binary::Jid::parse(f.bl()).value();
  const Account* b = f.st.account("155502");
  CHECK(pn_lookup_refused(f.st, {"155501", 1}, pn, b));
  CHECK_FALSE(pn_lookup_refused(f.st, {"155501", 1}, lid, b));
  CHECK_FALSE(pn_lookup_refused(f.st, {"155502", 1}, pn, b));  // own account
  f.st.policy.refuse_pn_lookups = false;                       // --pn-lookups serve
  CHECK_FALSE(pn_lookup_refused(f.st, {"155501", 1}, pn, b));
  f.st.policy.refuse_pn_lookups = true;
  REQUIRE(f.st.set_lid_migrated("155501", false));
  CHECK_FALSE(pn_lookup_refused(f.st, {"155501", 1}, pn, b));
  Fixture old(false);
  CHECK_FALSE(pn_lookup_refused(old.st, {"155501", 1}, pn, old.st.account("155502")));
}

TEST_CASE("new LID: the old LID resolves to nothing, peers get contacts/modify with both LIDs") {
  Fixture f;
  const std::string old = f.a_lid;
  auto changed = f.st.change_lid("155501");
  REQUIRE(changed);
  CHECK(*changed == old);
  const std::string now_lid = f.st.account("155501")->lid;
  CHECK(now_lid != old);
  CHECK_FALSE(resolve(f.st, binary::Jid::parse(lid_jid(old, 0)).value()));
  CHECK(resolve(f.st, binary::Jid::parse(lid_jid(now_lid, 1)).value()) == DeviceAddr{"155501", 1});
  int n = 0;
  auto notes = plan_lid_change(f.st, "155501", old, {"155502", "155501", "155599"}, kNow,
                               [&] { return "n" + std::to_string(++n); });
  REQUIRE(notes.size() == 2);  // 155502:1 and :3 (self and unknown skipped)
  const Node& note = notes[0].node;
  CHECK(note.attr_or("type", "") == "contacts");
  const Node* m = note.child("modify");
  REQUIRE(m);
  CHECK(m->attr_or("old", "") == "155501@s.whatsapp.net");
  CHECK(m->attr_or("new", "") == "155501@s.whatsapp.net");
  CHECK(m->attr_or("old_lid", "") == lid_jid(old, 0));
  CHECK(m->attr_or("new_lid", "") == lid_jid(now_lid, 0));

  State reopened = State::open(f.dir.path(), kNow).value();
  CHECK(reopened.account("155501")->lid == now_lid);
  CHECK_FALSE(reopened.account_by_lid(old));
}

TEST_CASE("state: lid_migrated and group addressing_mode persist - an older state.db gains the columns") {
  test::TempDir dir;
  {
    // The schema before these columns existed, with one account and group.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir.path() + "/state.db").c_str(), &db) == SQLITE_OK);
    const char* old_schema =
        "CREATE TABLE accounts(phone TEXT PRIMARY KEY, lid TEXT NOT NULL, identity_priv BLOB NOT NULL,"
        " spk_priv BLOB NOT NULL, spk_sig BLOB NOT NULL, regid INTEGER NOT NULL, next_device INTEGER NOT NULL,"
        " next_key_index INTEGER NOT NULL);"
        "CREATE TABLE groups(id TEXT PRIMARY KEY, subject TEXT NOT NULL, creator TEXT NOT NULL, creation INTEGER NOT NULL);"
        "INSERT INTO accounts VALUES('155501','100000000000042',zeroblob(32),zeroblob(32),zeroblob(64),7,1,1);"
        "INSERT INTO groups VALUES('155501-1','s','155501',1);";
    REQUIRE(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  {
    auto st = State::open(dir.path(), kNow);
    REQUIRE(st);
    REQUIRE(st->account("155501"));
    CHECK(st->account("155501")->lid_migrated);
    CHECK(st->group("155501-1")->addressing_mode == "pn");
    REQUIRE(st->set_lid_migrated("155501", false));
    Group g = *st->group("155501-1");
    g.addressing_mode = "lid";
    REQUIRE(st->save_group(g));
  }
  auto st = State::open(dir.path(), kNow);
  REQUIRE(st);
  CHECK_FALSE(st->account("155501")->lid_migrated);
  CHECK(st->group("155501-1")->addressing_mode == "lid");
}

TEST_CASE("the message ack carries the participant hash of the devices the server expected, in the stanza's namespace") {
  Fixture f;
  auto plan = plan_message(f.st, {"155501", 1}, dm("H1", f.bl(), {f.bl(), f.bl(1), f.bl(3), f.al(), f.al(2)}), kNow);
  REQUIRE(plan);
  // B's phone and companions, A's phone and other companion; never the sender.
  CHECK(plan->ack.attr_or("phash", "") ==
        crypto::participant_hash({f.bl(), f.bl(1), f.bl(3), f.al(), f.al(2)}));
  // A device linked since: the hash the sender would compute no longer matches.
  add_device(f.st, "155502", 4);
  auto later = plan_message(f.st, {"155501", 1}, dm("H2", f.bl(), {f.bl(), f.bl(1), f.bl(3), f.al(), f.al(2)}), kNow);
  REQUIRE(later);
  CHECK(later->ack.attr_or("phash", "") != plan->ack.attr_or("phash", ""));
  CHECK(later->ack.attr_or("phash", "") ==
        crypto::participant_hash({f.bl(), f.bl(1), f.bl(3), f.bl(4), f.al(), f.al(2)}));
}
