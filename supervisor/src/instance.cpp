#include "instance.hpp"

#include <signal.h>
#include <unistd.h>

#include <random>

#include "wa/contract/deadlines.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/links.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/store/open.hpp"

namespace wa::supervisor {

namespace msg = ipc::msg;
using Clock = std::chrono::steady_clock;

namespace {
// The events that stand for a message someone sent (what messages_in counts).
bool is_message_event(const std::string& type) {
  return type == "message" || type == "reaction" || type == "revoked" || type == "poll" || type == "poll_vote" ||
         type == "edited";
}

// How long a finished client id is remembered for de-duplication.
constexpr auto kDedupTtl = std::chrono::minutes(10);
constexpr size_t kDedupMax = 10000;

json exit_json(pid_t pid, const ipc::ExitStatus& st) {
  json j{{"pid", pid}};
  if (st.signal != 0) {
    j["signal"] = st.signal;
  } else {
    j["exit_code"] = st.code;
  }
  return j;
}
}  // namespace

const char* to_string(State s) {
  switch (s) {
    case State::stopped: return "stopped";
    case State::starting: return "starting";
    case State::running: return "running";
    case State::restarting: return "restarting";
    case State::failed: return "failed";
    case State::stopping: return "stopping";
  }
  return "unknown";
}

Instance::Instance(Environment env, std::string profile, bool autostart)
    : env_(env), profile_(std::move(profile)), autostart_(autostart),
      dir_(ipc::instance_dir(env.config->run_dir, profile_)),
      slot_timer_(env.loop), restart_timer_(env.loop), kill_senders_timer_(env.loop), kill_conn_timer_(env.loop),
      sweep_timer_(env.loop) {}

Instance::~Instance() {
  release_slot();
  for (auto& [conv, s] : senders_) s.child->kill(SIGKILL);
  if (conn_) conn_->kill(SIGKILL);
  fail_parked("shutting_down", "the supervisor is shutting down");
}

void Instance::note_account_event(const json& ev) {
  const std::string type = ev.value("type", "");
  auto str = [&ev](const char* k) { return ev.contains(k) && ev[k].is_string() ? ev[k].get<std::string>() : ""; };
  if (type == "connection") {
    const bool was_open = connection_.is_object() && connection_.value("state", "") == "open";
    if (str("state") == "closed" && was_open) closed_since_open_ = true;
    if (str("state") == "open" && std::exchange(closed_since_open_, false)) ++counters_.reconnects;
    connection_ = {{"state", str("state")}, {"since", now_ms()}};
    if (!str("reason").empty()) connection_["reason"] = str("reason");
    if (str("state") == "open" && !str("jid").empty()) linked_ = {{"jid", str("jid")}, {"lid", str("lid")}};
    // The connect has its outcome (open, or this attempt failed): the next
    // account may start connecting.
    if (str("state") == "open" || str("state") == "closed") release_slot();
  } else if (type == "paired") {
    linked_ = {{"jid", str("jid")}, {"lid", str("lid")}};
  } else if (type == "qr" || type == "pairing_code" || type == "logged_out") {
    linked_ = false;
    release_slot();  // connected, waiting for a person: not a connect in progress
  } else if (is_message_event(type) && !ev.value("from_me", false)) {
    ++counters_.messages_in;
  }
}

void Instance::count_send(const json& reply) {
  if (reply.value("ok", false)) {
    ++counters_.messages_out;
    return;
  }
  const json& e = reply.value("error", json::object());
  ++counters_.sends_failed[e.is_object() ? e.value("code", "unknown") : "unknown"];
}

json Instance::metrics() const {
  json failed = json::object();
  for (const auto& [code, n] : counters_.sends_failed) failed[code] = n;
  return json{{"profile", profile_},
              {"state", to_string(state_)},
              {"connection", conn_ && connection_.is_object() ? connection_["state"] : json(nullptr)},
              {"restarts", restarts_},
              {"reconnects", counters_.reconnects},
              {"messages_in", counters_.messages_in},
              {"messages_out", counters_.messages_out},
              {"sends_failed", failed},
              {"senders", senders_.size()}};
}

// The config's worker settings with the level in force now (it may have been
// changed at run time since the config was read).
json Instance::worker_settings() const {
  contract::WorkerSettings w = env_.config->worker_settings(profile_);
  w.log_level = log::level_name(log::level());
  if (env_.leases) {
    w.store.token = env_.leases->token(profile_).value_or(0);
    w.store.lease_ttl_ms = env_.config->cluster.lease_ttl_ms;
  }
  return contract::to_json(w);
}

void Instance::set_log_level(log::Level level) {
  if (link_) send_to_worker({{msg::kType, msg::kLogLevel}, {"level", log::level_name(level)}});
}

json Instance::status() const {
  json senders = json::array();
  for (const auto& [conv, s] : senders_) senders.push_back({{"conversation", conv}, {"pid", s.child->pid()}});
  return json{{"profile", profile_},
              {"state", to_string(state_)},
              {"connection_pid", conn_ ? json(conn_->pid()) : json(nullptr)},
              {"restarts", restarts_},
              {"last_exit", last_exit_},
              {"reason", state_ == State::failed ? json(failed_reason_) : json(nullptr)},
              {"linked", linked_},
              {"connection", conn_ ? connection_ : json(nullptr)},
              {"uptime_ms", conn_ && worker_ready_ ? json(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                             Clock::now() - spawned_at_).count())
                                                   : json(nullptr)},
              {"senders", senders},
              {"sends_routed", sends_routed_}};
}

