#include "supervisor.hpp"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <filesystem>
#include <random>

#include "account_log.hpp"
#include "wa/build_info.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/child.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/log.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/open.hpp"
#include "wa/store/postgres_store.hpp"

namespace wa::supervisor {

namespace {

// One piece of blocking work on libuv's thread pool; `done` runs on the loop.
struct OffLoop {
  uv_work_t req{};
  std::function<json()> work;
  std::function<void(json)> done;
  json result;
};

void run_off_loop(uv_loop_t* loop, std::function<json()> work, std::function<void(json)> done) {
  auto job = std::make_unique<OffLoop>();
  job->work = std::move(work);
  job->done = std::move(done);
  job->req.data = job.get();
  int rc = uv_queue_work(
      loop, &job->req,
      [](uv_work_t* r) {
        auto* j = static_cast<OffLoop*>(r->data);
        try {
          j->result = j->work();
        } catch (const std::exception& e) {
          j->result = ipc::error_reply("internal", e.what());
        }
      },
      [](uv_work_t* r, int) {
        std::unique_ptr<OffLoop> j(static_cast<OffLoop*>(r->data));
        j->done(std::move(j->result));
      });
  if (rc != 0) return job->done(ipc::error_reply("internal", "cannot queue the work"));
  (void)job.release();  // owned by the request until its after-work callback
}

}  // namespace

Supervisor::Supervisor(Config config)
    : config_(std::move(config)), runtime_profiles_(config_.data_dir + "/profiles.json"),
      gate_(static_cast<size_t>(config_.start.max_connecting)) {
  uv_loop_init(&loop_);
}

Supervisor::~Supervisor() {
  cluster_.reset();  // first: its callbacks reach into everything below
  gate_.close();  // an instance going away must not start a waiting one
  instances_.clear();
  zygote_.reset();  // after the instances: it outlives their workers' records
  pending_claims_.clear();
  cluster_scan_.reset();
  leases_.reset();  // hands this host's leases back: other hosts claim at once
  control_.reset();
  watchdog_.reset();
  liveness_.reset();
  webhooks_.reset();
  events_.reset();
  if (bridge_) bridge_->close();
  // Let libuv finish closing every handle, then release the loop.
  ipc::close_loop(&loop_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

namespace {

// Bytes of command line the zygote holds for its workers' (a worker's argv
// is its path, its link URL under the run dir, its profile and three numbers).
constexpr size_t kZygoteTitleRoom = 1024;

bool has_workers(const std::string& dir) {
  for (const char* w : {"wa-connection", "wa-sender", "wa-probe"})
    if (::access((dir + "/" + w).c_str(), X_OK) != 0) return false;
  return true;
}

// The workers sit beside wa-supervisor in the build tree, and under
// libexec/ when installed. Checked once at start: a supervisor copied alone
// must say so and stop, not restart-loop every account on `spawn error`.
Result<std::string> find_worker_dir(const std::string& self) {
  const std::string installed = self + "/" + kWorkerDirFromBin;
  for (const auto& dir : {self, installed})
    if (has_workers(dir)) return dir;
  return fail("no_workers", "wa-connection, wa-sender and wa-probe not found (looked in " + self + " and " + installed +
                                "): install them with wa-supervisor (cmake --install, or the package)");
}

}  // namespace

// Every instance holds a few descriptors here (its link's listener and
// pipe, its children's pidfds and pipes) and its worker a few more: the
// default soft limit of 1024 ends at a few hundred accounts. The hard limit
// is what the administrator allows (LimitNOFILE= in the unit); workers
// inherit the raised soft limit.
namespace {
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) WA_WARN("cannot raise the open file limit: %s", std::strerror(errno));
}
}  // namespace

int Supervisor::run() {
  raise_fd_limit();
  if (auto missing = missing_handlers(); !missing.empty()) {
    // A registry entry without its handler is a build defect: say which.
    WA_ERROR("control commands without a supervisor handler, or misplaced: %s", missing.front().c_str());
    return 70;  // EX_SOFTWARE
  }
  auto workers = find_worker_dir(ipc::self_dir());
  if (!workers) {
    WA_ERROR("%s", workers.error().message.c_str());
    return 72;  // EX_OSFILE: a file the program needs is missing
  }
  bin_dir_ = std::move(*workers);
  if (config_.start.zygote) {
    // Started on the first spawn. Its argv leaves room that each forked
    // worker writes its own command line into (what `ps` shows).
    zygote_ = std::make_unique<ipc::Zygote>(
        &loop_, std::vector<std::string>{bin_dir_ + "/wa-connection", "--zygote", std::to_string(::getpid()),
                                         std::string(kZygoteTitleRoom, '.')},
        config_.start.zygote_wait_ms);
  }
  if (auto st = ipc::check_run_dir(config_.run_dir); !st) {
    WA_ERROR("%s", st.error().message.c_str());
    return 78;
  }
  for (const auto* dir : {&config_.run_dir, &config_.data_dir}) {
    if (auto st = fs::ensure_private_dir(*dir); !st) {
      WA_ERROR("%s", st.error().message.c_str());
      return 73;
    }
  }
  ipc::PeerAccess peer_access;
  if (!config_.operator_group.empty()) {
    peer_access.group = static_cast<gid_t>(config_.operator_gid);
    if (auto st = fs::share_dir_with_group(config_.run_dir, config_.operator_gid); !st) {
      WA_ERROR("%s", st.error().message.c_str());
      return 73;
    }
  }
  auto lock = fs::lock_file(config_.run_dir + "/supervisor.lock");
  if (!lock) {
    WA_ERROR("another wa-supervisor is using %s (%s)", config_.run_dir.c_str(), lock.error().message.c_str());
    return 75;
  }
  lock_fd_ = *lock;
  // Stale socket files from a supervisor that was killed: we hold the lock,
  // so nobody else can be serving them.
  ::unlink((config_.run_dir + "/control.ipc").c_str());
  ::unlink((config_.run_dir + "/events.ipc").c_str());

  bridge_ = std::make_unique<ipc::LoopBridge>(&loop_);
  auto pub = ipc::Publisher::listen(ipc::events_url(config_.run_dir), peer_access);
  if (!pub) {
    WA_ERROR("%s", pub.error().message.c_str());
    return 71;
  }
  EventBus::Locate locate;
  if (config_.store.engine == "postgres") {
    // The connection string is checked here, once: a typo stops the start
    // with its reason instead of failing every account.
    auto info = store::pg_conninfo(config_.store.conninfo_file);
    if (!info) {
      WA_ERROR("store: %s", info.error().message.c_str());
      return 78;
    }
    leases_ = std::make_unique<LeaseKeeper>(*bridge_, std::move(*info), config_.cluster.host_id,
                                            config_.cluster.lease_ttl_ms, [this](const std::string& profile, int64_t) {
                                              for (auto& i : instances_)
                                                if (i->profile() == profile) i->lease_lost();
                                            });
    locate = [this](const std::string& profile) {
      return store::profile_locator("postgres", config_.data_dir, profile, leases_->token(profile).value_or(0),
                                    config_.store.conninfo_file);
    };
    WA_INFO("store: PostgreSQL, host id %s, lease ttl %d ms", config_.cluster.host_id.c_str(),
            config_.cluster.lease_ttl_ms);
  }
  events_ = std::make_unique<EventBus>(std::move(*pub), config_.data_dir, std::move(locate));
  if (!config_.cluster.nats_url.empty()) {
    ClusterLink::Handlers h;
    h.request = [this](json req, ReplyFn reply) { dispatch(req, std::move(reply), nullptr, Origin::cluster); };
    h.event = [this](const std::string& profile, std::string_view line) { relay_remote_event(profile, line); };
    h.reconnected = [this] {
      // Whatever the other hosts published while we were away is in the log.
      for (const auto& [profile, last] : remote_seen_)
        if (last > 0) catch_up_remote(profile, 0);
    };
    auto link = ClusterLink::open(&loop_, *bridge_, config_.cluster, std::move(h));
    if (!link) {
      WA_ERROR("cluster: %s", link.error().message.c_str());
      return 78;
    }
    cluster_ = std::move(*link);
    events_->set_mirror([this](const std::string& profile, std::string_view line) { cluster_->publish_event(profile, line); });
  }
  webhooks_ = std::make_unique<Webhooks>(config_.webhooks, config_.data_dir + "/webhooks.db", *events_, [this] {
    std::vector<std::string> profiles;
    for (const auto& i : instances_) profiles.push_back(i->profile());
    return profiles;
  });

  auto sock = ipc::open_socket(ipc::Protocol::rep);
  if (!sock) {
    WA_ERROR("%s", sock.error().message.c_str());
    return 71;
  }
  // Requests a little over the application limit still reach us and get a
  // clear too_large; NNG drops anything larger with that client's pipe
  // (wactl refuses those before sending). A small limit keeps what one
  // oversized request can make us allocate small.
  (void)ipc::set_size(*sock, NNG_OPT_RECVMAXSZ, ipc::kControlTransportMax);
  auto control = ipc::RepServer::listen(*bridge_, std::move(*sock), ipc::control_url(config_.run_dir),
                                        [this](std::shared_ptr<ipc::PendingRequest> r) { on_request(std::move(r)); }, peer_access);
  if (!control) {
    WA_ERROR("%s", control.error().message.c_str());
    return 71;
  }
  control_ = std::move(*control);

  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  auto on_signal = [](uv_signal_t* h, int signum) {
    auto* self = static_cast<Supervisor*>(h->data);
    WA_INFO("signal %d: shutting down", signum);
    self->begin_shutdown(nullptr);
  };
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);

