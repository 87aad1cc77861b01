#include "wa/ipc/client.hpp"

#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "wa/ipc/addresses.hpp"
#include "wa/ipc/fields.hpp"

namespace wa::ipc {

Status check_reply(const json& reply) {
  auto bad = [] { return fail("bad_reply", "the supervisor sent a reply that is not a reply envelope"); };
  auto ok = field<bool>(reply, "ok");
  if (!ok) return bad();
  if (*ok) return reply.contains("result") ? Status{} : bad();
  auto err = object_field(reply, "error");
  if (!err || !field<std::string>(*err, "code") || !field<std::string>(*err, "message")) return bad();
  return {};
}

Result<ControlClient> ControlClient::connect(const std::string& url, int timeout_ms) {
  auto s = open_socket(Protocol::req);
  if (!s) return Unexpected<Error>{s.error()};
  WA_TRY(set_ms(*s, NNG_OPT_SENDTIMEO, timeout_ms));
  WA_TRY(set_ms(*s, NNG_OPT_RECVTIMEO, timeout_ms));
  WA_TRY(set_size(*s, NNG_OPT_RECVMAXSZ, 64u << 20));
  WA_TRY(dial(*s, url, true));
  return ControlClient(std::move(*s));
}

Result<std::string> ControlClient::request_raw(std::string_view text) {
  // NNG would drop it with the connection, and we would wait for an answer
  // that cannot come.
  if (text.size() > kControlTransportMax)
    return fail("too_large", "request is larger than " + std::to_string(kControlRequestMax) +
                                 " bytes (not sent)");
  WA_TRY(send_bytes(sock_, as_bytes(text)));
  auto r = recv_bytes(sock_);
  if (!r) return Unexpected<Error>{r.error()};
  return std::string(r->begin(), r->end());
}

Result<json> ControlClient::request(const json& req) {
  auto r = request_raw(dump_json(req));
  if (!r) return Unexpected<Error>{r.error()};
  auto j = parse_json_text(as_bytes(*r));
  if (!j) return fail("bad_reply", "the supervisor sent a reply that is not JSON");
  WA_TRY(check_reply(*j));
  return j;
}

Result<EventClient> EventClient::connect(const std::string& url, const std::string& profile) {
  auto s = open_socket(Protocol::sub);
  if (!s) return Unexpected<Error>{s.error()};
  std::string topic = profile.empty() ? std::string() : profile + " ";
  int rv = nng_socket_set(s->get(), NNG_OPT_SUB_SUBSCRIBE, topic.data(), topic.size());
  if (rv != 0) return fail("ipc_error", "cannot subscribe: " + nng_error_text(rv));
  WA_TRY(dial(*s, url, true));
  return EventClient(std::move(*s));
}

Result<std::optional<json>> EventClient::next(int timeout_ms) {
  WA_TRY(set_ms(sock_, NNG_OPT_RECVTIMEO, timeout_ms));
  auto r = recv_bytes(sock_);
  if (!r) {
    if (r.error().code == "timeout") return std::optional<json>{};
    return Unexpected<Error>{r.error()};
  }
  std::string_view text = as_chars(*r);
  auto sp = text.find(' ');
  if (sp == std::string_view::npos) return fail("bad_event", "event without topic");
  auto j = parse_json_text(as_bytes(text.substr(sp + 1)));
  if (!j) return fail("bad_event", "event is not JSON");
  return std::optional<json>{std::move(*j)};
}

}  // namespace wa::ipc
