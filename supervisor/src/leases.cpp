#include "leases.hpp"

#include "wa/log.hpp"
#include "wa/store/lease.hpp"

namespace wa::supervisor {

using Clock = std::chrono::steady_clock;

LeaseKeeper::LeaseKeeper(ipc::LoopBridge& bridge, std::string conninfo, std::string host, int ttl_ms, LostFn lost)
    : bridge_(bridge), conninfo_(std::move(conninfo)), host_(std::move(host)), ttl_ms_(ttl_ms), lost_fn_(std::move(lost)) {
  thread_ = std::thread([this] { run(); });
}

LeaseKeeper::~LeaseKeeper() {
  *alive_ = false;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LeaseKeeper::claim(const std::string& profile, ClaimFn done) {
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(Job{Job::Kind::kClaim, profile, std::move(done), nullptr, nullptr});
  }
  cv_.notify_all();
}

void LeaseKeeper::release(const std::string& profile) {
  tokens_.erase(profile);
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(Job{Job::Kind::kRelease, profile, nullptr, nullptr, nullptr});
  }
  cv_.notify_all();
}

void LeaseKeeper::list(ListFn done) {
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(Job{Job::Kind::kList, "", nullptr, std::move(done), nullptr});
  }
  cv_.notify_all();
}

void LeaseKeeper::get(const std::string& profile, GetFn done) {
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(Job{Job::Kind::kGet, profile, nullptr, nullptr, std::move(done)});
  }
  cv_.notify_all();
}

std::optional<int64_t> LeaseKeeper::token(const std::string& profile) const {
  auto it = tokens_.find(profile);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

void LeaseKeeper::post_lost(const std::string& profile, int64_t token) {
  bridge_.post([this, alive = alive_, profile, token] {
    if (!*alive) return;
    auto it = tokens_.find(profile);
    if (it == tokens_.end() || it->second != token) return;  // released or claimed anew meanwhile
    tokens_.erase(it);
    ++lost_;
    if (lost_fn_) lost_fn_(profile, token);
  });
}

void LeaseKeeper::run() {
  std::optional<store::LeaseTable> table;
  auto connected = [&]() -> Status {
    if (table) return {};
    auto t = store::LeaseTable::open(conninfo_);
    if (!t) return Unexpected<Error>{t.error()};
    table.emplace(std::move(*t));
    return {};
  };
  const auto period = std::chrono::milliseconds(std::max(ttl_ms_ / 3, 1));
  auto next_renewal = Clock::now() + period;
  for (;;) {
    Job job;  // none waiting: renewal time
    {
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, next_renewal, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) break;
      if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
    }
    if (job.kind == Job::Kind::kList) {
      Result<std::vector<store::Lease>> all = fail("db_unavailable", "no database");
      if (auto s = connected(); !s) {
        all = Unexpected<Error>{s.error()};
      } else {
        all = table->all();
        if (!all && all.error().code == "db_unavailable") table.reset();
      }
      bridge_.post([alive = alive_, done = std::move(job.listed), all = std::move(all)]() mutable {
        if (*alive && done) done(std::move(all));
      });
      continue;
    }
    if (job.kind == Job::Kind::kGet) {
      Result<std::optional<store::Lease>> one = fail("db_unavailable", "no database");
      if (auto s = connected(); !s) {
        one = Unexpected<Error>{s.error()};
      } else {
        one = table->get(job.profile);
        if (!one && one.error().code == "db_unavailable") table.reset();
      }
      bridge_.post([alive = alive_, done = std::move(job.got), one = std::move(one)]() mutable {
        if (*alive && done) done(std::move(one));
      });
      continue;
    }
    if (job.kind == Job::Kind::kRenew) {
      next_renewal = Clock::now() + period;
      if (held_.empty()) continue;
      if (auto s = connected(); !s) {
        WA_WARN("leases: cannot reach the database to renew: %s", s.error().message.c_str());
      } else {
        for (auto it = held_.begin(); it != held_.end();) {
          // Taken before the call: the server's new expiry is later than
          // this + ttl, so our deadline below falls before it.
          const auto asked = Clock::now();
          auto ok = table->renew(it->first, host_, it->second.token, ttl_ms_);
          if (ok && *ok) {
            it->second.renewed = asked;
          } else if (ok) {
            WA_WARN("[%s] lease lost: another host claimed the account", it->first.c_str());
            post_lost(it->first, it->second.token);
            it = held_.erase(it);
            continue;
          } else {
            if (ok.error().code == "db_unavailable") table.reset();
            WA_WARN("[%s] lease not renewed: %s", it->first.c_str(), ok.error().message.c_str());
          }
          ++it;
        }
      }
      // Two renewals missed: the lease may lapse before the next one gets
      // through, and then another host may start the account. Stop it here
      // first, a third of the ttl ahead of the expiry, so that the device
      // is never logged in from two hosts (its writes would be refused
      // anyway: fencing).
      const auto give_up = std::chrono::milliseconds(ttl_ms_ - ttl_ms_ / 3);
      for (auto it = held_.begin(); it != held_.end();) {
        if (Clock::now() - it->second.renewed >= give_up) {
          WA_WARN("[%s] lease not renewed for %lld ms: giving the account up", it->first.c_str(),
                  static_cast<long long>(give_up.count()));
          post_lost(it->first, it->second.token);
          it = held_.erase(it);
        } else {
          ++it;
        }
      }
      continue;
    }
    if (job.kind == Job::Kind::kRelease) {
      auto it = held_.find(job.profile);
      if (it == held_.end()) continue;
      if (connected()) {
        if (auto s = table->release(job.profile, host_, it->second.token); !s) table.reset();
      }
      held_.erase(it);
      continue;
    }
    // Claim.
    Result<std::optional<int64_t>> answer = fail("db_unavailable", "no database");
    if (auto s = connected(); !s) {
      answer = Unexpected<Error>{s.error()};
    } else {
      const auto at = Clock::now();
      auto l = table->claim(job.profile, host_, ttl_ms_);
      if (!l) {
        if (l.error().code == "db_unavailable") table.reset();
        answer = Unexpected<Error>{l.error()};
      } else if (!*l) {
        answer = std::optional<int64_t>{};
      } else {
        held_[job.profile] = Held{(*l)->token, at};
        answer = std::optional<int64_t>{(*l)->token};
      }
    }
    bridge_.post([this, alive = alive_, profile = job.profile, done = std::move(job.done),
                  answer = std::move(answer)]() mutable {
      if (!*alive) return;
      if (answer && *answer) tokens_[profile] = **answer;
      if (done) done(std::move(answer));
    });
  }
  // Orderly exit: hand every lease back so that other hosts claim at once.
  if (!held_.empty() && connected())
    for (const auto& [profile, h] : held_) (void)table->release(profile, host_, h.token);
}

}  // namespace wa::supervisor