Status Instance::start(uint64_t jitter_ms) {
  switch (state_) {
    case State::starting:
    case State::running:
    case State::restarting:
      return fail("already_running", "profile '" + profile_ + "' is already running");
    case State::stopping:
      return fail("stopping", "profile '" + profile_ + "' is stopping; start it again when stopped");
    case State::failed:
      restart_window_.clear();
      [[fallthrough]];
    case State::stopped:
      if (jitter_ms == 0) {
        request_spawn();
        return {};
      }
      state_ = State::starting;
      restart_timer_.start(jitter_ms, [this] {
        if (state_ == State::starting && !conn_) request_spawn();
      });
      return {};
  }
  return {};
}

std::string Instance::store_locator() const {
  const auto& s = env_.config->store;
  const int64_t token = env_.leases ? env_.leases->token(profile_).value_or(0) : 0;
  return store::profile_locator(s.engine, env_.config->data_dir, profile_, token, s.conninfo_file);
}

void Instance::lease_lost() {
  if (state_ == State::stopped || state_ == State::failed) return;
  WA_WARN("[%s] lease lost: stopping the account's processes", profile_.c_str());
  if (conn_) {
    lease_lost_ = true;
    conn_->kill(SIGTERM);
    return;
  }
  restart_timer_.stop();
  release_slot();
  enter_failed("lease_lost", json::object());
}

void Instance::request_spawn() {
  release_slot();
  state_ = State::starting;
  if (env_.leases && !env_.leases->token(profile_)) {
    // One owner per account: the worker is spawned only under a lease.
    const uint64_t inc = ++claims_;
    env_.leases->claim(profile_, [this, inc](Result<std::optional<int64_t>> r) {
      if (inc != claims_ || state_ != State::starting) {
        if (r && *r && (state_ == State::stopped || state_ == State::failed)) env_.leases->release(profile_);
        return;
      }
      if (!r) {
        // The database is away: try again, without counting a restart.
        WA_WARN("[%s] cannot claim the lease: %s", profile_.c_str(), r.error().message.c_str());
        restart_timer_.start(static_cast<uint64_t>(std::max(env_.config->restart.backoff_min_ms, 500)), [this] {
          if (state_ == State::starting && !conn_) request_spawn();
        });
        return;
      }
      if (!*r) {
        enter_failed("lease_held", json{{"message", "another host runs this account"}});
        return;
      }
      WA_INFO("[%s] lease claimed, token %lld", profile_.c_str(), static_cast<long long>(**r));
      request_spawn();
    });
    return;
  }
  const uint64_t t = env_.gate->ticket();
  slot_ = t;
  env_.gate->request(t, [this, t] {
    if (slot_ != t) return env_.gate->release(t);  // not ours any more: pass it on
    // The deadline frees the slot of a worker that neither opens nor fails
    // (a server that accepts the socket and never answers).
    slot_timer_.start(static_cast<uint64_t>(env_.config->start.connect_timeout_ms), [this, t] {
      if (slot_ != t) return;
      WA_DEBUG("[%s] no connect outcome within start.connect_timeout_ms: its start slot is given back", profile_.c_str());
      release_slot();
    });
    spawn_connection();
  });
}

