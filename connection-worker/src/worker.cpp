#include "worker.hpp"

#include <unistd.h>

#include <algorithm>

#include "wa/store/open.hpp"
#include "wa/binary/codec.hpp"
#include "wa/contract/commands.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/fields.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/send.hpp"
#include "wa/store/sqlite_store.hpp"

namespace wa::connection {

namespace msg = ipc::msg;

Worker::Worker(uv_loop_t* loop, std::string profile, std::string link_url, std::function<void()> stop_loop)
    : loop_(loop),
      profile_(std::move(profile)),
      link_url_(std::move(link_url)),
      bridge_(loop),
      corrupt_timer_(loop),
      stop_loop_(std::move(stop_loop)),
      lease_timer_(loop) {
  // SQLITE_CORRUPT / NOTADB in any of this worker's stores: the account
  // stops as a whole (see on_store_corrupt), wherever the damage was met.
  store::set_corruption_observer([this](const Error& e) {
    if (corrupt_) return;
    Error copy = e;
    corrupt_timer_.start(0, [this, copy] { on_store_corrupt(copy); });
  });
}

Worker::~Worker() { store::set_corruption_observer(nullptr); }

Status Worker::start() {
  auto link = ipc::PairLink::dial(bridge_, link_url_, [this](Bytes b) { on_link(std::move(b)); });
  if (!link) return Unexpected<Error>{link.error()};
  link_ = std::move(*link);
  to_supervisor({{msg::kType, msg::kHello}, {"pid", ::getpid()}});
  return {};
}

void Worker::shutdown() {
  // Messages decrypted in this turn reach the inbox and get their receipts
  // before the socket goes; otherwise the server would send them again.
  if (receiver_ && !corrupt_) receiver_->flush();
  if (client_) client_->stop();
  if (senders_) senders_->fail_all("instance_down", "the connection worker is stopping");
  senders_.reset();
  link_.reset();
  bridge_.close();
  stop_loop_();
}

void Worker::to_supervisor(const json& m) {
  flush_events();  // whatever was emitted before this goes first
  if (link_) link_->send(ipc::to_cbor(m));
}

void Worker::emit(json event) {
  if (events_) event = events_->log(std::move(event));
  if (!batching_events_) return to_supervisor({{msg::kType, msg::kEvent}, {"event", std::move(event)}});
  Bytes b = ipc::to_cbor(event);
  event_batch_bytes_ += b.size();
  event_batch_.push_back(std::move(b));
  // Well under the link's message size limit (NNG's 1 MiB default).
  if (event_batch_bytes_ >= (256u << 10)) flush_events();
}

void Worker::batch_events(const std::function<void()>& fn) {
  const bool outer = !batching_events_;
  batching_events_ = true;
  fn();
  if (!outer) return;
  batching_events_ = false;
  flush_events();
}

// One link message for the gathered events (ipc::link::encode_events): a
// flood costs the link and the supervisor one message per committed batch
// instead of one per message.
void Worker::flush_events() {
  if (event_batch_.empty()) return;
  std::vector<Bytes> batch = std::exchange(event_batch_, {});
  event_batch_bytes_ = 0;
  if (link_) link_->send(ipc::link::encode_events(batch));
}

void Worker::on_link(Bytes body) {
  auto m = ipc::link::decode_from_supervisor(body);
  if (!m) {
    WA_WARN("malformed message from the supervisor: %s", m.error().message.c_str());
    return;
  }
  const std::string& t = m->type;
  if (t == msg::kLogLevel) {
    set_log_level(m->raw);
  } else if (t == msg::kInit) {
    on_init(*m);
  } else if (t == msg::kRequest) {
    on_request(*m);
  } else if (!senders_) {
    return;
  } else if (t == msg::kSenderStarted) {
    senders_->on_sender_started(m->conversation, static_cast<pid_t>(m->pid));
  } else if (t == msg::kSenderRefused) {
    senders_->on_sender_refused(m->conversation, m->code, m->message);
  } else if (t == msg::kSenderExited) {
    bool abnormal = m->signal != 0 || m->exit_code != 0;
    senders_->on_sender_exited(m->conversation, static_cast<pid_t>(m->pid), abnormal);
  }
}

void Worker::on_init(const ipc::link::FromSupervisor& m) {
  if (senders_) return;
  // A start-up failure is a local fault: main() returns 1 and the
  // supervisor's restart policy (backoff, intensity limit) handles it. The
  // loop stops only after what is queued on the link (the last event) left.
  auto fail_start = [this] {
    exit_code_ = 1;
    link_->flush([this] { shutdown(); });
  };
  // Read back by the code that wrote it (wa/contract/settings.hpp).
  auto settings = contract::worker_settings_from_json(m.settings);
  if (!settings) {
    WA_ERROR("bad settings from the supervisor: %s", settings.error().message.c_str());
    return fail_start();
  }
  settings_ = std::move(*settings);
  if (settings_.store.engine == "postgres" && settings_.store.lease_ttl_ms > 0) {
    lease_valid_until_ = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(settings_.store.lease_ttl_ms - settings_.store.lease_ttl_ms / 3);
    lease_timer_.start_repeat(static_cast<uint64_t>(std::max(settings_.store.lease_ttl_ms / 4, 50)),
                              [this] { check_lease(); });
  }
  set_log_level(json{{"level", settings_.log_level}});
  // The account's own log (`wactl logs`), from the first line on: its
  // directory is made here if this is the profile's first start.
  if (fs::ensure_private_dir(settings_.data_dir) && fs::ensure_private_dir(settings_.data_dir + "/" + profile_) &&
      !log::set_file(contract::account_log_path(settings_.data_dir, profile_)))
    WA_WARN("cannot open the account log; lines go to stderr only");
  WA_INFO("started (pid %d), server %s", static_cast<int>(::getpid()), settings_.server.url.c_str());
  const std::string& dir = m.instance_dir;
  SenderPool::Hooks hooks{
      [this](const std::string& conv) {
        to_supervisor({{msg::kType, msg::kSpawnSender}, {"conversation", conv}});
      },
      [this](const ipc::link::FromSender& q, std::function<void(json)> reply) { answer_query(q, std::move(reply)); },
      [this](const std::string& conv, pid_t pid) {
        to_supervisor({{msg::kType, msg::kKillSender}, {"conversation", conv}, {"pid", pid}});
      },
      [this](const std::string& peer) { issue_token_to(peer); },
      [this](const ipc::link::FromSender& done, std::function<void(json)> finish) {
        relay_for_sender(done, std::move(finish));
      }};
  senders_ = std::make_unique<SenderPool>(loop_, bridge_, settings_.senders.max_per_instance,
                                          settings_.senders.idle_ms, std::move(hooks));
  senders_->set_silence_timeout(static_cast<uint64_t>(settings_.liveness.timeout_ms));
  senders_->set_queue_timeout(static_cast<uint64_t>(settings_.senders.queue_timeout_ms));
  ::unlink((dir + "/senders.ipc").c_str());
  if (auto st = senders_->listen(ipc::senders_url(dir)); !st) {
    WA_ERROR("cannot serve senders: %s", st.error().message.c_str());
    return fail_start();
  }
  to_supervisor({{msg::kType, msg::kReady}});

  ClientSettings cs = client_settings(settings_);
  cs.store = store::profile_locator(settings_.store.engine, settings_.data_dir, profile_, settings_.store.token,
                                    settings_.store.conninfo_file);
  events_ = std::make_unique<EventSink>(loop_, cs.store,
                                        retention_from_settings(settings_.events));
  Client::Hooks ch{
      [this](json ev) { emit(std::move(ev)); },
      [this](int code) {
        exit_code_ = code;
        // Messages of the last turn are stored (and their events emitted) before the exit.
        if (receiver_) receiver_->flush();
        // The account stays down: let its last events leave first.
        if (link_) {
          link_->flush([this] { shutdown(); });
        } else {
          shutdown();
        }
      }};
  std::string store_path = cs.store;
  client_ = std::make_unique<Client>(loop_, profile_, std::move(cs), std::move(ch));
  if (auto st = client_->start(); !st) {
    if (store::is_store_corrupt(st.error())) return on_store_corrupt(st.error());
    // A store that cannot be opened is a local fault: exiting lets the
    // supervisor's restart policy (with its backoff and limit) handle it.
    WA_ERROR("cannot start the connection: %s", st.error().message.c_str());
    emit({{"type", "connection"}, {"state", "closed"}, {"reason", st.error().code}, {"retry", false}});
    return fail_start();
  }
  // The receive path opens its own connection to the profile's store (the
  // client created it above), so decrypt + inbox commit independently.
  auto rx = Receiver::open(loop_, store_path,
                           {[this](const binary::Node& n) { return client_->send_node(n); },
                            [this](json ev) {
                              if (media_) media_->on_event(ev);
                              emit(std::move(ev));
                            },
                            [this](const std::function<void()>& fn) { batch_events(fn); }});
  if (!rx) {
    if (store::is_store_corrupt(rx.error())) return on_store_corrupt(rx.error());
    WA_ERROR("cannot open the receive path: %s", rx.error().message.c_str());
    return fail_start();
  }
  receiver_ = std::move(*rx);
  receiver_->set_store_hooks({[this](const Error& e) { on_store_failed(e); }, [this] { client_->store_ok(); }});
  chat_ = std::make_unique<ChatCommands>(*client_, store_path, [this](json ev) {
    receiver_->annotate(ev);  // chat states name LIDs too: the number beside them
    emit(std::move(ev));
  });
  addons_ = std::make_unique<AddonCommands>(store_path);
  contacts_ = std::make_unique<ContactCommands>(loop_, *client_, store_path, settings_.media.allowed_roots,
                                                [this](json ev) {
                                                  receiver_->annotate(ev);  // a LID's number beside it
                                                  emit(std::move(ev));
                                                });
  media_ = std::make_unique<MediaCommands>(loop_, *client_, *senders_, settings_, profile_, store_path,
                                           [this](json ev) { emit(std::move(ev)); });
  events_->start_retention();
  // The receive side's rows of the stanza table (the client's own are in
  // Client::register_handlers). Messages are batched by the receive path:
  // whatever else arrives after them (chat state, group notes, receipts) is
  // handled after the batch is flushed, so it is seen after them.
  StanzaDispatch& in = client_->stanzas();
  in.on("message", [this](const binary::Node& n) {
    receiver_->on_message(n);
    return true;
  });
  in.on("receipt", [this](const binary::Node& n) {
    receiver_->flush();
    // A device that could not decrypt a message we sent asks for it again:
    // the conversation's sender re-encrypts it for that device. The receive
    // path still acks the receipt.
    if (n.attr_or("type", "") == "retry") {
      auto req = message::parse_retry_receipt(n);
      auto raw = binary::encode(n);
      if (!req || !raw) {
        WA_WARN("retry receipt ignored: %s", !req ? req.error().code.c_str() : raw.error().code.c_str());
      } else {
        senders_->submit_retry(req->chat().str(), req->id, req->device().str(), std::move(*raw));
      }
    }
    receiver_->on_receipt(n);
    return true;
  });
  in.on_notification("w:gp2", [this](const binary::Node& n) {
    receiver_->flush();
    chat_->on_group_notification(n);
    return false;  // on to the receive path, which acks it
  });
  in.on_notification("encrypt", [this](const binary::Node& n) { return receiver_->on_identity_change(n); });
  in.on_notification("devices", [this](const binary::Node& n) { return receiver_->on_devices_changed(n); });
  in.on_notification("privacy_token", [this](const binary::Node& n) { return receiver_->on_privacy_token(n); });
  in.on_notification("contacts", [this](const binary::Node& n) { return receiver_->on_contacts_changed(n); });
  in.on_notification("mediaretry", [this](const binary::Node& n) {
    receiver_->flush();
    return media_->on_retry_notification(n);  // false: on to the receive path, which acks it
  });
  in.on_notification("picture", [this](const binary::Node& n) {
    receiver_->flush();
    return contacts_->on_picture_notification(n);
  });
  in.on_notification("status", [this](const binary::Node& n) {
    receiver_->flush();
    return contacts_->on_about_notification(n);
  });
  in.on_notification("account_sync", [this](const binary::Node& n) {
    receiver_->flush();
    return contacts_->on_account_sync(n);
  });
  in.on("presence", [this](const binary::Node& n) {
    receiver_->flush();
    contacts_->on_presence(n);
    return true;
  });
  in.on("notification", [this](const binary::Node& n) {
    receiver_->on_notification(n);
    return true;
  });
  in.on("chatstate", [this](const binary::Node& n) {
    receiver_->flush();
    chat_->on_chatstate(n);
    return true;
  });
  // Anything else (ib offline / dirty, call, presence, ...) only flushes the
  // messages before it; it is not answered.
  in.otherwise([this](const binary::Node&) {
    receiver_->flush();
    return true;
  });
}

// {"log_level"/"level": NAME} from the supervisor: at init, and when an
// operator changes it at run time. Anything else leaves the level as it is.
void Worker::set_log_level(const json& m) {
  for (const char* key : {"log_level", "level"}) {
    auto name = ipc::field<std::string>(m, key);
    log::Level level{};
    if (name && log::parse_level(*name, level)) {
      log::set_level(level);
      return;
    }
  }
}

void Worker::on_store_failed(const Error& e) {
  if (store::is_store_corrupt(e)) return on_store_corrupt(e);
  if (!client_ || corrupt_) return;
  uint64_t retry = client_->store_failed(e.code);
  // Logged if the store takes it (it may not: then it goes out live, seq 0).
  emit({{"type", "store_unavailable"}, {"reason", e.code}, {"retry_in_ms", retry}});
}

// One owner per account, seen from the account's own process: a supervisor
// that is paused (SIGSTOP), partitioned from the database or dead renews
// nothing, and its workers would hold the account's socket while another
// host starts the account — the server would see the device logged in
// twice. So the worker reads its lease itself every ttl/4 and leaves the
// socket when the token moved on, or when it cannot show the lease will
// outlive the next check by a third of the ttl (docs/ARCHITECTURE.md,
// "Cluster"). Its writes are fenced either way; this keeps its socket off.
void Worker::check_lease() {
  if (lease_lost_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto margin = std::chrono::milliseconds(settings_.store.lease_ttl_ms / 3);
  // On the event sink's connection (same thread, open for the worker's
  // whole life anyway): a lease check costs no session of its own.
  auto l = events_ ? events_->lease_state()
                   : Result<std::optional<store::Store::LeaseState>>(fail("db_unavailable", "no event sink yet"));
  if (l) {
    if (!*l || (*l)->token != settings_.store.token) return on_lease_lost("another host claimed the account");
    lease_valid_until_ = now + std::chrono::milliseconds((*l)->expires_in_ms) - margin;
  } else {
    WA_WARN("cannot read the account's lease: %s", l.error().message.c_str());
  }
  if (now >= lease_valid_until_) on_lease_lost("the lease is no longer being renewed");
}

void Worker::on_lease_lost(const std::string& why) {
  lease_lost_ = true;
  lease_timer_.stop();
  WA_WARN("lease lost (%s): leaving the account's socket", why.c_str());
  exit_code_ = msg::kExitLeaseLost;
  if (link_) {
    link_->flush([this] { shutdown(); });
  } else {
    shutdown();
  }
}

void Worker::on_store_corrupt(const Error& e) {
  if (corrupt_) return;
  corrupt_ = true;
  corrupt_timer_.stop();
  WA_ERROR("the profile's database is damaged (%s): the account stops until it is checked and recovered",
           e.message.c_str());
  // Nothing more leaves on the account's socket: no sends, no receipts.
  if (client_) client_->stop();
  if (senders_) senders_->fail_all("store_corrupt", "the profile's database is damaged");
  emit({{"type", "store_unavailable"}, {"reason", "db_corrupt"}});
  exit_code_ = msg::kExitStoreCorrupt;
  if (link_) {
    link_->flush([this] { shutdown(); });
  } else {
    shutdown();
  }
}

// The worker's handlers of the registry's account commands
// (wa/contract/commands.hpp); missing_handlers() holds the two in step.
const std::map<std::string_view, Worker::Command>& Worker::command_handlers() {
  static const std::map<std::string_view, Command> table{
      {"send_text", [](Worker& w, const json& a, Reply r) { w.send_text(a, std::move(r)); }},
      {"send_media", [](Worker& w, const json& a, Reply r) { if (w.logged_in_chat(r)) w.media_->send_media(a, std::move(r)); }},
      {"download", [](Worker& w, const json& a, Reply r) { if (w.logged_in_chat(r)) w.media_->download(a, std::move(r)); }},
      {"react", [](Worker& w, const json& a, Reply r) { w.submit_job("react", "chat", a, std::move(r)); }},
      {"revoke", [](Worker& w, const json& a, Reply r) { w.submit_job("revoke", "chat", a, std::move(r)); }},
      {"send_location", [](Worker& w, const json& a, Reply r) { w.submit_job("location", "to", a, std::move(r)); }},
      {"send_contact", [](Worker& w, const json& a, Reply r) { w.submit_job("contact", "to", a, std::move(r)); }},
      {"poll", [](Worker& w, const json& a, Reply r) { w.submit_job("poll", "to", a, std::move(r)); }},
      {"vote", [](Worker& w, const json& a, Reply r) { w.submit_job("vote", "chat", a, std::move(r)); }},
      {"poll_results", [](Worker& w, const json& a, Reply r) { if (w.ready_addons(r)) w.addons_->poll_results(a, std::move(r)); }},
      {"edit", [](Worker& w, const json& a, Reply r) { w.submit_job("edit", "chat", a, std::move(r)); }},
      {"pair_code", [](Worker& w, const json& a, Reply r) { w.pair_code(a, std::move(r)); }},
      {"group_create", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_create(a, r); }},
      {"group_info", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_info(a, r); }},
      {"group_add", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_change(a, true, r); }},
      {"group_remove", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_change(a, false, r); }},
      {"group_promote", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_role(a, true, r); }},
      {"group_demote", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_role(a, false, r); }},
      {"group_subject", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_subject(a, r); }},
      {"group_description", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_description(a, r); }},
      {"group_settings", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_settings(a, r); }},
      {"group_leave", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_leave(a, r); }},
      {"group_invite", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_invite(a, false, r); }},
      {"group_revoke_invite", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_invite(a, true, r); }},
      {"group_join", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->group_join(a, r); }},
      {"read", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->read(a, r); }},
      {"typing", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_chat(r)) c->typing(a, r); }},
      {"check_numbers", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->check_numbers(a, r); }},
      {"picture_get", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->picture_get(a, r); }},
      {"picture_set", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->picture_set(a, false, r); }},
      {"picture_remove", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->picture_set(a, true, r); }},
      {"presence_set", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->presence_set(a, r); }},
      {"presence_subscribe", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->presence_subscribe(a, r); }},
      {"block", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->block(a, true, r); }},
      {"unblock", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->block(a, false, r); }},
      {"blocklist", [](Worker& w, const json&, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->blocklist(r); }},
      {"about_get", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->about_get(a, r); }},
      {"about_set", [](Worker& w, const json& a, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->about_set(a, r); }},
      {"logout", [](Worker& w, const json&, Reply r) { if (auto* c = w.logged_in_contacts(r)) c->logout(r); }},
  };
  return table;
}