  std::vector<Instance*> boot;
  for (const auto& ic : config_.instances) {
    Instance& inst = add_instance(ic.profile, ic.autostart);
    if (ic.autostart) boot.push_back(&inst);
  }
  // Accounts created at run time (`start --create`) come back after a
  // restart: their data is on disk, so forgetting them would strand it.
  for (const auto& profile : runtime_profiles_.load()) {
    if (find(profile) != nullptr) continue;  // the config lists it now
    boot.push_back(&add_instance(profile, true));
  }
  // Jitter only when the gate will make accounts wait anyway: a few
  // accounts start at once, thousands are spread.
  const bool spread = boot.size() > static_cast<size_t>(config_.start.max_connecting);
  for (Instance* inst : boot) autostart(*inst, spread);
  WA_INFO("serving %s with %zu instances", config_.run_dir.c_str(), instances_.size());
  sd_notify(0, "READY=1");
  start_watchdog();
  start_liveness();
  if (leases_) start_cluster_scan();
  uv_run(&loop_, UV_RUN_DEFAULT);
  return 0;
}

// systemd's watchdog (WatchdogSec= in the unit): WATCHDOG=1 is sent from a
// timer on the supervisor's one loop, so it stops exactly when the loop stops
// turning (a deadlock, an endless loop, a blocking call) and systemd restarts
// the service. Sent at a third of the interval: two may be late.
void Supervisor::start_watchdog() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  watchdog_ = std::make_unique<ipc::Timer>(&loop_);
  const uint64_t every_ms = std::max<uint64_t>(usec / 3000, 1);
  sd_notify(0, "WATCHDOG=1");
  watchdog_->start_repeat(every_ms, [] { sd_notify(0, "WATCHDOG=1"); });
  WA_INFO("systemd watchdog: WATCHDOG=1 every %llu ms", static_cast<unsigned long long>(every_ms));
}