void Instance::release_slot() {
  if (slot_ == 0) return;
  slot_timer_.stop();
  env_.gate->release(std::exchange(slot_, 0));
}

void Instance::spawn_connection() {
  ++incarnation_;
  worker_ready_ = false;
  closed_since_open_ = false;
  store_corrupt_ = false;
  state_ = State::starting;
  uint64_t inc = incarnation_;
  auto fail_spawn = [this](const std::string& why) {
    WA_ERROR("[%s] cannot start the connection worker: %s", profile_.c_str(), why.c_str());
    link_.reset();
    last_exit_ = json{{"error", why}, {"ts", now_ms()}};
    env_.events->emit(profile_, {{"type", "instance_exited"}, {"error", why}});
    release_slot();
    state_ = State::restarting;
    schedule_restart();
  };
  if (auto st = fs::ensure_private_dir(dir_); !st) return fail_spawn(st.error().message);
  auto link = ipc::PairLink::listen(*env_.bridge, ipc::link_url(dir_),
                                    [this, inc](Bytes b) { on_link_message(inc, std::move(b)); });
  if (!link) return fail_spawn(link.error().message);
  link_ = std::move(*link);
  // A fresh page per incarnation: nothing a dead worker wrote counts.
  auto page = ipc::HeartbeatPage::create();
  if (!page) return fail_spawn(page.error().message);
  heartbeat_ = std::move(*page);
  const int hb_fd = heartbeat_->fd();
  std::vector<std::string> argv{env_.bin_dir + "/wa-connection", "--link", ipc::link_url(dir_),
                                "--profile", profile_, "--parent-pid", std::to_string(::getpid()),
                                "--heartbeat-fd", std::to_string(ipc::kHeartbeatChildFd)};
  auto on_exit = [this, inc](ipc::ExitStatus st) { on_connection_exit(inc, st); };
  const std::span<const int> fds(&hb_fd, 1);
  auto child = env_.zygote != nullptr ? env_.zygote->spawn(argv, std::move(on_exit), fds)
                                      : ipc::Child::spawn(env_.loop, argv, std::move(on_exit), fds);
  heartbeat_->close_fd();  // the child has its copy; we keep the mapping
  if (!child) return fail_spawn(child.error().message);
  conn_ = std::move(*child);
  spawned_at_ = Clock::now();
  connection_ = nullptr;  // the new worker has not said anything yet
  // Liveness: the ready deadline runs from here, the page from `ready` on.
  unresponsive_ = false;
  WA_INFO("[%s] connection worker started, pid %d", profile_.c_str(), conn_->pid());
}

void Instance::send_to_worker(const json& m) {
  if (link_) link_->send(ipc::to_cbor(m));
}

void Instance::on_link_message(uint64_t inc, Bytes body) {
  if (inc != incarnation_ || !conn_) return;
  auto m = ipc::link::decode_from_worker(body);
  if (!m) {
    WA_WARN("[%s] malformed message from the connection worker: %s", profile_.c_str(), m.error().message.c_str());
    return;
  }
  const std::string& t = m->type;
  if (t == msg::kHello) {
    send_to_worker({{msg::kType, msg::kInit},
                    {"profile", profile_},
                    {"instance_dir", dir_},
                    {"settings", worker_settings()}});
  } else if (t == msg::kReady) {
    if (state_ != State::starting) return;
    worker_ready_ = true;
    state_ = State::running;
    watch_.start(Clock::now());
    env_.events->emit(profile_, {{"type", "instance_started"}, {"pid", conn_->pid()}});
  } else if (t == msg::kReply) {
    finish_request(m->rid, std::move(m->reply));
  } else if (t == msg::kEvent || t == msg::kEvents) {
    if (t == msg::kEvent) m->events.push_back(std::move(m->event));  // a batch of one
    for (auto& ev : m->events) {
      note_account_event(ev);
      env_.events->emit(profile_, std::move(ev));
    }
  } else if (t == msg::kKillSender) {
    kill_sender(m->raw);
  } else if (t == msg::kSpawnSender) {
    spawn_sender(m->conversation);
  } else {
    WA_WARN("[%s] unknown message '%s' from the connection worker", profile_.c_str(), t.substr(0, 64).c_str());
  }
}

