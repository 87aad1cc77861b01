// The whole send pipeline against a fake server: usync / prekey / group
// answers are built from the other profiles' stores, the relayed stanza is
// fanned out and decrypted with the recipients' stores.
#include <doctest/doctest.h>

#include "fake_server.hpp"
#include "wa/message/lid.hpp"
#include "wa/message/tctoken.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/receive.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using namespace wa::message;
using test::must;

using test::conversation;
using test::Env;


TEST_CASE("pipeline 1:1: devices, sessions, encrypt, relay - recipients decrypt - cache and TTL") {
  Env e;
  auto net = e.server.transport();
  auto b = must(binary::Jid::parse("222@s.whatsapp.net"));
  auto r = must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("via pipeline"), e.opts));
  CHECK(r.id.size() == 22);
  CHECK(r.devices == 3);  // b0, b3, a2
  CHECK(e.server.usync_queries == 1);
  CHECK(e.server.prekey_queries == 1);
  REQUIRE(e.server.relayed.size() == 1);
  const auto& stanza = e.server.relayed[0];
  CHECK(stanza.attr_or("id", "") == r.id);
  for (auto* d : {&e.b0, &e.b3}) {
    auto in = must(decrypt_message(*d->sig, d->self(), test::deliver(stanza, e.a1.jid, d->jid, false)));
    CHECK(in.text == "via pipeline");
  }
  auto own = must(decrypt_message(*e.a2.sig, e.a2.self(), test::deliver(stanza, e.a1.jid, e.a2.jid, true)));
  CHECK(own.from_me);
  CHECK(own.chat == "222@s.whatsapp.net");
  // The plaintext is kept for retry receipts.
  auto sent = must(e.a1.db->sent_get(r.id, "222@s.whatsapp.net"));
  REQUIRE(sent);
  CHECK(sent->plaintext == conversation("via pipeline"));
  // The device list is cached.
  auto cached = must(e.a1.db->get_device_list("222@s.whatsapp.net"));
  REQUIRE(cached);
  CHECK(cached->devices.size() == 2);

  // Within the TTL: no usync, no bundles.
  e.clock += 60;
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("two"), e.opts));
  CHECK(e.server.usync_queries == 1);
  CHECK(e.server.prekey_queries == 1);
  // Past the TTL: one usync again; sessions exist, so still no bundles.
  e.clock += e.opts.device_ttl_s;
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("three"), e.opts));
  CHECK(e.server.usync_queries == 2);
  CHECK(e.server.prekey_queries == 1);
  // Every relayed message still decrypts in order on B0.
  for (size_t i = 1; i < e.server.relayed.size(); ++i)
    must(decrypt_message(*e.b0.sig, e.b0.self(), test::deliver(e.server.relayed[i], e.a1.jid, e.b0.jid, false)));
}