void Supervisor::start_liveness() {
  liveness_ = std::make_unique<ipc::Timer>(&loop_);
  const auto every = std::chrono::milliseconds(config_.liveness.interval_ms);
  last_liveness_ = std::chrono::steady_clock::now();
  liveness_->start_repeat(static_cast<uint64_t>(every.count()), [this, every] {
    const auto now = std::chrono::steady_clock::now();
    // A late sweep means our own loop was blocked: a worker's ready may be
    // waiting behind this timer in the same loop turn.
    const bool stalled = now - std::exchange(last_liveness_, now) > 2 * every;
    for (auto& inst : instances_) inst->check_liveness(now, stalled);
  });
}

namespace {
// Failed here because another host holds the account's lease: it runs there.
bool lease_taken(const Instance& inst) {
  return inst.state() == State::failed &&
         (inst.failed_reason() == "lease_held" || inst.failed_reason() == "lease_lost");
}
}  // namespace

void Supervisor::start_cluster_scan() {
  cluster_scan_ = std::make_unique<ipc::Timer>(&loop_);
  cluster_scan_->start_repeat(static_cast<uint64_t>(config_.cluster.scan_ms), [this] {
    if (shutting_down_) return;
    leases_->list([this](Result<std::vector<store::Lease>> all) {
      if (!all) {
        WA_DEBUG("cluster: cannot list leases: %s", all.error().message.c_str());
        return;
      }
      scan_cluster(std::move(*all));
    });
  });
}

// A profile is ours to take when no host holds a live lease on it and no
// instance of ours is running it or was stopped here on purpose (that one
// keeps its lease). Each is claimed after a random delay, longer the fuller
// this host is, so that hosts scanning together spread the accounts.
void Supervisor::scan_cluster(std::vector<store::Lease> leases) {
  if (shutting_down_ || draining_) return;
  const auto& cl = config_.cluster;
  size_t running = 0;
  for (const auto& i : instances_)
    if (i->state() == State::starting || i->state() == State::running || i->state() == State::restarting) ++running;
  static std::mt19937_64 rng{std::random_device{}()};
  for (const auto& l : leases) {
    const bool live_elsewhere = !l.owner.empty() && l.expires_in_ms > 0 && l.owner != cl.host_id;
    if (live_elsewhere || pending_claims_.count(l.profile) != 0 || maintenance_.count(l.profile) != 0) continue;
    if (leases_->token(l.profile)) continue;  // ours already
    if (Instance* inst = find(l.profile); inst && !lease_taken(*inst)) continue;
    if (cl.capacity > 0 && running + pending_claims_.size() >= static_cast<size_t>(cl.capacity)) break;
    uint64_t delay = cl.claim_jitter_ms > 0 ? rng() % (static_cast<uint64_t>(cl.claim_jitter_ms) + 1) : 0;
    if (cl.capacity > 0) delay += static_cast<uint64_t>(cl.claim_jitter_ms) * running / static_cast<uint64_t>(cl.capacity);
    auto timer = std::make_unique<ipc::Timer>(&loop_);
    timer->start(delay, [this, profile = l.profile] { claim_and_run(profile); });
    pending_claims_[l.profile] = std::move(timer);
  }
}