void Instance::on_connection_exit(uint64_t inc, ipc::ExitStatus st) {
  if (inc != incarnation_) return;
  pid_t pid = conn_ ? conn_->pid() : 0;
  conn_.reset();
  link_.reset();
  release_slot();  // a worker that died connecting failed its connect
  worker_ready_ = false;
  heartbeat_.reset();
  last_exit_ = exit_json(pid, st);
  last_exit_["ts"] = now_ms();
  WA_INFO("[%s] connection worker %d exited (%s)", profile_.c_str(), pid, st.describe().c_str());
  json ev = exit_json(pid, st);
  ev["type"] = "instance_exited";
  if (unresponsive_) {
    // Our SIGKILL: say why, so it is not mistaken for an outside kill.
    ev["reason"] = "unresponsive";
    last_exit_["reason"] = "unresponsive";
  }
  env_.events->emit(profile_, ev);
  fail_parked("instance_down", "the connection worker exited");

  if (state_ == State::stopping) {
    kill_conn_timer_.stop();
    if (auto done = std::exchange(on_connection_gone_, nullptr)) done();
    return;
  }
  // rest_for_one: everything started after the connection worker goes too.
  state_ = State::restarting;
  bool no_restart = st.signal == 0 && st.code == msg::kExitNoRestart;
  bool corrupt = (st.signal == 0 && st.code == msg::kExitStoreCorrupt) || std::exchange(store_corrupt_, false);
  bool lost = (st.signal == 0 && st.code == msg::kExitLeaseLost) || std::exchange(lease_lost_, false);
  stop_senders([this, no_restart, corrupt, lost] {
    if (state_ != State::restarting) return;
    if (lost) {
      // Another host runs the account now: starting it here again would
      // only be refused (fencing) and fight over the device's login.
      enter_failed("lease_lost", json::object());
      return;
    }
    if (corrupt) {
      // A damaged database stays damaged: restarting would only loop. The
      // operator checks and recovers it (`check`, `recover`), then starts.
      enter_failed("store_corrupt", json::object());
      return;
    }
    if (no_restart) {
      state_ = State::stopped;
      env_.events->emit(profile_, {{"type", "instance_stopped"}, {"reason", "worker_requested"}});
      return;
    }
    schedule_restart();
  });
}

void Instance::schedule_restart() {
  const auto& pol = env_.config->restart;
  auto now = Clock::now();
  while (!restart_window_.empty() && now - restart_window_.front() > std::chrono::seconds(pol.period_s))
    restart_window_.pop_front();
  if (restart_window_.size() >= static_cast<size_t>(pol.intensity)) {
    WA_ERROR("[%s] more than %d restarts in %d s: giving up until started again", profile_.c_str(),
             pol.intensity, pol.period_s);
    enter_failed("restart_intensity",
                 {{"restarts", restart_window_.size()}, {"intensity", pol.intensity}, {"period_s", pol.period_s}});
    return;
  }
  // First restart in the window is immediate; then exponential backoff with
  // jitter in [d/2, d], so that many accounts never reconnect in lockstep.
  size_t n = restart_window_.size();
  uint64_t delay = 0;
  if (n > 0) {
    uint64_t d = static_cast<uint64_t>(pol.backoff_min_ms) << std::min<size_t>(n - 1, 30);
    d = std::min<uint64_t>(d, static_cast<uint64_t>(pol.backoff_max_ms));
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    delay = d / 2 + (d > 1 ? rng() % (d - d / 2 + 1) : d - d / 2);
  }
  restart_window_.push_back(now);
  ++restarts_;
  env_.events->emit(profile_, {{"type", "instance_restarting"}, {"delay_ms", delay}, {"attempt", n + 1}});
  // The backoff is waited out without a start slot: a crash-looping account
  // never holds one that another account could use.
  restart_timer_.start(delay, [this] {
    if (state_ == State::restarting) request_spawn();
  });
}