std::vector<std::string> Worker::missing_handlers() {
  return contract::misplaced_handlers(contract::Runs::account,
                                      [](std::string_view name) { return command_handlers().count(name) != 0; });
}

void Worker::on_request(const ipc::link::FromSupervisor& req) {
  uint64_t rid = req.rid;
  auto reply = [this, rid](json r) { to_supervisor({{msg::kType, msg::kReply}, {"rid", rid}, {"reply", r}}); };
  if (!senders_) {
    reply(ipc::error_reply("instance_down", "the connection worker is not initialised"));
    return;
  }
  if (corrupt_) {
    reply(ipc::error_reply("store_corrupt", "the profile's database is damaged"));
    return;
  }
  auto h = command_handlers().find(req.cmd);
  if (h == command_handlers().end()) {
    reply(ipc::error_reply("unknown_command", "the connection worker does not know '" + req.cmd + "'"));
    return;
  }
  json args = req.raw;
  for (const char* k : {msg::kType, "rid", "cmd"}) args.erase(k);
  h->second(*this, args, std::move(reply));
}

// The poll/vote/edit commands exist once the connection started.
bool Worker::ready_addons(const Reply& reply) {
  if (addons_) return true;
  reply(ipc::error_reply("instance_down", "the connection is not running"));
  return false;
}