void Supervisor::claim_and_run(const std::string& profile) {
  leases_->claim(profile, [this, profile](Result<std::optional<int64_t>> r) {
    // The timer that brought us here is done: drop it on a later turn.
    bridge_->post([this, profile] { pending_claims_.erase(profile); });
    if (shutting_down_ || draining_) {
      if (r && *r) leases_->release(profile);
      return;
    }
    if (!r || !*r) return;  // another host was faster, or the database is away: the next scan sees
    WA_INFO("[%s] cluster: claimed (token %lld), starting it here", profile.c_str(), static_cast<long long>(**r));
    Instance* inst = find(profile);
    if (!inst) inst = &add_instance(profile, true);
    if (auto st = inst->start(0); !st) {
      WA_ERROR("[%s] %s", profile.c_str(), st.error().message.c_str());
      leases_->release(profile);
    }
  });
}

Instance* Supervisor::find(const std::string& profile) {
  for (auto& i : instances_)
    if (i->profile() == profile) return i.get();
  return nullptr;
}

Instance& Supervisor::add_instance(const std::string& profile, bool autostart) {
  // Before the instance exists (and emits): its webhook cursors start at the log's head.
  webhooks_->profile_added(profile);
  Environment env{&loop_, bridge_.get(), events_.get(), &gate_, leases_.get(), zygote_.get(), &config_, bin_dir_};
  instances_.push_back(std::make_unique<Instance>(env, profile, autostart));
  return *instances_.back();
}

void Supervisor::autostart(Instance& inst, bool spread) {
  static std::mt19937_64 rng{std::random_device{}()};
  const auto jitter = spread ? static_cast<uint64_t>(config_.start.jitter_ms) : 0;
  const uint64_t delay = jitter == 0 ? 0 : rng() % (jitter + 1);
  if (auto st = inst.start(delay); !st) WA_ERROR("[%s] %s", inst.profile().c_str(), st.error().message.c_str());
}

void Supervisor::on_request(std::shared_ptr<ipc::PendingRequest> req) {
  auto reply = [req](json r) {
    std::string text = ipc::dump_json(r);
    req->reply(as_bytes(text));
  };
  if (req->body().size() > ipc::kControlRequestMax) {
    reply(ipc::error_reply("too_large", "request is larger than " + std::to_string(ipc::kControlRequestMax) + " bytes"));
    return;
  }
  auto parsed = ipc::parse_json_text(req->body());
  if (!parsed) {
    reply(ipc::error_reply(parsed.error().code, parsed.error().message));
    return;
  }
  dispatch(*parsed, reply, req);
}

// The supervisor's handlers of the registry's supervisor-run commands
// (wa/contract/commands.hpp). missing_handlers() holds the two in step.
const std::map<std::string_view, Supervisor::Handler>& Supervisor::handlers() {
  static const std::map<std::string_view, Handler> table{
      {"ping", &Supervisor::cmd_ping},       {"status", &Supervisor::cmd_status},
      {"metrics", &Supervisor::cmd_metrics},
      {"log_level", &Supervisor::cmd_log_level}, {"shutdown", &Supervisor::cmd_shutdown},
      {"start", &Supervisor::cmd_start},     {"stop", &Supervisor::cmd_stop},
      {"restart", &Supervisor::cmd_restart}, {"events", &Supervisor::cmd_events},
      {"check", &Supervisor::cmd_maintain},  {"recover", &Supervisor::cmd_maintain},
      {"remove", &Supervisor::cmd_remove},   {"logs", &Supervisor::cmd_logs},
      {"webhook_create", &Supervisor::cmd_webhook}, {"webhook_list", &Supervisor::cmd_webhook},
      {"webhook_delete", &Supervisor::cmd_webhook}, {"webhook_resume", &Supervisor::cmd_webhook},
      {"webhook_pause", &Supervisor::cmd_webhook},  {"webhook_ack", &Supervisor::cmd_webhook},
      {"drain", &Supervisor::cmd_drain},
  };
  return table;
}

std::vector<std::string> Supervisor::missing_handlers() {
  return contract::misplaced_handlers(contract::Runs::supervisor,
                                      [](std::string_view name) { return handlers().count(name) != 0; });
}