void Instance::check_liveness(Clock::time_point now, bool stalled) {
  if (!conn_ || unresponsive_ || (state_ != State::starting && state_ != State::running)) return;
  const auto& pol = env_.config->liveness;
  if (!worker_ready_) {
    auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - spawned_at_);
    if (!stalled && silent.count() >= pol.ready_timeout_ms) declare_unresponsive("starting", silent);
    return;
  }
  // wa/ipc/heartbeat.hpp: a loop parked in its poll is waiting, which is
  // healthy unless the process itself is stopped; a loop that has not come
  // back from a callback for the timeout is not.
  const auto verdict = watch_.observe(heartbeat_ ? heartbeat_->read() : ipc::LoopState{}, now,
                                      std::chrono::milliseconds(pol.timeout_ms));
  if (stalled || verdict == ipc::LoopWatch::Verdict::fine) return;
  if (verdict == ipc::LoopWatch::Verdict::parked_long && !conn_->stopped()) return watch_.waiting(now);
  declare_unresponsive("running", watch_.silent(now));
}

void Instance::declare_unresponsive(const char* phase, std::chrono::milliseconds silent) {
  // Stopped (SIGSTOP), deadlocked or spinning: the same as a crash, except
  // that the crash is ours to cause. SIGKILL works on a stopped process too.
  pid_t pid = conn_->pid();
  WA_ERROR("[%s] connection worker %d unresponsive (%s, silent for %lld ms): SIGKILL", profile_.c_str(), pid,
           phase, static_cast<long long>(silent.count()));
  unresponsive_ = true;
  env_.events->emit(profile_, {{"type", "instance_unresponsive"},
                               {"pid", pid},
                               {"phase", phase},
                               {"silent_ms", silent.count()}});
  // From now on the worker counts as dead: routed commands are answered
  // instance_down at once (not when the reap comes), and nothing more is
  // sent to or taken from it. on_connection_exit does rest_for_one.
  worker_ready_ = false;
  link_.reset();
  fail_parked("instance_down", "the connection worker stopped answering");
  conn_->kill(SIGKILL);
}

void Instance::kill_sender(const json& m) {
  // The connection worker hands out the jobs, so it sees a sender that took
  // one (or was told to exit) and never came back; only we can kill it.
  if (!m.contains("conversation") || !m["conversation"].is_string() || !m.contains("pid") ||
      !m["pid"].is_number_integer())
    return;
  auto it = senders_.find(m["conversation"].get<std::string>());
  if (it == senders_.end() || it->second.child->pid() != m["pid"].get<pid_t>()) return;  // already gone
  pid_t pid = it->second.child->pid();
  WA_ERROR("[%s] sender %d unresponsive: SIGKILL", profile_.c_str(), pid);
  env_.events->emit(profile_, {{"type", "sender_unresponsive"}, {"conversation", it->first}, {"pid", pid}});
  // Its exit is reported as sender_exited: the worker fails the job and frees the slot.
  it->second.child->kill(SIGKILL);
}

void Instance::enter_failed(const std::string& reason, json detail) {
  state_ = State::failed;
  // A failed account runs nowhere here: another host may take it at once.
  // (lease_lost: given back in case it was still ours, e.g. the worker
  // could not reach the database to prove it; the release matches our
  // token only, so a newer owner's lease is left alone.)
  if (env_.leases && reason != "lease_held") env_.leases->release(profile_);
  failed_reason_ = reason;
  if (reason == "store_corrupt")
    WA_ERROR("[%s] the profile's database is damaged: failed until checked, recovered and started", profile_.c_str());
  json ev = std::move(detail);
  ev["type"] = "instance_failed";
  ev["reason"] = reason;
  env_.events->emit(profile_, ev);
}

void Instance::stop(std::function<void()> done) {
  switch (state_) {
    case State::stopped:
      if (done) done();
      return;
    case State::failed:
      state_ = State::stopped;
      env_.events->emit(profile_, {{"type", "instance_stopped"}});
      if (done) done();
      return;
    case State::stopping:
      if (done) stop_waiters_.push_back(std::move(done));
      return;
    case State::restarting:
    case State::starting:
    case State::running:
      break;
  }
  restart_timer_.stop();
  release_slot();  // waiting in the start queue, or connecting: either way no longer
  // From here liveness looks away (check_liveness): a worker that hangs now
  // is SIGKILLed by stop_connection's timeout.
  state_ = State::stopping;
  if (done) stop_waiters_.push_back(std::move(done));
  // Reverse start order: senders first, then the connection worker.
  stop_senders([this] {
    stop_connection([this] {
      // The lease stays ours (renewed): a stopped account stays stopped
      // cluster-wide instead of being taken up by another host. `remove`
      // and this host's orderly exit give it back.
      state_ = State::stopped;
      WA_INFO("[%s] stopped", profile_.c_str());
      env_.events->emit(profile_, {{"type", "instance_stopped"}});
      auto waiters = std::exchange(stop_waiters_, {});
      for (auto& w : waiters) w();
    });
  });
}

