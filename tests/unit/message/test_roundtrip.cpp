// Full send/receive round trips between separate profiles (one SQLite store
// per device), with the stanza encoded and decoded as on the wire and the
// server's fan-out simulated by test::deliver.
#include <doctest/doctest.h>

#include "profile.hpp"
#include "temp_dir.hpp"
#include "wa/message/id.hpp"
#include "wa/message/receipt.hpp"
#include "wa/message/receive.hpp"
#include "wa/message/send.hpp"
#include "wa/message/usync.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using namespace wa::message;
using test::must;
using test::must_ok;

namespace {

Bytes text_message(const std::string& text, const std::string& quoted = "") {
  proto::Message m;
  auto* e = m.mutable_extendedtextmessage();
  e->set_text(text);
  if (!quoted.empty()) e->mutable_contextinfo()->set_stanzaid(quoted);
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

// A gets sessions with `targets` from a prekey-fetch response built from their stores.
void install(test::Device& from, std::vector<test::Device*> targets) {
  binary::Children users;
  for (auto* t : targets) users.push_back(t->bundle_user());
  auto fetched = must(parse_prekey_response(test::wire(test::prekey_response(std::move(users)))));
  auto rep = must(install_bundles(*from.sig, fetched));
  CHECK(rep.failed.empty());
  CHECK(rep.installed.size() == targets.size());
}

const binary::Node* to_node(const binary::Node& stanza, const std::string& jid) {
  const auto* parts = stanza.child("participants");
  if (!parts) return nullptr;
  for (const auto* t : parts->children("to"))
    if (t->attr_or("jid", "") == jid) return t;
  return nullptr;
}

struct World {
  test::TempDir dir;
  test::Device a1{dir.file("a1.db"), "111:1@s.whatsapp.net", "811:1@lid"};
  test::Device a2{dir.file("a2.db"), "111:2@s.whatsapp.net", "811:2@lid"};
  test::Device b0{dir.file("b0.db"), "222@s.whatsapp.net"};
  test::Device b3{dir.file("b3.db"), "222:3@s.whatsapp.net"};
  binary::Jid b = must(binary::Jid::parse("222@s.whatsapp.net"));
  std::vector<binary::Jid> b_devices{b0.jid, b3.jid};
  std::vector<binary::Jid> a_own{a1.jid, a2.jid};  // a1 itself must be skipped
};

}  // namespace

TEST_CASE("1:1: A sends to B's two devices and A's second device gets the DSM") {
  World w;
  auto need = must(devices_without_session(*w.a1.sig, w.b_devices));
  CHECK(need.size() == 2);
  install(w.a1, {&w.b0, &w.b3, &w.a2});
  CHECK(must(devices_without_session(*w.a1.sig, w.b_devices)).empty());

  auto self = w.a1.self();
  Outgoing out{generate_message_id("111", 1700000000), w.b, text_message("hello B", "3EB0QUOTED")};
  auto built = must(build_direct_message(*w.a1.sig, self, out, w.b_devices, w.a_own));
  CHECK(built.has_pkmsg);
  CHECK(built.failed.empty());
  CHECK(built.encrypted_for.size() == 3);
  auto stanza = test::wire(built.stanza);
  CHECK(stanza.attrs == binary::Attrs{{"id", out.id}, {"to", "222@s.whatsapp.net"}, {"type", "text"}});
  REQUIRE(to_node(stanza, "222@s.whatsapp.net"));
  REQUIRE(to_node(stanza, "222:3@s.whatsapp.net"));
  REQUIRE(to_node(stanza, "111:2@s.whatsapp.net"));
  CHECK_FALSE(to_node(stanza, "111:1@s.whatsapp.net"));
  const auto* enc = to_node(stanza, "222:3@s.whatsapp.net")->child("enc");
  REQUIRE(enc);
  CHECK(enc->attr_or("v", "") == "2");
  CHECK(enc->attr_or("type", "") == "pkmsg");
  REQUIRE(stanza.child("device-identity"));
  CHECK(*stanza.child("device-identity")->bytes() == self.account_identity);

  for (auto* dev : {&w.b0, &w.b3}) {
    auto in = must(decrypt_message(*dev->sig, dev->self(), test::wire(test::deliver(stanza, w.a1.jid, dev->jid, false))));
    CHECK(in.id == out.id);
    CHECK(in.text == "hello B");
    CHECK(in.quoted_id == "3EB0QUOTED");
    CHECK(in.chat == "111@s.whatsapp.net");
    CHECK(in.sender == "111:1@s.whatsapp.net");
    CHECK_FALSE(in.from_me);
    CHECK(in.timestamp == 1700000001);
    CHECK(in.msg_type == "text");
    CHECK(in.has_content);
  }
  auto own = must(decrypt_message(*w.a2.sig, w.a2.self(), test::wire(test::deliver(stanza, w.a1.jid, w.a2.jid, true))));
  CHECK(own.from_me);
  CHECK(own.chat == "222@s.whatsapp.net");  // taken from the DSM / recipient
  CHECK(own.text == "hello B");
  proto::Message raw;
  REQUIRE(raw.ParseFromArray(own.raw.data(), static_cast<int>(own.raw.size())));
  CHECK_FALSE(raw.has_devicesentmessage());  // unwrapped

  // B answers on the session A started (no bundle needed).
  Outgoing reply{generate_message_id("222", 1700000003), must(binary::Jid::parse("111@s.whatsapp.net")), text_message("hi A")};
  std::vector<binary::Jid> a1_only{w.a1.jid};
  auto back = must(build_direct_message(*w.b0.sig, w.b0.self(), reply, a1_only, {}));
  auto got = must(decrypt_message(*w.a1.sig, self, test::wire(test::deliver(back.stanza, w.b0.jid, w.a1.jid, false))));
  CHECK(got.text == "hi A");
  CHECK(got.chat == "222@s.whatsapp.net");
  // Once B has answered, A's session is confirmed: msg, no device identity.
  Outgoing out2{generate_message_id("111", 1700000002), w.b, text_message("again")};
  auto built2 = must(build_direct_message(*w.a1.sig, self, out2, w.b_devices, w.a_own));
  auto stanza2 = test::wire(built2.stanza);
  CHECK(to_node(stanza2, "222@s.whatsapp.net")->child("enc")->attr_or("type", "") == "msg");
  // B3 has not answered yet: A keeps sending it pkmsg, so the identity stays.
  CHECK(to_node(stanza2, "222:3@s.whatsapp.net")->child("enc")->attr_or("type", "") == "pkmsg");
  CHECK(built2.has_pkmsg);
  CHECK(stanza2.child("device-identity"));
  // Only confirmed sessions: no pkmsg, no device identity.
  std::vector<binary::Jid> b0only{w.b0.jid};
  auto built3 = must(build_direct_message(*w.a1.sig, self, out2, b0only, {}));
  CHECK_FALSE(built3.has_pkmsg);
  CHECK_FALSE(test::wire(built3.stanza).child("device-identity"));
  auto in2 = must(decrypt_message(*w.b0.sig, w.b0.self(), test::wire(test::deliver(stanza2, w.a1.jid, w.b0.jid, false))));
  CHECK(in2.text == "again");

}

TEST_CASE("1:1: a device without a session is left out and reported - none at all is session_failed") {
  World w;
  install(w.a1, {&w.b0});
  auto self = w.a1.self();
  Outgoing out{generate_message_id("111", 1), w.b, text_message("x")};
  auto built = must(build_direct_message(*w.a1.sig, self, out, w.b_devices, {}));
  REQUIRE(built.failed.size() == 1);
  CHECK(built.failed[0].first.str() == "222:3@s.whatsapp.net");
  CHECK(built.failed[0].second.code == "no_session");
  std::vector<binary::Jid> only3{w.b3.jid};
  CHECK(build_direct_message(*w.a1.sig, self, out, only3, {}).error().code == "session_failed");
  Outgoing bad{out.id, must(binary::Jid::parse("1-2@g.us")), out.message};
  CHECK(build_direct_message(*w.a1.sig, self, bad, w.b_devices, {}).error().code == "bad_request");
  Outgoing junk{out.id, w.b, Bytes{0xFF, 0xFF, 0xFF}};
  CHECK(build_direct_message(*w.a1.sig, self, junk, w.b_devices, {}).error().code == "bad_request");
}

TEST_CASE("groups: SKDM to devices lacking the key, then skmsg only - rotation when a member leaves") {
  World w;
  install(w.a1, {&w.b0, &w.b3, &w.a2});
  auto self = w.a1.self();
  auto g = must(binary::Jid::parse("120363000000000001@g.us"));
  std::vector<binary::Jid> members{w.a1.jid, w.a2.jid, w.b0.jid, w.b3.jid};
  GroupOptions opt{false, "pn"};

  Outgoing m1{generate_message_id("111", 10), g, text_message("hello group")};
  auto b1 = must(build_group_message(*w.a1.sig, *w.a1.db, self, m1, members, opt));
  CHECK(b1.sender_key_recipients.size() == 3);
  auto s1 = test::wire(b1.stanza);
  CHECK(s1.attr_or("to", "") == g.str());
  CHECK(s1.attr_or("addressing_mode", "") == "pn");
  REQUIRE(s1.child("participants"));
  CHECK(s1.child("participants")->children("to").size() == 3);
  REQUIRE(s1.children("enc").size() == 1);
  CHECK(s1.child("enc")->attr_or("type", "") == "skmsg");
  CHECK(s1.child("device-identity"));
  must_ok(remember_sender_key_recipients(*w.a1.db, g.str(), b1.sender_key_recipients));

  for (auto* dev : {&w.b0, &w.b3, &w.a2}) {
    auto in = must(decrypt_message(*dev->sig, dev->self(), test::wire(test::deliver(s1, w.a1.jid, dev->jid, false))));
    CHECK(in.text == "hello group");
    CHECK(in.chat == g.str());
    CHECK(in.is_group);
    CHECK(in.sender == w.a1.jid.str());
    CHECK(in.from_me == (dev == &w.a2));
  }

  Outgoing m2{generate_message_id("111", 11), g, text_message("second")};
  auto b2 = must(build_group_message(*w.a1.sig, *w.a1.db, self, m2, members, opt));
  CHECK(b2.sender_key_recipients.empty());
  auto s2 = test::wire(b2.stanza);
  CHECK_FALSE(s2.child("participants"));
  CHECK_FALSE(s2.child("device-identity"));
  for (auto* dev : {&w.b0, &w.b3}) {
    auto in = must(decrypt_message(*dev->sig, dev->self(), test::wire(test::deliver(s2, w.a1.jid, dev->jid, false))));
    CHECK(in.text == "second");
  }

  // B leaves: the key rotates, only A2 gets the new one, B can no longer read.
  std::vector<binary::Jid> after{w.a1.jid, w.a2.jid};
  Outgoing m3{generate_message_id("111", 12), g, text_message("without B")};
  auto b3 = must(build_group_message(*w.a1.sig, *w.a1.db, self, m3, after, opt));
  REQUIRE(b3.sender_key_recipients.size() == 1);
  CHECK(b3.sender_key_recipients[0] == w.a2.jid);
  auto s3 = test::wire(b3.stanza);
  auto mine = must(decrypt_message(*w.a2.sig, w.a2.self(), test::wire(test::deliver(s3, w.a1.jid, w.a2.jid, false))));
  CHECK(mine.text == "without B");
  auto theirs = decrypt_message(*w.b0.sig, w.b0.self(), test::wire(test::deliver(s3, w.a1.jid, w.b0.jid, false)));
  CHECK_FALSE(theirs.has_value());
  auto mem = must(sender_key_memory(*w.a1.db, g.str()));
  CHECK(mem.empty());  // rotated; the caller records recipients after the ack
}

TEST_CASE("retry: B3 cannot decrypt, asks with keys, A re-sends for B3 alone") {
  World w;
  install(w.a1, {&w.b0, &w.b3});
  auto self = w.a1.self();
  Outgoing out{generate_message_id("111", 20), w.b, text_message("retry me")};
  auto built = must(build_direct_message(*w.a1.sig, self, out, w.b_devices, {}));
  must_ok(w.a1.db->sent_put(store::SentMessage{out.id, out.to.str(), out.message, 20}));

  // B3 loses its prekeys (e.g. restored from an old backup): decryption fails.
  auto delivered = test::wire(test::deliver(built.stanza, w.a1.jid, w.b3.jid, false));
  for (uint32_t id = 1; id < 10; ++id) must_ok(w.b3.db->remove_prekey(id));
  auto failed = decrypt_message(*w.b3.sig, w.b3.self(), delivered);
  REQUIRE_FALSE(failed.has_value());
  CHECK_FALSE(nack_code_for(failed.error()).has_value());  // retry, not NACK

  auto b3self = w.b3.self();
  auto keys = must(make_retry_keys(*w.b3.db, b3self));
  auto receipt = must(build_retry_receipt(delivered, 2, b3self.registration_id, &keys));
  // The server routes it to A with from = the requesting device.
  binary::Node incoming = test::wire(receipt);
  incoming.attrs = {{"from", w.b3.jid.str()}, {"id", out.id}, {"type", "retry"}, {"t", "1700000005"}};
  auto req = must(parse_retry_receipt(incoming));
  CHECK(req.count == 2);
  CHECK(req.device() == w.b3.jid);
  REQUIRE(req.keys);
  CHECK(req.keys->prekey_id == keys.prekey.id);

  auto sent = must(w.a1.db->sent_get(out.id, out.to.str()));
  REQUIRE(sent);
  auto resend = must(build_retry_resend(*w.a1.sig, *w.a1.db, self, req, *sent));
  auto rs = test::wire(resend.stanza);
  CHECK(rs.attrs == binary::Attrs{{"id", out.id}, {"to", "222:3@s.whatsapp.net"}, {"type", "text"}, {"device_fanout", "false"}});
  REQUIRE(rs.child("enc"));
  CHECK(rs.child("enc")->attr_or("count", "") == "2");
  CHECK(rs.child("enc")->attr_or("type", "") == "pkmsg");
  CHECK(rs.child("device-identity"));
  auto in = must(decrypt_message(*w.b3.sig, b3self, test::wire(test::deliver(rs, w.a1.jid, w.b3.jid, false))));
  CHECK(in.text == "retry me");
  CHECK(in.id == out.id);
}

TEST_CASE("retry with keys: the old session state is archived, not deleted - B3's message in flight still decrypts") {
  World w;
  install(w.a1, {&w.b3});
  auto self = w.a1.self();
  auto b3self = w.b3.self();
  const binary::Jid a = must(binary::Jid::parse("111@s.whatsapp.net"));
  std::vector<binary::Jid> b3only{w.b3.jid}, a1only{w.a1.jid};
  auto a_to_b3 = [&](const binary::Node& stanza) { return test::wire(test::deliver(stanza, w.a1.jid, w.b3.jid, false)); };
  auto b3_to_a = [&](const binary::Node& stanza) { return test::wire(test::deliver(stanza, w.b3.jid, w.a1.jid, false)); };

  // A session both ways: A opens it, B3 answers on it.
  Outgoing hello{generate_message_id("111", 40), w.b, text_message("hello")};
  CHECK(must(decrypt_message(*w.b3.sig, b3self, a_to_b3(must(build_direct_message(*w.a1.sig, self, hello, b3only, {})).stanza))).text == "hello");
  Outgoing reply{generate_message_id("222", 41), a, text_message("reply")};
  CHECK(must(decrypt_message(*w.a1.sig, self, b3_to_a(must(build_direct_message(*w.b3.sig, b3self, reply, a1only, {})).stanza))).text == "reply");
  // B3 sends again on that session; the server has not delivered it yet.
  Outgoing flying{generate_message_id("222", 42), a, text_message("in flight")};
  auto in_flight = b3_to_a(must(build_direct_message(*w.b3.sig, b3self, flying, a1only, {})).stanza);

  // Meanwhile B3 asks A to re-send a message, with its keys.
  Outgoing out{generate_message_id("111", 43), w.b, text_message("retry me")};
  auto built = must(build_direct_message(*w.a1.sig, self, out, b3only, {}));
  must_ok(w.a1.db->sent_put(store::SentMessage{out.id, out.to.str(), out.message, 20}));
  auto keys = must(make_retry_keys(*w.b3.db, b3self));
  binary::Node incoming = test::wire(must(build_retry_receipt(a_to_b3(built.stanza), 2, b3self.registration_id, &keys)));
  incoming.attrs = {{"from", w.b3.jid.str()}, {"id", out.id}, {"type", "retry"}, {"t", "1700000005"}};
  auto req = must(parse_retry_receipt(incoming));
  REQUIRE(req.keys);
  auto sent = must(w.a1.db->sent_get(out.id, out.to.str()));
  REQUIRE(sent);
  auto resend = must(build_retry_resend(*w.a1.sig, *w.a1.db, self, req, *sent));
  CHECK(resend.identity_changed.empty());  // the same identity: nothing to report
  CHECK(resend.has_pkmsg);
  CHECK(must(w.a1.sig->has_session(address_of(w.b3.jid))));

  // What B3 had in flight on the old session is still readable (it was
  // lost when answering the retry deleted the session record)...
  auto late = decrypt_message(*w.a1.sig, self, in_flight);
  REQUIRE_MESSAGE(late.has_value(), (late ? std::string() : test::err_text(late.error())));
  CHECK(late->text == "in flight");
  // ...and B3 reads the re-send on the new session.
  auto rs = test::wire(test::deliver(resend.stanza, w.a1.jid, w.b3.jid, false));
  CHECK(must(decrypt_message(*w.b3.sig, b3self, rs)).text == "retry me");
  // Both ways keep working afterwards.
  Outgoing after{generate_message_id("111", 44), w.b, text_message("after")};
  CHECK(must(decrypt_message(*w.b3.sig, b3self, a_to_b3(must(build_direct_message(*w.a1.sig, self, after, b3only, {})).stanza))).text == "after");
  Outgoing back{generate_message_id("222", 45), a, text_message("back")};
  CHECK(must(decrypt_message(*w.a1.sig, self, b3_to_a(must(build_direct_message(*w.b3.sig, b3self, back, a1only, {})).stanza))).text == "back");
}

TEST_CASE("identity change: B0 reinstalls - the default policy accepts and reports it") {
  World w;
  install(w.a1, {&w.b0});
  auto self = w.a1.self();
  std::vector<binary::Jid> b0only{w.b0.jid};
  Outgoing first{generate_message_id("111", 30), w.b, text_message("before")};
  auto s = must(build_direct_message(*w.a1.sig, self, first, b0only, {}));
  must(decrypt_message(*w.b0.sig, w.b0.self(), test::wire(test::deliver(s.stanza, w.a1.jid, w.b0.jid, false))));

  // B0 reinstalls: a new store, new identity, and it writes first.
  test::Device b0new(w.dir.file("b0new.db"), "222@s.whatsapp.net");
  binary::Children users;
  users.push_back(w.a1.bundle_user());
  auto fetched = must(parse_prekey_response(test::prekey_response(std::move(users))));
  must(install_bundles(*b0new.sig, fetched));
  Outgoing hi{generate_message_id("222", 31), must(binary::Jid::parse("111@s.whatsapp.net")), text_message("new phone")};
  std::vector<binary::Jid> a1only{w.a1.jid};
  auto fromnew = must(build_direct_message(*b0new.sig, b0new.self(), hi, a1only, {}));
  auto delivered = test::wire(test::deliver(fromnew.stanza, b0new.jid, w.a1.jid, false));

  // A policy that refuses: typed error, nothing trusted.
  auto refused = decrypt_message(*w.a1.sig, self, delivered,
                                 [](const store::Address&) { return IdentityDecision::reject; });
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == "identity_changed");