// The chat commands when the account is logged in; otherwise null, with
// not_connected answered here.
ChatCommands* Worker::logged_in_chat(const Reply& reply) {
  if (chat_ && client_ && client_->logged_in()) return chat_.get();
  reply(ipc::error_reply("not_connected", "the account is not connected"));
  return nullptr;
}

ContactCommands* Worker::logged_in_contacts(const Reply& reply) {
  if (contacts_ && client_ && client_->logged_in()) return contacts_.get();
  reply(ipc::error_reply("not_connected", "the account is not connected"));
  return nullptr;
}

void Worker::send_text(const json& m, Reply reply) {
  // The supervisor validated the arguments; read them without trusting that.
  auto to = ipc::field<std::string>(m, "to");
  auto text = ipc::field<std::string>(m, "text");
  if (!to || !text) return reply(ipc::error_reply("bad_request", (!to ? to.error() : text.error()).message));
  json payload{{"kind", "text"}, {"to", *to}, {"text", *text}};
  if (m.contains("quoted_id")) payload["quoted_id"] = m["quoted_id"];
  if (m.contains("quoted_sender")) payload["quoted_sender"] = m["quoted_sender"];
  senders_->submit(*to, std::move(payload), std::move(reply));
}

void Worker::submit_job(std::string_view kind, const char* chat_key, const json& m, Reply reply) {
  auto chat = ipc::field<std::string>(m, chat_key);
  if (!chat) return reply(ipc::error_reply("bad_request", chat.error().message));
  json payload = m;
  for (const char* k : {"profile", "client_id", chat_key}) payload.erase(k);
  payload["kind"] = std::string(kind);
  payload["to"] = *chat;
  senders_->submit(*chat, std::move(payload), std::move(reply));
}

