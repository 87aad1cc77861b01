// The cap on connection workers connecting at once (contract StartPolicy):
// a FIFO of instances waiting to fork their worker, and the set of tickets
// holding a slot. Grants run on the supervisor's loop thread, in order.
// Why a gate in the supervisor and not a delay in each instance: only one
// place sees every start, and a slot must pass to the next waiter the moment
// an outcome (open, failure, exit, deadline) frees it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <utility>

namespace wa::supervisor {

class StartGate {
 public:
  explicit StartGate(size_t max_connecting) : max_(max_connecting == 0 ? 1 : max_connecting) {}
  StartGate(const StartGate&) = delete;
  StartGate& operator=(const StartGate&) = delete;

  // A new ticket, to be passed to request(): the caller knows it before a
  // grant that runs inside request() itself.
  uint64_t ticket() { return next_++; }
  // Queues `grant`; it runs (maybe at once, from inside this call) when a
  // slot is free. The ticket then holds the slot until release().
  void request(uint64_t ticket, std::function<void()> grant) {
    if (closed_) return;
    queue_.emplace_back(ticket, std::move(grant));
    pump();
  }
  // Shutting down: nothing waiting is granted any more.
  void close() {
    closed_ = true;
    queue_.clear();
  }
  // Gives the ticket's slot back, or takes it out of the queue. Unknown or
  // already released tickets are ignored, so every outcome may call it.
  void release(uint64_t ticket) {
    if (holding_.erase(ticket) == 0) {
      std::erase_if(queue_, [ticket](const auto& q) { return q.first == ticket; });
      return;
    }
    pump();
  }
  size_t connecting() const { return holding_.size(); }
  size_t waiting() const { return queue_.size(); }
  size_t max_seen() const { return max_seen_; }

 private:
  void pump() {
    // A grant may release (a spawn that fails at once) or request again:
    // the outer loop serves whatever that leaves.
    if (pumping_) return;
    pumping_ = true;
    while (!closed_ && holding_.size() < max_ && !queue_.empty()) {
      auto [t, grant] = std::move(queue_.front());
      queue_.pop_front();
      holding_.insert(t);
      if (holding_.size() > max_seen_) max_seen_ = holding_.size();
      grant();
    }
    pumping_ = false;
  }

  size_t max_;
  uint64_t next_ = 1;
  std::deque<std::pair<uint64_t, std::function<void()>>> queue_;
  std::set<uint64_t> holding_;
  size_t max_seen_ = 0;
  bool pumping_ = false;
  bool closed_ = false;
};

}  // namespace wa::supervisor