TEST_CASE("pipeline: errors come back as codes") {
  Env e;
  auto net = e.server.transport();
  auto b = must(binary::Jid::parse("222@s.whatsapp.net"));
  e.server.relay_error = Error{"not_connected", "offline"};
  CHECK(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts).error().code == "not_connected");
  e.server.relay_error = Error{"timeout", "no ack"};
  CHECK(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts).error().code == "timeout");
  e.server.relay_error.reset();
  // 463: a typed error, the message is not resent, and our own token goes
  // to the contact (once per bucket) so it can write first.
  e.server.ack_error = "463";
  e.server.tokens_issued.clear();
  size_t relayed = e.server.relayed.size();
  CHECK(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts).error().code == "privacy_token_required");
  CHECK(e.server.relayed.size() == relayed + 1);
  CHECK(e.server.tokens_issued == std::vector<std::string>{"222@s.whatsapp.net"});
  CHECK(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts).error().code == "privacy_token_required");
  CHECK(e.server.tokens_issued.size() == 1);
  e.server.ack_error = "400";
  CHECK(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts).error().code == "rejected:400");
  e.server.ack_error.clear();
  auto nobody = must(binary::Jid::parse("444@s.whatsapp.net"));
  CHECK(send_message(*e.a1.db, *e.a1.sig, net, nobody, conversation("x"), e.opts).error().code == "no_devices");
  Transport down;
  down.iq = [](const binary::Node&) -> Result<binary::Node> { return fail("not_connected", "offline"); };
  down.relay = net.relay;
  auto c = must(binary::Jid::parse("333@s.whatsapp.net"));
  CHECK(send_message(*e.a1.db, *e.a1.sig, down, c, conversation("x"), e.opts).error().code == "not_connected");
  // A recipient whose bundle cannot be had: session_failed.
  Transport nobundle = net;
  nobundle.iq = [&](const binary::Node& q) -> Result<binary::Node> {
    if (q.attr_or("xmlns", "") == "encrypt") return test::prekey_response({});
    return net.iq(q);
  };
  CHECK(send_message(*e.a1.db, *e.a1.sig, nobundle, c, conversation("x"), e.opts).error().code == "session_failed");
  test::TempDir other;
  auto fresh = must(store::open_sqlite(other.file("x.db")));
  must(signal::ensure_registration(*fresh));
  auto fresh_sig = must(signal::SignalSession::create(*fresh));
  CHECK(send_message(*fresh, *fresh_sig, net, c, conversation("x"), e.opts).error().code == "not_paired");
}

TEST_CASE("pipeline group: metadata, SKDM once, then skmsg - members decrypt") {
  Env e;
  auto net = e.server.transport();
  auto g = must(binary::Jid::parse("120363000000000009@g.us"));
  e.server.groups[g.str()] = {"111@s.whatsapp.net", "222@s.whatsapp.net", "333@s.whatsapp.net"};
  auto r1 = must(send_message(*e.a1.db, *e.a1.sig, net, g, conversation("g1"), e.opts));
  CHECK(r1.devices == 4);  // a2, b0, b3, c0 got the SKDM
  auto r2 = must(send_message(*e.a1.db, *e.a1.sig, net, g, conversation("g2"), e.opts));
  CHECK(r2.devices == 0);
  REQUIRE(e.server.relayed.size() == 2);
  CHECK(e.server.relayed[0].attr_or("addressing_mode", "") == "pn");
  CHECK_FALSE(e.server.relayed[1].child("participants"));
  for (auto* d : {&e.a2, &e.b0, &e.b3, &e.c0}) {
    auto in1 = must(decrypt_message(*d->sig, d->self(), test::deliver(e.server.relayed[0], e.a1.jid, d->jid, false)));
    CHECK(in1.text == "g1");
    auto in2 = must(decrypt_message(*d->sig, d->self(), test::deliver(e.server.relayed[1], e.a1.jid, d->jid, false)));
    CHECK(in2.text == "g2");
    CHECK(in2.chat == g.str());
  }
  CHECK(e.server.group_queries == 2);
}

using test::FakeServer;
using test::must_ok;

