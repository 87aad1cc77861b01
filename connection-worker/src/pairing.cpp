// Pairing a profile that is not linked yet: the server offers it with
// <iq><pair-device> (QR refs, shown one after another), or the user asks for
// a phone-number code (companion_hello, then the phone's
// link_code_companion_reg notification). Either ends in <pair-success>,
// verified and stored before we answer (pair.cpp, pair_code.cpp).
#include "client.hpp"
#include "client_payload.hpp"
#include "pair.hpp"
#include "wa/log.hpp"

namespace wa::connection {

using binary::Node;

bool Client::on_pair_iq(const Node& node) {
  if (node.attr_or("type", "") != "set") return false;
  if (node.child("pair-device") != nullptr) {
    on_pair_device(node);
    return true;
  }
  if (node.child("pair-success") != nullptr) {
    on_pair_success(node);
    return true;
  }
  return false;
}

void Client::fail_pair_code_waiters(const Error& e) {
  for (auto& w : std::exchange(pairing_.code_waiters, {})) w(Unexpected<Error>{e});
}

void Client::on_pair_device(const Node& node) {
  (void)send_node(Node("iq", {{"to", kServerJid}, {"type", "result"}, {"id", std::string(node.attr_or("id", ""))}}));
  if (creds_.registered()) return;
  connect_timer_.stop();
  phase_ = Phase::pairing;
  for (auto& r : pair_device_refs(node)) pairing_.qr_refs.push_back(std::move(r));
  if (pairing_.code && !pairing_.code_sent) send_pair_code_hello();
  // With a pairing code on the way the QR codes are still shown: whichever
  // the user completes first wins.
  show_next_qr();
}

void Client::show_next_qr() {
  if (phase_ != Phase::pairing) return;
  if (pairing_.qr_refs.empty()) {
    drop({CloseAction::reconnect_backoff, "qr_refs_exhausted"});
    return;
  }
  std::string ref = std::move(pairing_.qr_refs.front());
  pairing_.qr_refs.pop_front();
  uint64_t ttl = pairing_.qr_shown ? kNextQrMs : kFirstQrMs;
  pairing_.qr_shown = true;
  emit({{"type", "qr"}, {"qr", make_qr_string(ref, creds_, companion_platform_id(settings_))}, {"ttl_ms", ttl}});
  uint64_t gen = gen_;
  pairing_.qr_timer.start(ttl, [this, gen] {
    if (gen == gen_) show_next_qr();
  });
}

void Client::on_pair_success(const Node& node) {
  pairing_.qr_timer.stop();
  auto ok = verify_pair_success(node, creds_);
  if (!ok) {
    WA_WARN("pairing refused: %s", ok.error().message.c_str());
    (void)send_node(pair_error_reply(node.attr_or("id", ""), ok.error()));
    drop({CloseAction::reconnect_backoff, "pair_" + ok.error().code});
    return;
  }
  // Persist before answering: once the phone has our signature the link
  // exists, and losing it to a crash would orphan the device.
  if (auto st = save_pairing(*store_, ok->identity, creds_.adv_secret); !st) {
    WA_ERROR("cannot store the pairing: %s", st.error().message.c_str());
    (void)send_node(pair_error_reply(node.attr_or("id", ""), Error{"pair_malformed", "internal"}));
    drop({CloseAction::reconnect_backoff, "store_failed"});
    return;
  }
  creds_.jid = ok->identity.jid;
  creds_.lid = ok->identity.lid;
  creds_.platform = ok->identity.platform;
  creds_.account = ok->identity.account;
  pairing_.code.reset();
  for (auto& w : std::exchange(pairing_.code_waiters, {})) w(fail("already_paired", "paired by QR code"));
  WA_INFO("paired as device %s", creds_.jid.c_str());
  emit({{"type", "paired"}, {"jid", creds_.jid}, {"lid", creds_.lid}, {"platform", creds_.platform}});
  (void)send_node(ok->reply);
  // The server now ends the stream with 515 and we log in.
}

void Client::request_pair_code(const std::string& phone, std::function<void(Result<std::string>)> done) {
  if (creds_.registered()) return done(fail("already_paired", "this profile is already linked to an account"));
  if (phase_ == Phase::stopped) return done(fail("not_connected", "the connection is stopping"));
  auto req = new_pair_code_request(phone);
  if (!req) return done(Unexpected<Error>{req.error()});
  pairing_.code = std::move(*req);
  pairing_.code_waiters.push_back(std::move(done));
  pairing_.code_sent = false;
  if (phase_ == Phase::pairing) send_pair_code_hello();
  // Otherwise it goes out when the server offers pairing (pair-device).
}

void Client::send_pair_code_hello() {
  if (!pairing_.code) return;
  pairing_.code_sent = true;
  std::string id = iq_.next_id();
  Node hello = companion_hello_iq(*pairing_.code, creds_, settings_, id);
  std::string code = pairing_.code->code;
  iq_.expect(id, settings_.iq_timeout_ms, [this, code](Result<Node> r) {
    auto waiters = std::exchange(pairing_.code_waiters, {});
    if (!r) {
      for (auto& w : waiters) w(Unexpected<Error>{r.error()});
      return;
    }
    emit({{"type", "pairing_code"}, {"code", code}});
    for (auto& w : waiters) w(code);
  });
  if (auto st = send_node(hello); !st) iq_.fail_one(id, st.error());
}

void Client::on_link_code_notification(const Node& node) {
  ack(node);
  if (!pairing_.code || creds_.registered()) return;
  auto finish = companion_finish(node, *pairing_.code, creds_);
  if (!finish) {
    WA_WARN("code pairing refused: %s", finish.error().message.c_str());
    return;
  }
  // The pair-success that follows is authenticated with the derived secret.
  secure_wipe(creds_.adv_secret);
  creds_.adv_secret = std::move(finish->adv_secret);
  Node iq("iq", {{"to", kServerJid}, {"type", "set"}, {"xmlns", "md"}}, binary::Children{std::move(finish->content)});
  query(std::move(iq), [](Result<Node> r) {
    if (!r) WA_WARN("companion_finish was not accepted: %s", r.error().code.c_str());
  });
}

}  // namespace wa::connection