void Supervisor::dispatch(const json& raw, ReplyFn reply, std::shared_ptr<ipc::PendingRequest> pending,
                          Origin origin) {
  json req = raw;
  contract::normalize_request(req);
  auto spec = contract::validate_request(req);
  if (!spec) {
    reply(ipc::error_reply(spec.error().code, spec.error().message));
    return;
  }
  const contract::CommandSpec& c = **spec;
  Call call{req, c, nullptr, std::move(reply), std::move(pending)};
  // A command naming a profile acts on its instance: refused while shutting
  // down, and only on a known profile (a `create` flag adds one).
  const bool bound = !c.fields.empty() && c.fields.front().name == "profile" && c.fields.front().required;
  if (bound) {
    if (shutting_down_) {
      call.reply(ipc::error_reply("shutting_down", "the supervisor is shutting down"));
      return;
    }
    const std::string profile = req["profile"].get<std::string>();
    call.inst = find(profile);
    // On a cluster the account may run on another host: not here at all, or
    // here only as the record of a lease another host took. The shared log
    // answers `events` on any host.
    const bool elsewhere = call.inst == nullptr || lease_taken(*call.inst);
    if (leases_ && elsewhere && origin == Origin::control) {
      route_to_owner(profile, req, c, std::move(call.reply));
      return;
    }
    if (elsewhere && origin == Origin::cluster && c.name != "events") {
      // The sender's lease lookup named us, but the account is not running
      // here (just released, or claimed by a third host meanwhile).
      call.reply(ipc::error_reply("cluster_unavailable", "profile '" + profile + "' is not running on host '" +
                                                             config_.cluster.host_id + "' (moving between hosts)"));
      return;
    }
    if (call.inst == nullptr && req.value("create", false)) {
      if (auto st = runtime_profiles_.add(profile); !st) {
        call.reply(ipc::error_reply(st.error().code, "cannot record the new profile: " + st.error().message));
        return;
      }
      call.inst = &add_instance(profile, true);
    }
    if (call.inst == nullptr && c.name == "events" && leases_) {
      cmd_events(call);  // the profile exists: route_to_owner looked it up
      return;
    }
    if (call.inst == nullptr) {
      call.reply(ipc::error_reply("unknown_profile", "no profile '" + profile + "'"));
      return;
    }
  } else if (leases_ && origin == Origin::control && c.name == "status" && req.contains("profile")) {
    const std::string profile = req["profile"].get<std::string>();
    // A local record (failed with lease_lost: it runs elsewhere) is what
    // this host knows and says so; only a profile it never ran is asked for.
    if (find(profile) == nullptr) {
      route_to_owner(profile, req, c, std::move(call.reply));
      return;
    }
  }
  if (c.runs == contract::Runs::account) {
    call.inst->route(c, contract::routed_args(req), req.value("client_id", ""), call.reply);
    return;
  }
  (this->*handlers().at(c.name))(call);
}

void Supervisor::route_to_owner(const std::string& profile, const json& req, const contract::CommandSpec& spec,
                                ReplyFn reply) {
  const bool sends = spec.sends;
  const contract::Deadline deadline = spec.deadline;
  const std::string name(spec.name);
  leases_->get(profile, [this, profile, req, sends, deadline, name, reply](Result<std::optional<store::Lease>> l) {
    if (!l) {
      reply(ipc::error_reply("cluster_unavailable", "cannot find which host runs profile '" + profile +
                                                        "': " + l.error().message));
      return;
    }
    const std::optional<store::Lease>& lease = *l;
    if (!lease) {
      // Unknown to the cluster: a `create` makes it here; else unknown_profile.
      if (name == "events") {
        reply(ipc::error_reply("unknown_profile", "no profile '" + profile + "'"));
      } else {
        dispatch(req, reply, nullptr, Origin::resolved);
      }
      return;
    }
    if (name == "events" || find(profile) != nullptr) {
      // The shared log answers `events`; an instance here answers for itself.
      dispatch(req, reply, nullptr, Origin::resolved);
      return;
    }
    const bool held_elsewhere = !lease->owner.empty() && lease->owner != config_.cluster.host_id &&
                                lease->expires_in_ms > 0;
    if (!held_elsewhere) {
      if (name == "start") {
        // A cluster's profile nobody runs: `start` runs it here.
        json here = req;
        here["create"] = true;
        dispatch(here, reply, nullptr, Origin::resolved);
        return;
      }
      // Between owners (its host stopped or died): not unknown, just not
      // running; a host claims it within a scan.
      reply(ipc::error_reply("cluster_unavailable", "profile '" + profile +
                                                        "' runs on no host at the moment; a host claims it within "
                                                        "cluster.scan_ms (or start it)"));
      return;
    }
    const std::string owner = lease->owner;
    if (!cluster_) {
      reply(ipc::error_reply("cluster_unavailable", "profile '" + profile + "' runs on host '" + owner +
                                                        "' and this host has no cluster.nats_url"));
      return;
    }
    // The owner's own deadline for the command, plus the hop there and back.
    const uint64_t wait = contract::route_deadline_ms(deadline, config_.senders) + contract::kLinkMarginMs;
    cluster_->request(owner, req, wait, sends, reply);
  });
}