// docs/PROTOCOL.md §12.1: a LID-migrated account writes DMs to LIDs. The
// contact's LID comes from usync, the stanza is in one namespace with
// peer_recipient_pn, and the sessions live under the LID name - the same
// ones a PN-addressed reply from the contact then decrypts with.
TEST_CASE("pipeline: a LID-migrated account writes to the contact's LID and a PN-addressed reply decrypts") {
  test::TempDir dir;
  test::Device a1{dir.file("a1.db"), "111:1@s.whatsapp.net", "9111:1@lid"};
  test::Device b0{dir.file("b0.db"), "222@s.whatsapp.net"};
  test::Device b3{dir.file("b3.db"), "222:3@s.whatsapp.net"};
  must_ok(a1.db->put_credential(store::cred::lid_migrated, Bytes{1}));
  FakeServer server;
  for (auto* d : {&a1, &b0, &b3}) server.add(*d);
  server.lids = {{"222@s.whatsapp.net", "9222@lid"}, {"111@s.whatsapp.net", "9111@lid"}};
  PipelineOptions opts;
  int64_t clock = 1700000000;
  opts.now = [&clock] { return clock; };
  auto net = server.transport();

  auto b_pn = must(binary::Jid::parse("222@s.whatsapp.net"));
  auto out = must(send_message(*a1.db, *a1.sig, net, b_pn, conversation("to your lid"), opts));
  REQUIRE(server.relayed.size() == 1);
  const binary::Node& st = server.relayed[0];
  CHECK(st.attr_or("to", "") == "9222@lid");
  CHECK(st.attr_or("peer_recipient_pn", "") == "222@s.whatsapp.net");
  CHECK_FALSE(st.has_attr("addressing_mode"));
  size_t tos = 0;
  for (const binary::Node* t : st.child("participants")->children("to")) {
    ++tos;
    CHECK_MESSAGE(std::string(t->attr_or("jid", "")).ends_with("@lid"), t->attr_or("jid", ""));
  }
  CHECK(tos == 2);  // 9222@lid and 9222:3@lid (a1 has no other own device)
  CHECK(*must(a1.db->lid_for_pn("222")) == "9222");
  CHECK(must(a1.db->session_devices("9222_1")) == std::vector<uint32_t>{0, 3});
  CHECK(server.tokens_issued == std::vector<std::string>{"9222@lid"});

  // B (not migrated) learns who we are from sender_pn, decrypts under our LID.
  binary::Node at_b = test::deliver(st, must(binary::Jid::parse("9111:1@lid")), must(binary::Jid::parse("9222@lid")), false);
  at_b.set_attr("sender_pn", "111@s.whatsapp.net");
  must_ok(message::learn_mappings(*b0.db, at_b));
  auto in = must(decrypt_message(*b0.sig, b0.self(), at_b));
  CHECK(in.text == "to your lid");
  CHECK(in.chat == "9111@lid");

  // B answers by phone number; its session with us is the LID-named one.
  server.relayed.clear();
  auto a_pn = must(binary::Jid::parse("111@s.whatsapp.net"));
  must(send_message(*b0.db, *b0.sig, net, a_pn, conversation("reply by number"), opts));
  REQUIRE(server.relayed.size() == 1);
  const binary::Node& reply = server.relayed[0];
  CHECK(reply.attr_or("to", "") == "111@s.whatsapp.net");
  CHECK_FALSE(reply.has_attr("peer_recipient_pn"));
  binary::Node at_a = test::deliver(reply, b0.jid, a1.jid, false);
  at_a.set_attr("sender_lid", "9222@lid");
  must_ok(message::learn_mappings(*a1.db, at_a));
  auto back = must(decrypt_message(*a1.sig, a1.self(), at_a));
  CHECK(back.text == "reply by number");
  // One session per device pair: nothing was made under the PN name.
  CHECK(must(a1.db->session_devices("222")) == std::vector<uint32_t>{0, 3});  // read through the mapping
}

TEST_CASE("pipeline: an account that is not LID-migrated writes to the phone number, and a LID with no number is refused") {
  test::TempDir dir;
  test::Device a1{dir.file("a1.db"), "111:1@s.whatsapp.net", "9111:1@lid"};
  test::Device b0{dir.file("b0.db"), "222@s.whatsapp.net"};
  FakeServer server;
  for (auto* d : {&a1, &b0}) server.add(*d);
  server.lids = {{"222@s.whatsapp.net", "9222@lid"}};
  auto net = server.transport();
  PipelineOptions opts;
  auto b_lid = must(binary::Jid::parse("9222@lid"));
  CHECK(send_message(*a1.db, *a1.sig, net, b_lid, conversation("x"), opts).error().code == "unknown_contact");
  CHECK(server.relayed.empty());
  must_ok(a1.db->put_lid_mapping("222", "9222"));
  must(send_message(*a1.db, *a1.sig, net, b_lid, conversation("x"), opts));
  REQUIRE(server.relayed.size() == 1);
  CHECK(server.relayed[0].attr_or("to", "") == "222@s.whatsapp.net");
}