  auto in = must(decrypt_message(*w.a1.sig, self, delivered));
  CHECK(in.text == "new phone");
  REQUIRE(in.identity_changed.size() == 1);
  CHECK(in.identity_changed[0] == store::Address{"222", 0});

  // A's answer reaches the new install on the rebuilt session.
  Outgoing ans{generate_message_id("111", 32), w.b, text_message("welcome back")};
  auto back = must(build_direct_message(*w.a1.sig, self, ans, b0only, {}));
  auto got = must(decrypt_message(*b0new.sig, b0new.self(), test::wire(test::deliver(back.stanza, w.a1.jid, b0new.jid, false))));
  CHECK(got.text == "welcome back");
}

TEST_CASE("receive: malformed stanzas give typed errors") {
  World w;
  auto self = w.b0.self();
  auto dec = [&](binary::Node n) { return decrypt_message(*w.b0.sig, self, n); };
  CHECK(dec(binary::Node("receipt")).error().code == "bad_stanza");
  CHECK(dec(binary::Node("message", {{"id", "X1"}})).error().code == "bad_stanza");
  CHECK(dec(binary::Node("message", {{"id", "X1"}, {"from", "1-2@g.us"}})).error().code == "bad_stanza");
  CHECK(dec(binary::Node("message", {{"from", "111:1@s.whatsapp.net"}})).error().code == "bad_stanza");
  CHECK(dec(binary::Node("message", {{"id", "X1"}, {"from", "111:1@s.whatsapp.net"}})).error().code == "no_enc");
  auto with_enc = [&](binary::Attrs enc_attrs, Bytes body) {
    binary::Children c;
    c.emplace_back("enc", std::move(enc_attrs), std::move(body));
    return binary::Node("message", {{"id", "X1"}, {"from", "111:1@s.whatsapp.net"}, {"t", "5"}}, std::move(c));
  };
  CHECK(dec(with_enc({{"v", "3"}, {"type", "msg"}}, Bytes{1})).error().code == "unsupported");
  CHECK(dec(with_enc({{"v", "2"}, {"type", "msmsg"}}, Bytes{1})).error().code == "unsupported");
  CHECK(dec(with_enc({{"v", "2"}, {"type", "msg"}}, Bytes{})).error().code == "invalid_message");
  CHECK(dec(with_enc({{"v", "2"}, {"type", "skmsg"}}, Bytes{0x33})).error().code == "bad_stanza");
  auto garbage = dec(with_enc({{"v", "2"}, {"type", "pkmsg"}}, Bytes(40, 0x33)));
  REQUIRE_FALSE(garbage.has_value());
  auto g2 = dec(with_enc({{"v", "2"}, {"type", "msg"}}, Bytes(40, 0x33)));
  REQUIRE_FALSE(g2.has_value());
}