void Worker::pair_code(const json& m, Reply reply) {
  if (!client_) return reply(ipc::error_reply("instance_down", "the connection is not running"));
  auto phone = ipc::field<std::string>(m, "phone");
  if (!phone) return reply(ipc::error_reply("bad_request", phone.error().message));
  client_->request_pair_code(*phone, [reply](Result<std::string> code) {
    if (!code) {
      reply(ipc::error_reply(code.error().code, code.error().message));
    } else {
      reply(ipc::ok_reply({{"code", *code}}));
    }
  });
}

void Worker::answer_query(const ipc::link::FromSender& q, std::function<void(json)> reply) {
  auto error = [&reply](const std::string& code, const std::string& message) {
    reply({{msg::kOp, msg::kError}, {"code", code}, {"message", message}});
  };
  // A sender moving a media file says how far it got: proof it is alive
  // (its silence deadline restarts with every request), answered at once.
  if (q.what == "progress") return reply({{msg::kOp, msg::kResult}});
  if (!client_ || !client_->logged_in()) return error("not_connected", "the account is not connected");
  // Sender queries (protocol in ipc/messages.hpp): the node travels as an
  // encoded binary node and runs through the IQ layer, so it gets a
  // deadline and is failed at once if the connection drops.
  const std::string& what = q.what;
  if ((what == "iq" || what == "relay") && q.node) {
    const auto& raw = *q.node;
    auto node = binary::decode(ByteView(raw.data(), raw.size()));
    if (!node) return error("bad_request", "query node does not decode: " + node.error().code);
    uint64_t timeout = std::min<uint64_t>(q.timeout_ms, contract::kSenderIqTimeoutMs);
    const char* key = what == "iq" ? "node" : "ack";
    auto done = [reply, key](Result<binary::Node> r) {
      if (!r) {
        reply({{msg::kOp, msg::kError}, {"code", r.error().code}, {"message", r.error().message}});
        return;
      }
      auto enc = binary::encode(*r);
      if (!enc) {
        reply({{msg::kOp, msg::kError}, {"code", "bad_reply"}, {"message", enc.error().message}});
        return;
      }
      reply({{msg::kOp, msg::kResult}, {key, json::binary(std::move(*enc))}});
    };
    if (what == "iq") {
      if (node->tag != "iq") return error("bad_request", "an iq query must carry an <iq>");
      client_->query(std::move(*node), std::move(done), timeout, true);
    } else {
      if (!q.id.empty()) node->set_attr("id", q.id);
      relay_stanza(std::move(*node), timeout, std::move(done));
    }
    return;
  }
  error("unsupported", "query not supported");
}

