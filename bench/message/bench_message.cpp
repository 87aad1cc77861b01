// Message-layer costs on this machine, plain chrono (each profile is its own
// SQLite store on disk, as in production):
//   fanout N    build_direct_message for N recipient devices with
//               established sessions (pad + N Signal encrypts + stanza),
//               encoded to bytes: each encrypt committing on its own, and
//               all in one transaction (what send_message does)
//   decrypt     decrypt_message of one msg on the receiving device
//   group       build_group_message with the key already distributed
//               (one skmsg), and its decrypt on a member
//   pipeline    send_message with a warm device cache and a fake transport
// Usage: bench_message [iterations]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "wa/binary/codec.hpp"
#include "wa/message/id.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/receive.hpp"
#include "wa/message/send.hpp"
#include "wa/proto/message.pb.h"
#include "wa/signal/keys.hpp"
#include "wa/store/sqlite_store.hpp"

using namespace wa;
using Clock = std::chrono::steady_clock;

namespace {

template <class T>
T ok(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s %s\n", what, r.error().code.c_str(), r.error().message.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}
void ok(const Status& s, const char* what) {
  if (!s) {
    std::fprintf(stderr, "%s: %s\n", what, s.error().code.c_str());
    std::exit(1);
  }
}

struct Dev {
  std::unique_ptr<store::Store> db;
  std::unique_ptr<signal::SignalSession> sig;
  binary::Jid jid;
  Dev(const std::string& path, const std::string& j) {
    db = ok(store::open_sqlite(path), "open");
    ok(signal::ensure_registration(*db), "register");
    ok(db->put_credential(store::cred::own_jid, as_bytes(j)), "jid");
    sig = ok(signal::SignalSession::create(*db), "session");
    jid = ok(binary::Jid::parse(j), "jid");
  }
  signal::PreKeyBundle bundle() {
    signal::PreKeyBundle b;
    b.registration_id = *store::decode_u32(*ok(db->get_credential(store::cred::registration_id), "reg"));
    b.device_id = jid.device;
    auto pk = ok(signal::generate_and_store_prekeys(*db, 1), "prekey");
    b.prekey_id = pk[0].id;
    b.prekey_pub = pk[0].pub;
    auto spk = *ok(db->load_signed_prekey(1), "spk");
    b.signed_prekey_id = spk.id;
    b.signed_prekey_pub = spk.pub;
    b.signed_prekey_signature = spk.signature;
    b.identity_key = *ok(db->get_credential(store::cred::identity_pub), "id");
    return b;
  }
  message::Self self() { return ok(message::load_self(*db), "self"); }
};

Bytes text(const std::string& t) {
  proto::Message m;
  m.mutable_extendedtextmessage()->set_text(t);
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

binary::Node deliver(const binary::Node& sent, const binary::Jid& from, const binary::Jid& to_dev) {
  std::string to(sent.attr_or("to", ""));
  bool group = to.find("@g.us") != std::string::npos;
  binary::Attrs a = group ? binary::Attrs{{"from", to}, {"participant", from.str()}} : binary::Attrs{{"from", from.str()}};
  a.emplace_back("id", std::string(sent.attr_or("id", "")));
  a.emplace_back("t", "1700000000");
  binary::Children c;
  if (const auto* parts = sent.child("participants"))
    for (const auto* t : parts->children("to"))
      if (t->attr_or("jid", "") == to_dev.str())
        for (const auto& e : t->children()) c.push_back(e);
  for (const auto* e : sent.children("enc")) c.push_back(*e);
  return binary::Node("message", std::move(a), std::move(c));
}

double us_since(Clock::time_point t0, int n) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  int iters = argc > 1 ? std::atoi(argv[1]) : 200;
  if (iters < 1) iters = 1;
  auto dir = std::filesystem::temp_directory_path() / ("bench-message-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    Dev a(dir / "a.db", "111:1@s.whatsapp.net");
    std::vector<std::unique_ptr<Dev>> peers;
    for (int i = 0; i < 32; ++i)
      peers.push_back(std::make_unique<Dev>(dir / ("p" + std::to_string(i) + ".db"),
                                            "2" + std::to_string(100 + i) + "@s.whatsapp.net"));
    // Establish and confirm every session (one pkmsg each way).
    for (auto& p : peers) {
      ok(a.sig->process_bundle(message::address_of(p->jid), p->bundle()), "bundle");
      std::vector<binary::Jid> one{p->jid};
      message::Outgoing o{message::generate_message_id("111", 1), p->jid, text("hi")};
      auto b = ok(message::build_direct_message(*a.sig, a.self(), o, one, {}), "first");
      ok(message::decrypt_message(*p->sig, p->self(), deliver(b.stanza, a.jid, p->jid)), "first decrypt");
      std::vector<binary::Jid> back{a.jid};
      message::Outgoing r{message::generate_message_id("2", 1), a.jid.to_non_ad(), text("hi")};
      auto rb = ok(message::build_direct_message(*p->sig, p->self(), r, back, {}), "reply");
      ok(message::decrypt_message(*a.sig, a.self(), deliver(rb.stanza, p->jid, a.jid)), "reply decrypt");
    }
    Bytes body = text("a typical short chat message, about sixty bytes of text....");
    auto self = a.self();
    std::printf("message layer, %d iterations each, SQLite stores on %s\n", iters, dir.c_str());
    for (size_t n : {1u, 8u, 32u}) {
      std::vector<binary::Jid> devs;
      for (size_t i = 0; i < n; ++i) devs.push_back(peers[i]->jid);
      int rounds = n == 32 ? std::max(1, iters / 8) : iters;
      auto t0 = Clock::now();
      for (int i = 0; i < rounds; ++i) {
        message::Outgoing o{message::generate_message_id("111", i), peers[0]->jid, body};
        auto b = ok(message::build_direct_message(*a.sig, self, o, devs, {}), "fanout");
        ok(binary::encode(b.stanza), "encode");
      }
      double per = us_since(t0, rounds);
      std::printf("fanout %2zu devices, commit per device: %9.1f us/message  %7.1f us/device\n", n, per,
                  per / static_cast<double>(n));
      // As send_message does it: the whole fan-out in one transaction.
      t0 = Clock::now();
      for (int i = 0; i < rounds; ++i) {
        ok(a.db->transaction(store::Durability::full, [&]() -> Status {
          message::Outgoing o{message::generate_message_id("111", i), peers[0]->jid, body};
          auto b = message::build_direct_message(*a.sig, self, o, devs, {});
          if (!b) return Unexpected<Error>{b.error()};
          return binary::encode(b->stanza) ? Status{} : fail("encode");
        }), "fanout tx");
      }
      per = us_since(t0, rounds);
      std::printf("fanout %2zu devices, one transaction:   %9.1f us/message  %7.1f us/device\n", n, per,
                  per / static_cast<double>(n));
    }
    // Decrypt: the receiver reads messages in order.
    std::vector<binary::Node> inbox;
    std::vector<binary::Jid> p0{peers[0]->jid};
    for (int i = 0; i < iters; ++i) {
      message::Outgoing o{message::generate_message_id("111", i), peers[0]->jid, body};
      inbox.push_back(deliver(ok(message::build_direct_message(*a.sig, self, o, p0, {}), "m").stanza, a.jid, peers[0]->jid));
    }
    auto pself = peers[0]->self();
    auto t0 = Clock::now();
    for (const auto& m : inbox) ok(message::decrypt_message(*peers[0]->sig, pself, m), "decrypt");
    std::printf("decrypt 1:1 msg:   %9.1f us/message\n", us_since(t0, iters));

    // Group: distribute once, then measure skmsg send + decrypt.
    auto g = ok(binary::Jid::parse("120363000000000001@g.us"), "g");
    std::vector<binary::Jid> members;
    for (size_t i = 0; i < 8; ++i) members.push_back(peers[i]->jid);
    message::Outgoing first{message::generate_message_id("111", 0), g, body};
    auto fb = ok(message::build_group_message(*a.sig, *a.db, self, first, members), "group first");
    ok(message::remember_sender_key_recipients(*a.db, g.str(), fb.sender_key_recipients), "remember");
    ok(message::decrypt_message(*peers[0]->sig, pself, deliver(fb.stanza, a.jid, peers[0]->jid)), "g decrypt");
    std::vector<binary::Node> ginbox;
    t0 = Clock::now();
    for (int i = 0; i < iters; ++i) {
      message::Outgoing o{message::generate_message_id("111", i), g, body};
      auto b = ok(message::build_group_message(*a.sig, *a.db, self, o, members), "group");
      ginbox.push_back(deliver(b.stanza, a.jid, peers[0]->jid));
    }
    std::printf("group send (8 members, key known): %9.1f us/message\n", us_since(t0, iters));
    t0 = Clock::now();
    for (const auto& m : ginbox) ok(message::decrypt_message(*peers[0]->sig, pself, m), "g decrypt");
    std::printf("group decrypt skmsg: %9.1f us/message\n", us_since(t0, iters));

    // Pipeline with a warm device cache and an instant transport.
    ok(a.db->put_device_list(peers[1]->jid.str(), store::DeviceList{{0}, 1700000000}), "cache");
    ok(a.db->put_device_list("111@s.whatsapp.net", store::DeviceList{{}, 1700000000}), "cache own");
    message::Transport net;
    net.iq = [](const binary::Node&) -> Result<binary::Node> { return fail("unexpected", "no iq expected"); };
    net.relay = [](const binary::Node&, const std::string& id) -> Result<binary::Node> {
      return binary::Node("ack", {{"class", "message"}, {"id", id}});
    };
    message::PipelineOptions opt;
    opt.now = [] { return int64_t{1700000100}; };
    t0 = Clock::now();
    for (int i = 0; i < iters; ++i) ok(message::send_message(*a.db, *a.sig, net, peers[1]->jid, body, opt), "pipeline");
    std::printf("send_message (1 device, cached): %9.1f us/message\n", us_since(t0, iters));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