TEST_CASE("pipeline: a stored privacy token rides on DMs until it expires") {
  Env e;
  auto net = e.server.transport();
  auto b = must(binary::Jid::parse("222@s.whatsapp.net"));
  binary::Children tokens;
  tokens.emplace_back("token", binary::Attrs{{"jid", "111@s.whatsapp.net"}, {"t", std::to_string(e.clock)},
                                             {"type", "trusted_contact"}},
                      Bytes{7, 7, 7});
  binary::Children kids;
  kids.emplace_back("tokens", binary::Attrs{}, std::move(tokens));
  binary::Node note("notification", {{"from", "222@s.whatsapp.net"}, {"type", "privacy_token"}, {"id", "n1"}},
                    std::move(kids));
  CHECK(must(message::tctoken::store_received(*e.a1.db, note)) == 1);
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts));
  const binary::Node* tc = e.server.relayed.back().child("tctoken");
  REQUIRE(tc != nullptr);
  CHECK(*tc->bytes() == Bytes{7, 7, 7});
  // Four weeks on, the token is stale and stays home.
  e.clock += 4 * message::tctoken::kBucketS;
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("y"), e.opts));
  CHECK(e.server.relayed.back().child("tctoken") == nullptr);
  CHECK(message::tctoken::expired(e.clock - 4 * message::tctoken::kBucketS, e.clock));
  // Issued once per bucket; a contact's re-install makes the next DM issue again.
  CHECK_FALSE(must(message::tctoken::should_issue(*e.a1.db, b, e.clock)));
  must_ok(message::tctoken::forget_issued(*e.a1.db, b));
  CHECK(must(message::tctoken::should_issue(*e.a1.db, b, e.clock)));
  CHECK_FALSE(message::tctoken::expired(e.clock - 2 * message::tctoken::kBucketS, e.clock));
}

TEST_CASE("pipeline: an ack whose participant hash differs drops the cached device lists, a matching one keeps them") {
  Env e;
  auto net = e.server.transport();
  auto b = must(binary::Jid::parse("222@s.whatsapp.net"));
  // Devices a1 addresses: B's 0 and 3, our own 2 (not the sending 1).
  e.server.ack_phash = crypto::participant_hash({"222@s.whatsapp.net", "222:3@s.whatsapp.net", "111:2@s.whatsapp.net"});
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts));
  const int queries = e.server.usync_queries;
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("y"), e.opts));
  CHECK(e.server.usync_queries == queries);  // cached, hash matched
  CHECK(must(e.a1.db->get_device_list("222@s.whatsapp.net")).has_value());
  // The server knows a device we do not: the lists go, the next send asks.
  e.server.ack_phash = "2:AAAAAA";
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("z"), e.opts));
  CHECK_FALSE(must(e.a1.db->get_device_list("222@s.whatsapp.net")).has_value());
  CHECK_FALSE(must(e.a1.db->get_device_list("111@s.whatsapp.net")).has_value());
  e.server.ack_phash.clear();
  must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("w"), e.opts));
  CHECK(e.server.usync_queries == queries + 1);
}

