#include "pipeline.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include <nng/protocol/reqrep0/req.h>

#include "job.hpp"
#include "retry.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/fields.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/open.hpp"

namespace wa::sender {

namespace msg = ipc::msg;

Pipeline::Pipeline(std::string profile, std::string conversation, std::string data_dir, std::string store)
    : profile_(std::move(profile)),
      conversation_(std::move(conversation)),
      data_dir_(std::move(data_dir)),
      store_locator_(std::move(store)) {}

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

Status Pipeline::open_store(const std::string& data_dir) {
  if (store_) return {};
  // Without a store the account cannot have been paired, so it cannot be
  // connected either: callers get the code they already handle.
  if (data_dir.empty() && store_locator_.empty()) {
    WA_ERROR("started without --data-dir: cannot reach the profile's store");
    return fail("not_connected", "the sender has no data directory");
  }
  const std::string locator = store_locator_.empty() ? data_dir + "/" + profile_ + "/store.db" : store_locator_;
  auto there = store::exists(locator);
  if (!there) return Unexpected<Error>{there.error()};
  if (!*there) return fail("not_connected", "the account is not paired");
  auto st = store::open(locator);
  if (!st) return Unexpected<Error>{st.error()};
  auto sig = signal::SignalSession::create(**st);
  if (!sig) return Unexpected<Error>{sig.error()};
  store_ = std::move(*st);
  signal_ = std::move(*sig);
  // The sent-message cache only has to answer retries for a while; pruning
  // once per sender process keeps it bounded without a timer anywhere.
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  if (auto pruned = store_->sent_prune(now.count() - kSentMessageTtlS); !pruned)
    WA_WARN("sent-message cache not pruned: %s", pruned.error().code.c_str());
  if (auto pruned = store_->media_prune(now.count() - kMediaRefTtlS); !pruned)
    WA_WARN("received-media rows not pruned: %s", pruned.error().code.c_str());
  return {};
}

Result<ipc::link::FromConnection> Pipeline::call(const json& request) {
  json r = request;
  r["conversation"] = conversation_;
  r["pid"] = pid_;
  WA_TRY(ipc::send_bytes(sock_, ipc::to_cbor(r)));
  auto body = ipc::recv_bytes(sock_);
  if (!body) return Unexpected<Error>{body.error()};
  auto m = ipc::link::decode_from_connection(*body);
  if (!m) return fail("bad_message", "malformed reply from the connection worker: " + m.error().message);
  return m;
}

Result<json> Pipeline::query(uint64_t job, const json& what) {
  json q = what;
  q[msg::kOp] = msg::kQuery;
  q["job"] = job;
  auto r = call(q);
  if (!r) return Unexpected<Error>{r.error()};
  if (r->op == msg::kError) return fail(r->code, r->message);
  return std::move(r->raw);
}

json Pipeline::send_job(uint64_t job, const json& payload) {
  std::string data_dir = data_dir_;
  if (data_dir.empty() && payload.is_object() && payload.contains("data_dir") && payload["data_dir"].is_string())
    data_dir = payload["data_dir"].get<std::string>();
  if (auto st = open_store(data_dir); !st)
    return json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", false}, {"code", st.error().code},
                {"message", st.error().message}};
  QueryFn q = [this, job](const json& what) { return query(job, what); };
  auto kind = ipc::field_or<std::string>(payload, "kind", "");
  if (kind && *kind == "retry") return run_retry_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "media") return run_media_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "download") return run_download_job(*store_, q, job, payload);
  if (kind && *kind == "react") return run_react_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "location") return run_location_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "contact") return run_contact_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "revoke") return run_revoke_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "poll") return run_poll_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "vote") return run_vote_job(*store_, *signal_, q, conversation_, job, payload);
  if (kind && *kind == "edit") return run_edit_job(*store_, *signal_, q, conversation_, job, payload);
  return run_job(*store_, *signal_, q, conversation_, job, payload);
}

int Pipeline::run() {
  // SQLITE_CORRUPT / NOTADB met by this sender stops the whole account: it
  // exits with kExitStoreCorrupt (the job in hand fails as sender_crashed)
  // and the supervisor takes the instance to failed, reason store_corrupt.
  bool corrupt = false;
  store::set_corruption_observer([&corrupt](const Error&) { corrupt = true; });
  struct Reset {
    ~Reset() { store::set_corruption_observer(nullptr); }
  } reset;
  auto r = call({{msg::kOp, msg::kNext}});
  while (r) {
    const std::string& op = r->op;
    if (op == msg::kExit) return 0;
    if (op != msg::kJob) {
      WA_ERROR("unexpected '%s' from the connection worker", op.substr(0, 64).c_str());
      return 1;
    }
    json done = send_job(r->job, r->payload);
    if (corrupt) {
      WA_ERROR("the profile's database is damaged: stopping the account");
      return msg::kExitStoreCorrupt;
    }
    r = call(done);
  }
  WA_ERROR("link to the connection worker failed: %s", r.error().message.c_str());
  return 1;
}

}  // namespace wa::sender
