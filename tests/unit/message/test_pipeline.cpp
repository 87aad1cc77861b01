// The whole send pipeline against a fake server: usync / prekey / group
// answers are built from the other profiles' stores, the relayed stanza is
// fanned out and decrypted with the recipients' stores.
#include <doctest/doctest.h>

#include "fake_server.hpp"
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
  e.server.ack_error = "463";
  CHECK(send_message(*e.a1.db, *e.a1.sig, net, b, conversation("x"), e.opts).error().code == "rejected:463");
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