// Transport::hand_off (the sender worker's one-round-trip send): the stanza
// and what its ack settles leave together; settle_ack, run later by whoever
// holds the socket, does what the waiting relay does.
TEST_CASE("pipeline: a handed-off send returns before its ack, and settling the ack later does what the relay would") {
  Env e;
  auto net = e.server.transport();
  std::vector<std::pair<binary::Node, AfterAck>> handed;
  net.hand_off = [&handed](const binary::Node& stanza, const AfterAck& after) -> Status {
    handed.emplace_back(stanza, after);
    return {};
  };
  auto b = must(binary::Jid::parse("222@s.whatsapp.net"));
  auto r = must(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("handed"), e.opts));
  CHECK(e.server.relayed.empty());  // nothing relayed here
  REQUIRE(handed.size() == 1);
  const AfterAck& after = handed[0].second;
  CHECK(handed[0].first.attr_or("id", "") == r.id);
  CHECK(after.id == r.id);
  CHECK(after.dm_peer == "222@s.whatsapp.net");
  // The devices addressed: B's 0 and 3, our own 2 (not the sending 1).
  CHECK(after.phash == crypto::participant_hash({"222@s.whatsapp.net", "222:3@s.whatsapp.net", "111:2@s.whatsapp.net"}));
  CHECK(after.group.empty());
  // The stanza decrypts as a relayed one would.
  auto in = must(decrypt_message(*e.b0.sig, e.b0.self(), test::deliver(test::wire(handed[0].first), e.a1.jid,
                                                                          e.b0.jid, false)));
  CHECK(in.text == "handed");

  auto ack = [](const std::string& id, binary::Attrs extra) -> Result<binary::Node> {
    binary::Attrs a{{"class", "message"}, {"id", id}};
    for (auto& kv : extra) a.push_back(std::move(kv));
    return binary::Node("ack", std::move(a));
  };
  std::vector<std::string> tokens_for;
  auto token = [&tokens_for](const binary::Jid& peer) { tokens_for.push_back(peer.str()); };
  // A matching hash keeps the cached lists; another one drops them.
  must_ok(settle_ack(*e.a1.db, ack(r.id, {{"phash", after.phash}}), after, token));
  CHECK(must(e.a1.db->get_device_list("222@s.whatsapp.net")).has_value());
  must_ok(settle_ack(*e.a1.db, ack(r.id, {{"phash", "2:AAAAAA"}}), after, token));
  CHECK_FALSE(must(e.a1.db->get_device_list("222@s.whatsapp.net")).has_value());
  CHECK_FALSE(must(e.a1.db->get_device_list("111@s.whatsapp.net")).has_value());
  CHECK(tokens_for.empty());
  // Refusals: 463 on a DM hands the contact our token, whichever way it comes.
  auto refused = settle_ack(*e.a1.db, ack(r.id, {{"error", "463"}}), after, token);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "privacy_token_required");
  auto refused_too = settle_ack(*e.a1.db, Result<binary::Node>(fail("rejected:463", "x")), after, token);
  REQUIRE_FALSE(refused_too);
  CHECK(refused_too.error().code == "privacy_token_required");
  CHECK(tokens_for == std::vector<std::string>{"222@s.whatsapp.net", "222@s.whatsapp.net"});
  CHECK(settle_ack(*e.a1.db, ack(r.id, {{"error", "479"}}), after, token).error().code == "rejected:479");
  CHECK(settle_ack(*e.a1.db, ack("OTHER", {}), after, token).error().code == "bad_ack");
  CHECK(settle_ack(*e.a1.db, Result<binary::Node>(fail("timeout", "x")), after, token).error().code == "timeout");

  // A group: the sender-key memory is written only when the ack settles.
  auto g = must(binary::Jid::parse("120363000000000009@g.us"));
  e.server.groups[g.str()] = {"111@s.whatsapp.net", "222@s.whatsapp.net", "333@s.whatsapp.net"};
  handed.clear();
  auto g1 = must(send_message(*e.a1.db, *e.a1.sig, net, g, conversation("g1"), e.opts));
  CHECK(g1.devices == 4);
  REQUIRE(handed.size() == 1);
  const AfterAck group_after = handed[0].second;
  CHECK(group_after.dm_peer.empty());
  CHECK(group_after.group == g.str());
  CHECK(group_after.sender_key_recipients.size() == 4);
  CHECK(must(sender_key_memory(*e.a1.db, g.str())).empty());
  // A group's 463 is a plain refusal: no token, nothing remembered.
  CHECK(settle_ack(*e.a1.db, ack(g1.id, {{"error", "463"}}), group_after, token).error().code == "rejected:463");
  CHECK(must(sender_key_memory(*e.a1.db, g.str())).empty());
  must_ok(settle_ack(*e.a1.db, ack(g1.id, {}), group_after, token));
  CHECK(must(sender_key_memory(*e.a1.db, g.str())).size() == 4);
  auto g2 = must(send_message(*e.a1.db, *e.a1.sig, net, g, conversation("g2"), e.opts));
  CHECK(g2.devices == 0);  // every member holds the key now
  CHECK(tokens_for.size() == 2);
}
