// A raw peer for process tests: a paired companion device of another
// account (the server's load client) that encrypts to our account with its
// own Signal store. What it relays is captured; the test sends it when it
// says (send() does both at once).
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>

#include <doctest/doctest.h>

#include "load_client.hpp"
#include "must.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/send.hpp"
#include "wa/proto/message.pb.h"
#include "wa/signal/session.hpp"
#include "wa/store/sqlite_store.hpp"

namespace harness {

using namespace std::chrono_literals;

struct Peer {
  wa::loadclient::Creds creds;
  std::unique_ptr<wa::store::Store> st;
  std::unique_ptr<wa::signal::SignalSession> sig;
  std::optional<wa::loadclient::WaConn> conn;
  wa::message::Transport net;
  std::vector<wa::binary::Node> captured;
  int iq_n = 0;

  Peer(const wa::loadclient::Env& env, const std::string& phone, const std::string& db) {
    creds = wa::loadclient::pair_device(env, phone);
    st = wa::test::must(wa::store::open_sqlite(db));
    wa::test::must_ok(st->put_credential(wa::store::cred::identity_pub, creds.identity.pub));
    wa::test::must_ok(st->put_credential(wa::store::cred::identity_priv, creds.identity.priv));
    wa::test::must_ok(st->put_credential(wa::store::cred::registration_id, wa::store::encode_u32(creds.registration_id)));
    wa::test::must_ok(st->put_credential(wa::store::cred::own_jid, wa::as_bytes(creds.jid)));
    sig = wa::test::must(wa::signal::SignalSession::create(*st));
    conn.emplace(wa::loadclient::login(env, creds));
    net.iq = [this](const wa::binary::Node& iq) -> wa::Result<wa::binary::Node> {
      wa::binary::Node q = iq;
      std::string id = "p" + std::to_string(++iq_n);
      q.set_attr("id", id);
      conn->send(q);
      return next([&](const wa::binary::Node& n) { return n.tag == "iq" && n.attr_or("id", "") == id; });
    };
    net.relay = [this](const wa::binary::Node& stanza, const std::string& id) -> wa::Result<wa::binary::Node> {
      captured.push_back(stanza);
      return wa::binary::Node("ack", {{"class", "message"}, {"id", id}});
    };
  }

  // The next node from the server that satisfies `pred` (others are
  // skipped), within 20 s; throws at the deadline.
  wa::binary::Node next(const std::function<bool(const wa::binary::Node&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      wa::binary::Node n = conn->recv(20000);
      if (pred(n)) return n;
    }
    throw std::runtime_error("peer: no matching node from the server");
  }

  // Encrypts `m` to `to` and returns the stanza (not sent yet).
  wa::binary::Node encrypt(const wa::binary::Jid& to, const wa::proto::Message& m) {
    std::string body = m.SerializeAsString();
    captured.clear();
    wa::test::must(wa::message::send_message(*st, *sig, net, to, wa::as_bytes(body)));
    REQUIRE(captured.size() == 1);
    return captured.front();
  }
  wa::binary::Node encrypt(const wa::binary::Jid& to, const std::string& text) {
    wa::proto::Message m;
    m.set_conversation(text);
    return encrypt(to, m);
  }

  // Encrypts and sends at once; the message id (acks are not awaited: a
  // test waits on our account's events).
  std::string send(const wa::binary::Jid& to, const wa::proto::Message& m) {
    wa::binary::Node stanza = encrypt(to, m);
    conn->send(stanza);
    return std::string(stanza.attr_or("id", ""));
  }
};

}  // namespace harness