void Supervisor::relay_remote_event(const std::string& profile, std::string_view line) {
  if (leases_ && leases_->token(profile)) return;  // ours: our own log and socket have it
  int64_t seq = 0;
  auto parsed = ipc::parse_json_text(as_bytes(line.substr(profile.size() + 1)));
  if (!parsed || !parsed->is_object()) return;
  if (auto it = parsed->find("seq"); it != parsed->end() && it->is_number_integer()) seq = it->get<int64_t>();
  if (seq > 0) {
    auto found = remote_seen_.find(profile);
    const int64_t last = found == remote_seen_.end() ? 0 : found->second;
    if (seq <= last) return;  // replayed already
    if (last > 0 && seq > last + 1) catch_up_remote(profile, seq);
    remote_seen_[profile] = seq;
  }
  events_->relay(profile, line, seq);
}

// Events of another host's profile after the last one relayed here, read
// from the shared log: up to `until` (exclusive), or all when 0.
void Supervisor::catch_up_remote(const std::string& profile, int64_t until) {
  int64_t& last = remote_seen_[profile];
  for (int rounds = 0; rounds < 100; ++rounds) {
    const size_t want = until > 0 ? static_cast<size_t>(until - last - 1) : kMaxReplayBatch;
    if (want == 0) return;
    auto r = events_->replay(profile, last, want);
    if (!r) {
      WA_WARN("[%s] cluster: cannot read the events it missed: %s", profile.c_str(), r.error().message.c_str());
      return;
    }
    const json& evs = (*r)["events"];
    for (const auto& ev : evs) {
      const int64_t seq = ev.value("seq", int64_t{0});
      if (seq <= last || (until > 0 && seq >= until)) continue;
      events_->relay(profile, ev);
      last = seq;
    }
    if (evs.size() < std::min(want, kMaxReplayBatch)) return;
  }
}

// `drain`: this host gives every account up for the others to claim, and
// claims none until `drain` with cancel. Another host's name: sent there.
void Supervisor::cmd_drain(Call& call) {
  const std::string host = call.req.value("host", config_.cluster.host_id);
  if (!leases_) {
    call.reply(ipc::error_reply("not_supported", "drain hands accounts to other hosts: store.engine postgres only"));
    return;
  }
  if (host != config_.cluster.host_id) {
    if (!cluster_) {
      call.reply(ipc::error_reply("cluster_unavailable", "host '" + host + "' is reached over NATS and this host "
                                                                            "has no cluster.nats_url"));
      return;
    }
    json req = call.req;
    req.erase("host");  // there it is its own
    const uint64_t wait = static_cast<uint64_t>(config_.shutdown_timeout_ms) * 2 + contract::kLinkMarginMs;
    cluster_->request(host, req, wait, false, call.reply);
    return;
  }
  if (call.req.value("cancel", false)) {
    draining_ = false;
    WA_INFO("drain cancelled: claiming accounts again");
    call.reply(ipc::ok_reply({{"host", host}, {"draining", false}}));
    return;
  }
  draining_ = true;
  pending_claims_.clear();
  json released = json::array();
  for (const auto& i : instances_) released.push_back(i->profile());
  WA_INFO("drain: handing %zu accounts to the other hosts", released.size());
  auto left = std::make_shared<size_t>(released.size());
  auto done = [host, released, reply = call.reply] {
    reply(ipc::ok_reply({{"host", host}, {"draining", true}, {"released", released}}));
  };
  if (instances_.empty()) {
    done();
    return;
  }
  for (auto& inst : instances_) {
    // Senders, then the worker; the lease goes back once the worker is gone
    // (never while it could still write), the instance is dropped on a
    // later turn (this callback may run inside it, or inside this loop).
    inst->stop([this, profile = inst->profile(), left, done] {
      bridge_->post([this, profile, left, done] {
        leases_->release(profile);
        std::erase_if(instances_, [&](const auto& i) { return i->profile() == profile; });
        if (--*left == 0) done();
      });
    });
  }
}

void Supervisor::cmd_ping(Call& call) { call.reply(ipc::ok_reply({{"pong", true}, {"pid", ::getpid()}})); }

void Supervisor::cmd_status(Call& call) {
  json list = json::array();
  std::string only = call.req.value("profile", "");
  for (auto& i : instances_)
    if (only.empty() || i->profile() == only) list.push_back(i->status());
  if (!only.empty() && list.empty()) {
    call.reply(ipc::error_reply("unknown_profile", "no profile '" + only + "'"));
    return;
  }
  call.reply(ipc::ok_reply({{"instances", list}}));
}

void Supervisor::cmd_metrics(Call& call) {
  json profiles = json::array();
  uint64_t senders = 0, restarts = 0;
  for (auto& i : instances_) {
    json row = i->metrics();
    senders += row["senders"].get<uint64_t>();
    restarts += row["restarts"].get<uint64_t>();
    const int64_t head = events_->head(i->profile());
    row["log_head"] = head > 0 ? json(head) : json(nullptr);
    profiles.push_back(std::move(row));
  }
  const auto up = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at_);
  call.reply(ipc::ok_reply({{"supervisor", {{"uptime_ms", up.count()},
                                            {"instances", instances_.size()},
                                            {"sender_processes", senders},
                                            {"restarts_total", restarts},
                                            {"connecting", gate_.connecting()},
                                            {"start_queue", gate_.waiting()}}},
                            {"cluster", cluster_metrics()},
                            {"profiles", std::move(profiles)}}));
}