void Instance::stop_senders(std::function<void()> done) {
  if (senders_.empty()) {
    done();
    return;
  }
  on_senders_gone_ = std::move(done);
  for (auto& [conv, s] : senders_) s.child->kill(SIGTERM);
  kill_senders_timer_.start(static_cast<uint64_t>(env_.config->shutdown_timeout_ms), [this] {
    for (auto& [conv, s] : senders_) {
      WA_WARN("[%s] sender %d did not stop in time: SIGKILL", profile_.c_str(), s.child->pid());
      s.child->kill(SIGKILL);
    }
  });
}

void Instance::stop_connection(std::function<void()> done) {
  if (!conn_) {
    done();
    return;
  }
  on_connection_gone_ = std::move(done);
  conn_->kill(SIGTERM);
  kill_conn_timer_.start(static_cast<uint64_t>(env_.config->shutdown_timeout_ms), [this] {
    if (conn_) {
      WA_WARN("[%s] connection worker %d did not stop in time: SIGKILL", profile_.c_str(), conn_->pid());
      conn_->kill(SIGKILL);
    }
  });
}

void Instance::spawn_sender(const std::string& conversation) {
  auto refuse = [&](const std::string& code, const std::string& message) {
    send_to_worker({{msg::kType, msg::kSenderRefused}, {"conversation", conversation},
                    {"code", code}, {"message", message}});
  };
  if (state_ != State::running || !conn_) return refuse("instance_down", "instance is not running");
  if (conversation.empty() || conversation.size() > 256 || conversation.find('\0') != std::string::npos)
    return refuse("bad_request", "invalid conversation");
  if (auto it = senders_.find(conversation); it != senders_.end()) {
    send_to_worker({{msg::kType, msg::kSenderStarted}, {"conversation", conversation},
                    {"pid", it->second.child->pid()}});
    return;
  }
  if (senders_.size() >= static_cast<size_t>(env_.config->senders.max_per_instance))
    return refuse("sender_cap", "max_per_instance senders are running");
  std::vector<std::string> argv{env_.bin_dir + "/wa-sender", "--link", ipc::senders_url(dir_),
                                "--profile", profile_, "--conversation", conversation,
                                "--parent-pid", std::to_string(::getpid()),
                                "--log-level", log::level_name(log::level()),
                                "--pgid", std::to_string(conn_->pid()),
                                "--data-dir", env_.config->data_dir};
  if (env_.leases) argv.insert(argv.end(), {"--store", store_locator()});
  auto child = ipc::Child::spawn(env_.loop, argv, [this, conversation](ipc::ExitStatus st) {
    auto it = senders_.find(conversation);
    pid_t pid = it != senders_.end() ? it->second.child->pid() : 0;
    on_sender_exit(conversation, pid, st);
  });
  if (!child) return refuse("spawn_failed", child.error().message);
  pid_t pid = (*child)->pid();
  senders_[conversation] = Sender{std::move(*child)};
  env_.events->emit(profile_, {{"type", "sender_started"}, {"conversation", conversation}, {"pid", pid}});
  send_to_worker({{msg::kType, msg::kSenderStarted}, {"conversation", conversation}, {"pid", pid}});
}

void Instance::on_sender_exit(const std::string& conversation, pid_t pid, ipc::ExitStatus st) {
  senders_.erase(conversation);
  if (st.signal == 0 && st.code == msg::kExitStoreCorrupt && conn_ &&
      (state_ == State::running || state_ == State::starting)) {
    // A sender found the database damaged: the whole account stops (its
    // connection worker first; on its exit the instance goes to failed).
    WA_ERROR("[%s] sender %d found the database damaged: stopping the account", profile_.c_str(), pid);
    store_corrupt_ = true;
    conn_->kill(SIGTERM);
  }
  json ev = exit_json(pid, st);
  ev["type"] = "sender_exited";
  ev["conversation"] = conversation;
  env_.events->emit(profile_, ev);
  if (state_ == State::running && worker_ready_) {
    json m = exit_json(pid, st);
    m[msg::kType] = msg::kSenderExited;
    m["conversation"] = conversation;
    send_to_worker(m);
  }
  if (senders_.empty() && on_senders_gone_) {
    kill_senders_timer_.stop();
    auto done = std::exchange(on_senders_gone_, nullptr);
    done();
  }
}