void Worker::relay_stanza(binary::Node stanza, uint64_t timeout_ms, std::function<void(Result<binary::Node>)> done) {
  // A failure after the stanza was written (no ack in time, the connection
  // lost) leaves the outcome unknown: the server may have taken it.
  // relay() fails synchronously only before writing.
  auto written = std::make_shared<bool>(false);
  auto after = [done = std::move(done), written](Result<binary::Node> r) {
    if (!r && *written && (r.error().code == "timeout" || r.error().code == "not_connected"))
      return done(fail("unknown_outcome", "the message left but the server's ack did not come (" + r.error().code +
                                              "); it may have been delivered"));
    done(std::move(r));
  };
  // Ack-on-send: the configured deadline unless the sender asks for one.
  client_->relay(std::move(stanza), std::move(after),
                 timeout_ms > 0 ? timeout_ms : static_cast<uint64_t>(settings_.senders.ack_timeout_ms));
  *written = true;
}

void Worker::relay_for_sender(const ipc::link::FromSender& d, std::function<void(json)> finish) {
  const ipc::link::RelayOnAck& r = *d.relay;
  if (!client_ || !client_->logged_in()) return finish(ipc::error_reply("not_connected", "the account is not connected"));
  auto node = binary::decode(ByteView(r.node.data(), r.node.size()));
  if (!node) return finish(ipc::error_reply("bad_request", "the stanza does not decode: " + node.error().code));
  if (node->tag != "message") return finish(ipc::error_reply("bad_request", "a sender relays only a <message>"));
  node->set_attr("id", r.after.id);
  auto settle = [this, after = r.after, finish = std::move(finish), result = d.result,
                 token = d.issue_token](Result<binary::Node> ack) {
    if (!ack && ack.error().code == "unknown_outcome")
      return finish(ipc::error_reply("unknown_outcome", ack.error().message, json{{"id", after.id}}));
    if (!client_) return finish(ipc::error_reply("not_connected", "the account is not connected"));
    auto settled = message::settle_ack(client_->store(), ack, after,
                                       [this](const binary::Jid& peer) { client_->issue_privacy_token(peer); });
    if (!settled) {
      WA_WARN("send %s failed: %s", after.id.c_str(), settled.error().code.c_str());
      return finish(ipc::error_reply(settled.error().code, settled.error().message));
    }
    finish(ipc::ok_reply(result));
    issue_token_to(token);  // once the send is answered, so the send never waits for it
  };
  relay_stanza(std::move(*node), 0, std::move(settle));
}

void Worker::issue_token_to(const std::string& peer) {
  if (!client_ || peer.empty()) return;
  if (auto j = binary::Jid::parse(peer); j && j->is_user()) client_->issue_privacy_token(*j);
}

}  // namespace wa::connection
