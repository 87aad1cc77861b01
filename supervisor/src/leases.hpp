// This host's leases (docs/ARCHITECTURE.md, "Cluster"), kept by one thread
// of the supervisor so that a slow or absent PostgreSQL never stalls the
// loop. An instance asks for its profile's lease before its worker is
// spawned and gets the fencing token the worker writes under; the thread
// renews every held lease each ttl/3 and reports a lease as lost when the
// database says another host claimed it, or when it could not renew it for
// a whole ttl (then another host may claim it at any moment: we stop first).
// Every answer runs on the loop thread, through the LoopBridge.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "wa/ipc/loop_bridge.hpp"
#include "wa/result.hpp"
#include "wa/store/lease.hpp"

namespace wa::supervisor {

class LeaseKeeper {
 public:
  // Claim answer: the token, nullopt when another host holds the lease, or
  // the database's error (db_unavailable, ...).
  using ClaimFn = std::function<void(Result<std::optional<int64_t>>)>;
  using LostFn = std::function<void(const std::string& profile, int64_t token)>;
  using ListFn = std::function<void(Result<std::vector<store::Lease>>)>;
  using GetFn = std::function<void(Result<std::optional<store::Lease>>)>;

  LeaseKeeper(ipc::LoopBridge& bridge, std::string conninfo, std::string host, int ttl_ms, LostFn lost);
  ~LeaseKeeper();  // gives every held lease back, then joins the thread
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  void claim(const std::string& profile, ClaimFn done);
  // Gives the lease back at once (an orderly stop): another host may claim
  // it without waiting for the expiry.
  void release(const std::string& profile);
  // Every profile's lease (placement looks for unowned and expired ones).
  void list(ListFn done);
  // One profile's lease as the database has it now (nullopt: no such profile).
  void get(const std::string& profile, GetFn done);
  // The token held for `profile` (loop thread's view), if any.
  std::optional<int64_t> token(const std::string& profile) const;
  const std::string& host() const { return host_; }
  // Writes refused or renewals failed so far (metrics).
  uint64_t lost_count() const { return lost_; }

 private:
  struct Job {
    enum class Kind { kClaim, kRelease, kList, kGet, kRenew } kind = Kind::kRenew;
    std::string profile;
    ClaimFn done;
    ListFn listed;
    GetFn got;
  };
  struct Held {
    int64_t token;
    std::chrono::steady_clock::time_point renewed;
  };
  void run();
  void renew_all();
  void post_lost(const std::string& profile, int64_t token);

  ipc::LoopBridge& bridge_;
  const std::string conninfo_;
  const std::string host_;
  const int ttl_ms_;
  LostFn lost_fn_;
  // Loop thread's copy of the held tokens.
  std::map<std::string, int64_t> tokens_;
  uint64_t lost_ = 0;
  // Answers already posted to the loop may run after this object is gone:
  // they check this first (both on the loop thread).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  // Keeper thread only.
  std::map<std::string, Held> held_;
  std::thread thread_;
};

}  // namespace wa::supervisor