json Supervisor::cluster_metrics() const {
  if (!leases_) return nullptr;
  json out = {{"host_id", config_.cluster.host_id}, {"draining", draining_}, {"leases_lost", leases_->lost_count()}};
  if (cluster_) out.update(cluster_->metrics());
  return out;
}

void Supervisor::cmd_log_level(Call& call) {
  log::Level level{};
  // The registry admits only the level names.
  log::parse_level(call.req["level"].get<std::string>(), level);
  log::set_level(level);
  for (auto& i : instances_) i->set_log_level(level);
  WA_WARN("log level set to %s", log::level_name(level));  // warn: visible at every level but error
  call.reply(ipc::ok_reply({{"level", log::level_name(level)}}));
}

void Supervisor::cmd_shutdown(Call& call) { begin_shutdown(std::move(call.pending)); }

void Supervisor::cmd_events(Call& call) {
  // Read from the log on disk: works whether or not the instance runs.
  auto r = events_->replay(call.req["profile"].get<std::string>(), call.req["since"].get<int64_t>(),
                           call.req.value("limit", contract::kDefaultReplayLimit));
  if (!r) {
    call.reply(ipc::error_reply(r.error().code, r.error().message));
  } else {
    call.reply(ipc::ok_reply(std::move(*r)));
  }
}

bool Supervisor::refuse_in_maintenance(Call& call) {
  if (maintenance_.count(call.inst->profile()) == 0) return false;
  call.reply(ipc::error_reply("maintenance", "profile '" + call.inst->profile() + "' is being checked or recovered"));
  return true;
}

void Supervisor::cmd_start(Call& call) {
  if (refuse_in_maintenance(call)) return;
  if (auto st = call.inst->start(); !st) {
    call.reply(ipc::error_reply(st.error().code, st.error().message));
  } else {
    call.reply(ipc::ok_reply(call.inst->status()));
  }
}

void Supervisor::cmd_stop(Call& call) {
  call.inst->stop([inst = call.inst, reply = call.reply] { reply(ipc::ok_reply(inst->status())); });
}

void Supervisor::cmd_restart(Call& call) {
  if (refuse_in_maintenance(call)) return;
  call.inst->stop([this, inst = call.inst, reply = call.reply] {
    if (shutting_down_) {
      reply(ipc::error_reply("shutting_down", "the supervisor is shutting down"));
      return;
    }
    if (auto st = inst->start(); !st) {
      reply(ipc::error_reply(st.error().code, st.error().message));
    } else {
      reply(ipc::ok_reply(inst->status()));
    }
  });
}

void Supervisor::cmd_logs(Call& call) {
  std::optional<uint64_t> offset;
  if (call.req.contains("offset")) offset = call.req["offset"].get<uint64_t>();
  auto r = read_account_log(contract::account_log_path(config_.data_dir, call.inst->profile()), offset,
                            call.req.value("lines", contract::kDefaultLogLines));
  if (!r) {
    call.reply(ipc::error_reply(r.error().code, r.error().message));
    return;
  }
  call.reply(ipc::ok_reply({{"lines", r->lines}, {"offset", r->offset}}));
}

void Supervisor::cmd_remove(Call& call) { remove(*call.inst, call.req.value("purge", false), call.reply); }

void Supervisor::cmd_maintain(Call& call) { maintain(std::string(call.spec.name), *call.inst, call.reply); }

void Supervisor::cmd_webhook(Call& call) { call.reply(webhooks_->handle(call.spec.name, call.req)); }

void Supervisor::remove(Instance& inst, bool purge, ReplyFn reply) {
  const std::string profile = inst.profile();
  for (const auto& ic : config_.instances)
    if (ic.profile == profile) {
      reply(ipc::error_reply("in_config", "profile '" + profile + "' is listed in the config file; remove it there"));
      return;
    }
  if (maintenance_.count(profile) != 0) {
    reply(ipc::error_reply("maintenance", "profile '" + profile + "' is being checked or recovered"));
    return;
  }
  // Senders first, then the connection worker, as always; the instance is
  // dropped on a later loop turn (this callback runs inside it).
  inst.stop([this, profile, purge, reply] {
    bridge_->post([this, profile, purge, reply] {
      std::erase_if(instances_, [&](const auto& i) { return i->profile() == profile; });
      if (leases_) leases_->release(profile);  // kept while stopped; free now (purge deletes the row below)
      if (auto st = runtime_profiles_.remove(profile); !st) WA_ERROR("[%s] %s", profile.c_str(), st.error().message.c_str());
      bool purged = false;
      if (purge) {
        // The event log goes with the data: release the supervisor's handle on it first.
        events_->release(profile);
        std::error_code ec;
        std::filesystem::remove_all(config_.data_dir + "/" + profile, ec);
        if (config_.store.engine == "postgres") {
          auto info = store::pg_conninfo(config_.store.conninfo_file);
          auto gone = info ? store::pg_delete_profile(*info, profile) : Status(Unexpected<Error>{info.error()});
          if (!gone) {
            WA_ERROR("[%s] cannot delete its rows in PostgreSQL: %s", profile.c_str(), gone.error().message.c_str());
            ec = std::make_error_code(std::errc::io_error);
          }
        }
        std::filesystem::remove_all(ipc::instance_dir(config_.run_dir, profile), ec);
        purged = !ec;
        webhooks_->profile_purged(profile);
        if (ec) WA_ERROR("[%s] cannot delete its data: %s", profile.c_str(), ec.message().c_str());
      }
      WA_INFO("[%s] removed%s", profile.c_str(), purged ? ", data deleted" : "");
      reply(ipc::ok_reply({{"profile", profile}, {"removed", true}, {"purged", purged}}));
    });
  });
}

