#include "retry.hpp"

#include <chrono>
#include <optional>

#include "wa/binary/codec.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/receipt.hpp"
#include "wa/message/self.hpp"
#include "wa/message/send.hpp"

namespace wa::sender {

namespace msg = ipc::msg;

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A session for `device` when we hold none and the receipt brought no keys.
Status fetch_session(store::Store& st, signal::SignalSession& sig, const message::Transport& net,
                     const binary::Jid& device) {
  std::vector<binary::Jid> one{device};
  auto need = message::devices_without_session(sig, one);
  if (!need) return Unexpected<Error>{need.error()};
  if (need->empty()) return {};
  auto answer = net.iq(message::build_prekey_query(*need, "r" + to_hex(crypto::random_bytes(6))));
  if (!answer) return Unexpected<Error>{answer.error()};
  auto bundles = message::parse_prekey_response(*answer);
  if (!bundles) return Unexpected<Error>{bundles.error()};
  std::optional<Result<message::SessionReport>> rep;
  WA_TRY(st.transaction(store::Durability::full, [&]() -> Status {
    rep = message::install_bundles(sig, *bundles);
    if (!*rep) return Unexpected<Error>{rep->error()};
    return {};
  }));
  if (!(*rep)->failed.empty()) return fail("session_failed", "no usable bundle for the requesting device");
  return {};
}

Result<json> answer_retry(store::Store& st, signal::SignalSession& sig, const message::Transport& net,
                          const std::string& conversation, const json& payload) {
  if (!payload.contains("receipt") || !payload["receipt"].is_binary())
    return fail("bad_request", "retry job without a receipt");
  const auto& raw = payload["receipt"].get_binary();
  auto node = binary::decode(ByteView(raw.data(), raw.size()));
  if (!node) return fail("bad_request", "retry receipt does not decode");
  auto req = message::parse_retry_receipt(*node);
  if (!req) return Unexpected<Error>{req.error()};
  if (req->count > message::kMaxRetryCount) return fail("retry_exhausted", "the device asked too often");
  const binary::Jid chat = req->chat();
  if (chat.str() != conversation) return fail("bad_request", "retry receipt for another conversation");

  auto self = message::load_self(st);
  if (!self) return Unexpected<Error>{self.error()};
  auto sent = message::find_sent(st, req->id, chat);
  if (!sent) return Unexpected<Error>{sent.error()};
  const int64_t now = unix_now();
  if (!*sent || now - (*sent)->ts > kSentMessageTtlS) return fail("not_found", "the message is not in the sent cache");

  if (!req->keys) WA_TRY(fetch_session(st, sig, net, req->device()));
  // Re-encryption advances the ratchet: one durable commit, before relaying.
  std::optional<Result<message::Built>> built;
  WA_TRY(st.transaction(store::Durability::full, [&]() -> Status {
    built = message::build_retry_resend(sig, st, *self, *req, **sent);
    if (!*built) return Unexpected<Error>{built->error()};
    return {};
  }));
  auto ack = net.relay((*built)->stanza, req->id);
  if (!ack) return Unexpected<Error>{ack.error()};
  if (ack->tag != "ack" || ack->attr_or("id", "") != req->id) return fail("bad_ack", "the server acked something else");
  if (auto e = ack->attr("error")) return fail("rejected:" + std::string(*e), "the server refused the re-send");
  return json{{"id", req->id}, {"device", req->device().str()}, {"count", req->count}};
}

}  // namespace

json run_retry_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                   const std::string& conversation, uint64_t job, const json& payload) {
  message::Transport net = query_transport(query);
  auto r = answer_retry(st, sig, net, conversation, payload);
  if (!r) {
    WA_WARN("retry job %llu failed: %s", static_cast<unsigned long long>(job), r.error().code.c_str());
    return json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", false}, {"code", r.error().code},
                {"message", r.error().message}};
  }
  return json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", true}, {"result", std::move(*r)}};
}

}  // namespace wa::sender
