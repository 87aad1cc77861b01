#include "pipeline.hpp"

#include <unistd.h>

#include <nng/protocol/reqrep0/req.h>

#include "wa/ipc/codec.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"

namespace wa::sender {

namespace msg = ipc::msg;

Pipeline::Pipeline(std::string profile, std::string conversation)
    : profile_(std::move(profile)), conversation_(std::move(conversation)) {}

Status Pipeline::connect(const std::string& url) {
  auto s = ipc::open_socket(ipc::Protocol::req);
  if (!s) return Unexpected<Error>{s.error()};
  sock_ = std::move(*s);
  // Never resend: a resent "done" or relay could act twice. If the worker
  // goes away, rest_for_one takes this process down with it.
  WA_TRY(ipc::set_ms(sock_, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE));
  WA_TRY(ipc::set_size(sock_, NNG_OPT_RECVMAXSZ, 4u << 20));
  WA_TRY(ipc::dial(sock_, url, true));
  return {};
}

Result<json> Pipeline::call(const json& request) {
  json r = request;
  r["conversation"] = conversation_;
  r["pid"] = ::getpid();
  WA_TRY(ipc::send_bytes(sock_, ipc::to_cbor(r)));
  auto body = ipc::recv_bytes(sock_);
  if (!body) return Unexpected<Error>{body.error()};
  auto m = ipc::from_cbor(*body);
  if (!m || !m->is_object() || !(*m)[msg::kOp].is_string()) return fail("bad_message", "malformed reply from the connection worker");
  return *m;
}

Result<json> Pipeline::query(uint64_t job, const json& what) {
  json q = what;
  q[msg::kOp] = msg::kQuery;
  q["job"] = job;
  auto r = call(q);
  if (!r) return r;
  if ((*r)[msg::kOp] == msg::kError)
    return fail(r->value("code", std::string("query_failed")), r->value("message", std::string()));
  return r;
}

json Pipeline::send_job(uint64_t job, const json& payload) {
  auto failed = [job](const Error& e) {
    return json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", false}, {"code", e.code}, {"message", e.message}};
  };
  // 1. Devices of the conversation (the device-list cache lives in the
  //    store; a miss is a usync query through the worker).
  auto devices = query(job, {{"what", "devices"}, {"jid", payload.value("to", "")}});
  if (!devices) return failed(devices.error());
  // Later steps (sessions, encryption, relay) arrive with the protocol.
  return failed(Error{"not_connected", "the account is not connected"});
}

int Pipeline::run() {
  auto r = call({{msg::kOp, msg::kNext}});
  while (r) {
    const std::string op = (*r)[msg::kOp].get<std::string>();
    if (op == msg::kExit) return 0;
    if (op != msg::kJob) {
      WA_ERROR("unexpected '%s' from the connection worker", op.c_str());
      return 1;
    }
    uint64_t job = r->value("job", uint64_t{0});
    json done = send_job(job, r->value("payload", json::object()));
    r = call(done);
  }
  WA_ERROR("link to the connection worker failed: %s", r.error().message.c_str());
  return 1;
}

}  // namespace wa::sender