void Supervisor::maintain(const std::string& cmd, Instance& inst, ReplyFn reply) {
  const std::string profile = inst.profile();
  if (config_.store.engine == "postgres") {
    reply(ipc::error_reply("not_supported", cmd + " checks a SQLite file; this deployment keeps profiles in "
                                                  "PostgreSQL (use its own tools: amcheck, pg_dump)"));
    return;
  }
  if (inst.state() != State::stopped && inst.state() != State::failed) {
    reply(ipc::error_reply("instance_running", "profile '" + profile + "' is " + to_string(inst.state()) +
                                                   "; stop it first"));
    return;
  }
  if (!maintenance_.insert(profile).second) {
    reply(ipc::error_reply("maintenance", "profile '" + profile + "' is already being checked or recovered"));
    return;
  }
  const std::string path = config_.data_dir + "/" + profile + "/store.db";
  std::function<json()> work;
  if (cmd == "check") {
    work = [path, profile] {
      auto r = store::check_integrity(path);
      if (!r) return ipc::error_reply(r.error().code, r.error().message);
      return ipc::ok_reply({{"profile", profile}, {"intact", r->ok}, {"problems", r->problems}});
    };
  } else {
    // The supervisor's own connection (the event log) must not hold the
    // file that is replaced.
    events_->release(profile);
    work = [path, profile] {
      auto r = store::recover_database(path);
      if (!r) return ipc::error_reply(r.error().code, r.error().message);
      return ipc::ok_reply({{"profile", profile},
                            {"damaged_copy", r->damaged_copy},
                            {"rows", r->rows},
                            {"damaged_tables", r->damaged_tables}});
    };
  }
  run_off_loop(&loop_, std::move(work), [this, cmd, profile, reply](json r) {
    maintenance_.erase(profile);
    // A replay during the recovery may have opened the file that was moved
    // aside: the next event must open the new one.
    if (cmd == "recover" && events_) events_->release(profile);
    if (cmd == "recover" && r.value("ok", false) && events_) {
      const json& res = r["result"];
      WA_INFO("[%s] store recovered: %zu rows, damaged file kept as %s", profile.c_str(),
              res["rows"].get<size_t>(), res["damaged_copy"].get<std::string>().c_str());
      events_->emit(profile, {{"type", "store_recovered"},
                              {"rows", res["rows"]},
                              {"damaged_tables", res["damaged_tables"]},
                              {"damaged_copy", res["damaged_copy"]}});
    }
    reply(std::move(r));
  });
}

void Supervisor::begin_shutdown(std::shared_ptr<ipc::PendingRequest> pending) {
  if (pending) shutdown_waiters_.push_back(std::move(pending));
  if (shutting_down_) return;
  shutting_down_ = true;
  gate_.close();  // a slot freed by a stopping instance must not start a waiting one
  sd_notify(0, "STOPPING=1");
  auto remaining = std::make_shared<size_t>(instances_.size());
  if (*remaining == 0) {
    finish_shutdown();
    return;
  }
  for (auto& i : instances_) {
    i->stop([this, remaining] {
      if (--*remaining == 0) finish_shutdown();
    });
  }
}

void Supervisor::finish_shutdown() {
  WA_INFO("all instances stopped");
  auto waiters = std::exchange(shutdown_waiters_, {});
  if (waiters.empty()) {
    uv_stop(&loop_);
    return;
  }
  // Stop the loop only once every shutdown reply has left the socket.
  auto remaining = std::make_shared<size_t>(waiters.size());
  std::string text = ipc::dump_json(ipc::ok_reply({{"stopped", true}}));
  for (auto& w : waiters) {
    w->reply(as_bytes(text), [this, remaining] {
      if (--*remaining == 0) uv_stop(&loop_);
    });
  }
}

}  // namespace wa::supervisor
