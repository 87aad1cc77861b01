#include "cluster_link.hpp"

#include "wa/contract/cluster.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"

namespace wa::supervisor {

using json = nlohmann::json;

namespace {

std::string nats_error(natsStatus s) { return natsStatus_GetText(s); }

// Owns a message handed to a callback.
struct MsgGuard {
  natsMsg* m;
  ~MsgGuard() { natsMsg_Destroy(m); }
};

std::string_view data_of(natsMsg* m) {
  const char* d = natsMsg_GetData(m);
  const int n = natsMsg_GetDataLength(m);
  return d && n > 0 ? std::string_view(d, static_cast<size_t>(n)) : std::string_view{};
}

// NATS refuses payloads over the server's max_payload (1 MiB by default).
constexpr size_t kMaxReplyBytes = 1024 * 1024 - 1024;
// Publishes while NATS is away are held up to this much, then refused:
// events missed are replayed from the log, requests are refused anyway.
constexpr int kReconnectBuffer = 1 << 20;

}  // namespace

ClusterLink::ClusterLink(uv_loop_t* loop, ipc::LoopBridge& bridge, contract::ClusterSettings settings, Handlers handlers)
    : loop_(loop), bridge_(bridge), settings_(std::move(settings)), handlers_(std::move(handlers)) {}

Result<std::unique_ptr<ClusterLink>> ClusterLink::open(uv_loop_t* loop, ipc::LoopBridge& bridge,
                                                       const contract::ClusterSettings& settings, Handlers handlers) {
  std::unique_ptr<ClusterLink> link(new ClusterLink(loop, bridge, settings, std::move(handlers)));
  WA_TRY(link->connect());
  return link;
}

Status ClusterLink::connect() {
  auto check = [](natsStatus s, const char* what) -> Status {
    if (s == NATS_OK) return {};
    return fail("bad_config", std::string("NATS: ") + what + ": " + nats_error(s));
  };
  WA_TRY(check(natsOptions_Create(&opts_), "options"));
  // The URL list may carry credentials: it goes to the library, never to a log.
  WA_TRY(check(natsOptions_SetURL(opts_, settings_.nats_url.c_str()), "cluster.nats_url"));
  const std::string name = "wa-supervisor:" + settings_.host_id;
  WA_TRY(check(natsOptions_SetName(opts_, name.c_str()), "name"));
  // Our own events must not come back to us as another host's.
  WA_TRY(check(natsOptions_SetNoEcho(opts_, true), "no echo"));
  WA_TRY(check(natsOptions_SetAllowReconnect(opts_, true), "reconnect"));
  WA_TRY(check(natsOptions_SetMaxReconnect(opts_, -1), "reconnect"));
  WA_TRY(check(natsOptions_SetReconnectWait(opts_, 500), "reconnect wait"));
  WA_TRY(check(natsOptions_SetReconnectBufSize(opts_, kReconnectBuffer), "reconnect buffer"));
  // A server that stops answering without closing the socket is noticed
  // within about four seconds.
  WA_TRY(check(natsOptions_SetPingInterval(opts_, 2000), "ping interval"));
  WA_TRY(check(natsOptions_SetMaxPingsOut(opts_, 2), "pings out"));
  WA_TRY(check(natsOptions_SetTimeout(opts_, 2000), "connect timeout"));
  WA_TRY(check(natsOptions_SetDisconnectedCB(opts_, &ClusterLink::on_disconnected, this), "callbacks"));
  WA_TRY(check(natsOptions_SetReconnectedCB(opts_, &ClusterLink::on_reconnected, this), "callbacks"));
  // Not up yet: keep trying in the background; the first connect then
  // counts as a reconnect (events published meanwhile are replayed).
  WA_TRY(check(natsOptions_SetRetryOnFailedConnect(opts_, true, &ClusterLink::on_reconnected, this), "retry"));
  natsStatus s = natsConnection_Connect(&nc_, opts_);
  if (s == NATS_OK) {
    up_ = true;
    WA_INFO("cluster: connected to NATS");
  } else if (s == NATS_NOT_YET_CONNECTED) {
    WA_WARN("cluster: NATS not reachable yet; trying in the background");
  } else {
    return fail("bad_config", "NATS: cannot connect: " + nats_error(s));
  }
  natsInbox* inbox = nullptr;
  WA_TRY(check(natsInbox_Create(&inbox), "inbox"));
  inbox_ = inbox;
  natsInbox_Destroy(inbox);
  const std::string cmd = contract::cluster_command_subject(settings_.subject_prefix, settings_.host_id);
  const std::string ev = contract::cluster_event_wildcard(settings_.subject_prefix);
  const std::string replies = inbox_ + ".*";
  WA_TRY(check(natsConnection_Subscribe(&commands_, nc_, cmd.c_str(), &ClusterLink::on_command, this), "subscribe"));
  WA_TRY(check(natsConnection_Subscribe(&events_, nc_, ev.c_str(), &ClusterLink::on_event, this), "subscribe"));
  WA_TRY(check(natsConnection_Subscribe(&replies_, nc_, replies.c_str(), &ClusterLink::on_reply, this), "subscribe"));
  return {};
}

ClusterLink::~ClusterLink() {
  *alive_ = false;
  for (natsSubscription* sub : {commands_, events_, replies_}) {
    if (sub == nullptr) continue;
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
  if (nc_) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  if (opts_) natsOptions_Destroy(opts_);
  // The library's threads may still be inside one of our callbacks: wait
  // for all of them to end before this object's memory goes.
  nats_CloseAndWait(5000);
}

bool ClusterLink::connected() const { return nc_ && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

void ClusterLink::publish_event(const std::string& profile, std::string_view line) {
  if (!connected()) {
    ++counters_.events_dropped;
    return;
  }
  const std::string subject = contract::cluster_event_subject(settings_.subject_prefix, profile);
  if (natsConnection_Publish(nc_, subject.c_str(), line.data(), static_cast<int>(line.size())) == NATS_OK) {
    ++counters_.events_out;
  } else {
    ++counters_.events_dropped;
  }
}

void ClusterLink::request(const std::string& host, const json& req, uint64_t timeout_ms, bool sends, ReplyFn done) {
  ++counters_.requests_out;
  if (!connected()) {
    ++counters_.request_failures;
    done(ipc::error_reply("cluster_unavailable",
                          "the profile runs on host '" + host + "' and NATS is not reachable from here"));
    return;
  }
  const uint64_t id = next_id_++;
  const std::string subject = contract::cluster_command_subject(settings_.subject_prefix, host);
  const std::string reply_to = inbox_ + "." + std::to_string(id);
  const std::string body = ipc::dump_json(req);
  natsStatus s = natsConnection_PublishRequest(nc_, subject.c_str(), reply_to.c_str(), body.data(),
                                               static_cast<int>(body.size()));
  if (s != NATS_OK) {
    ++counters_.request_failures;
    done(ipc::error_reply("cluster_unavailable", "cannot reach host '" + host + "': " + nats_error(s)));
    return;
  }
  Outstanding out{std::move(done), sends, std::make_unique<ipc::Timer>(loop_)};
  out.deadline->start(timeout_ms, [this, id, host] {
    auto it = outstanding_.find(id);
    if (it == outstanding_.end()) return;
    ++counters_.request_failures;
    json r = it->second.sends
                 ? ipc::error_reply("unknown_outcome", "host '" + host + "' did not answer in time; the message may have been sent")
                 : ipc::error_reply("cluster_unavailable", "host '" + host + "' did not answer in time");
    finish(id, std::move(r));
  });
  outstanding_.emplace(id, std::move(out));
}

void ClusterLink::finish(uint64_t id, json reply) {
  auto it = outstanding_.find(id);
  if (it == outstanding_.end()) return;  // answered after its deadline
  ReplyFn done = std::move(it->second.done);
  // The timer may be the caller: stop it, free it on a later turn.
  it->second.deadline->stop();
  bridge_.post([t = std::shared_ptr<ipc::Timer>(std::move(it->second.deadline))] {});
  outstanding_.erase(it);
  done(std::move(reply));
}

json ClusterLink::metrics() const {
  return {{"nats_connected", connected()},          {"requests_out", counters_.requests_out},
          {"requests_in", counters_.requests_in},   {"request_failures", counters_.request_failures},
          {"events_out", counters_.events_out},     {"events_in", counters_.events_in},
          {"events_dropped", counters_.events_dropped}};
}

// --- NATS's threads: post, never touch state ---

void ClusterLink::on_command(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* self = static_cast<ClusterLink*>(closure);
  MsgGuard g{msg};
  const char* reply = natsMsg_GetReply(msg);
  if (reply == nullptr || *reply == '\0') return;  // nobody to answer
  self->bridge_.post([self, alive = self->alive_, reply_to = std::string(reply), body = std::string(data_of(msg))] {
    if (!*alive) return;
    ++self->counters_.requests_in;
    auto answer = [self, alive, reply_to](json r) {
      if (!*alive) return;
      std::string text = ipc::dump_json(r);
      if (text.size() > kMaxReplyBytes)
        text = ipc::dump_json(ipc::error_reply("too_large", "the reply is larger than one NATS message"));
      natsConnection_Publish(self->nc_, reply_to.c_str(), text.data(), static_cast<int>(text.size()));
    };
    auto parsed = ipc::parse_json_text(as_bytes(body));
    if (!parsed || !parsed->is_object()) {
      answer(ipc::error_reply("bad_request", parsed ? "a request is a JSON object" : parsed.error().message));
      return;
    }
    self->handlers_.request(std::move(*parsed), answer);
  });
}

void ClusterLink::on_event(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* self = static_cast<ClusterLink*>(closure);
  MsgGuard g{msg};
  std::string line(data_of(msg));
  const size_t sp = line.find(' ');
  if (sp == std::string::npos || sp == 0) return;  // not ours
  self->bridge_.post([self, alive = self->alive_, line = std::move(line), sp] {
    if (!*alive) return;
    ++self->counters_.events_in;
    self->handlers_.event(line.substr(0, sp), line);
  });
}

void ClusterLink::on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* self = static_cast<ClusterLink*>(closure);
  MsgGuard g{msg};
  const std::string subject = natsMsg_GetSubject(msg);
  const size_t dot = subject.rfind('.');
  uint64_t id = 0;
  try {
    id = std::stoull(subject.substr(dot + 1));
  } catch (const std::exception&) {
    return;
  }
  const bool nobody = natsMsg_IsNoResponders(msg);
  self->bridge_.post([self, alive = self->alive_, id, nobody, body = std::string(data_of(msg))] {
    if (!*alive) return;
    if (nobody) {
      ++self->counters_.request_failures;
      self->finish(id, ipc::error_reply("cluster_unavailable", "the profile's host is not connected to the cluster"));
      return;
    }
    auto parsed = ipc::parse_json_text(as_bytes(body));
    if (!parsed || !parsed->is_object()) {
      ++self->counters_.request_failures;
      self->finish(id, ipc::error_reply("cluster_unavailable", "the profile's host answered with something else than a reply"));
      return;
    }
    self->finish(id, std::move(*parsed));
  });
}

void ClusterLink::on_disconnected(natsConnection*, void* closure) {
  auto* self = static_cast<ClusterLink*>(closure);
  if (self->up_.exchange(false)) WA_WARN("cluster: lost NATS; remote commands fail until it returns");
}

void ClusterLink::on_reconnected(natsConnection*, void* closure) {
  auto* self = static_cast<ClusterLink*>(closure);
  self->up_ = true;
  WA_INFO("cluster: NATS reachable again");
  self->bridge_.post([self, alive = self->alive_] {
    if (*alive && self->handlers_.reconnected) self->handlers_.reconnected();
  });
}

}  // namespace wa::supervisor