void Instance::route(const contract::CommandSpec& cmd, json args, const std::string& client_id, ReplyFn reply) {
  if (state_ != State::running || !worker_ready_ || !link_) {
    json refused = ipc::error_reply("instance_down", "profile '" + profile_ + "' is " + to_string(state_));
    if (cmd.sends) count_send(refused);
    reply(refused);
    return;
  }
  if (!client_id.empty()) {
    auto it = dedup_.find(client_id);
    if (it != dedup_.end()) {
      if (it->second.reply) {
        reply(*it->second.reply);
      } else {
        it->second.waiters.push_back(std::move(reply));
      }
      return;
    }
    if (dedup_.size() >= kDedupMax) {
      // Forget the oldest finished entry; in-flight ones are kept.
      auto oldest = dedup_.end();
      for (auto i = dedup_.begin(); i != dedup_.end(); ++i)
        if (i->second.reply && (oldest == dedup_.end() || i->second.at < oldest->second.at)) oldest = i;
      if (oldest != dedup_.end()) dedup_.erase(oldest);
    }
    dedup_[client_id] = DedupEntry{{}, std::nullopt, Clock::now()};
  }
  uint64_t rid = next_rid_++;
  // The worker answers within the command's own budget; this deadline only
  // catches a worker that cannot answer at all (liveness usually first).
  const auto deadline = std::chrono::milliseconds(contract::route_deadline_ms(cmd.deadline, env_.config->senders));
  parked_[rid] = Parked{std::move(reply), client_id, Clock::now() + deadline, cmd.sends};
  // Swept only while there is something to sweep: thousands of idle
  // instances must not each wake the loop every second.
  if (!sweep_timer_.active()) sweep_timer_.start_repeat(1000, [this] { sweep_parked(); });
  ++sends_routed_;
  args[msg::kType] = msg::kRequest;
  args["rid"] = rid;
  args["cmd"] = std::string(cmd.name);
  send_to_worker(args);
}

void Instance::finish_request(uint64_t rid, json reply) {
  auto it = parked_.find(rid);
  if (it == parked_.end()) return;
  Parked p = std::move(it->second);
  parked_.erase(it);
  if (p.sends) count_send(reply);
  p.reply(reply);
  if (!p.client_id.empty()) complete_dedup(p.client_id, reply);
}

void Instance::complete_dedup(const std::string& client_id, const json& reply) {
  auto it = dedup_.find(client_id);
  if (it == dedup_.end()) return;
  it->second.reply = reply;
  it->second.at = Clock::now();
  auto waiters = std::exchange(it->second.waiters, {});
  for (auto& w : waiters) w(reply);
}

void Instance::fail_parked(const std::string& code, const std::string& message) {
  auto parked = std::exchange(parked_, {});
  json reply = ipc::error_reply(code, message);
  for (auto& [rid, p] : parked) {
    if (p.sends) count_send(reply);
    p.reply(reply);
    // The worker may or may not have sent it: remember the answer so a
    // resend with the same client id cannot send twice.
    if (!p.client_id.empty()) complete_dedup(p.client_id, reply);
  }
}

void Instance::sweep_parked() {
  auto now = Clock::now();
  std::vector<uint64_t> late;
  for (const auto& [rid, p] : parked_)
    if (p.deadline <= now) late.push_back(rid);
  for (uint64_t rid : late) {
    // A send may have left before the worker went quiet: say so rather
    // than `timeout`, which promises nothing was sent.
    if (parked_[rid].sends) {
      finish_request(rid, ipc::error_reply("unknown_outcome", "the account did not answer in time; the message "
                                                              "may have been sent"));
    } else {
      finish_request(rid, ipc::error_reply("timeout", "the account did not answer in time"));
    }
  }
  for (auto it = dedup_.begin(); it != dedup_.end();) {
    if (it->second.reply && now - it->second.at > kDedupTtl) {
      it = dedup_.erase(it);
    } else {
      ++it;
    }
  }
  if (parked_.empty() && dedup_.empty()) sweep_timer_.stop();
}


}  // namespace wa::supervisor
