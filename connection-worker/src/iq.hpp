// IQ correlation (docs/PROTOCOL.md §7): request ids are a per-connection random
// prefix plus a counter, every request has its own deadline, and a lost
// connection fails every waiter at once (never left to time out one by one).
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "wa/binary/node.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/result.hpp"

namespace wa::connection {

class IqTracker {
 public:
  // Ok: the <iq type="result"> (or the <ack>) node. Error codes: "timeout",
  // "not_connected" (connection lost), "rejected:<code>" (iq type="error",
  // or an ack carrying error=CODE).
  using Handler = std::function<void(Result<binary::Node>)>;

  explicit IqTracker(uv_loop_t* loop);
  ~IqTracker();

  // A new connection: fresh prefix, counter back to 1.
  void reset_prefix();
  std::string next_id();
  // Waits for the answer to `id` for at most timeout_ms. With raw_errors an
  // <iq type="error"> is delivered as a node (the caller inspects it).
  void expect(const std::string& id, uint64_t timeout_ms, Handler handler, bool raw_errors = false);
  // Routes an incoming iq/ack to its waiter. False if nobody waits for it.
  bool resolve(const binary::Node& node);
  // Fails one waiter (e.g. its request could not be sent).
  void fail_one(const std::string& id, const Error& error) { finish(id, Unexpected<Error>{error}); }
  // Fails every waiter with `error` (each exactly once).
  void fail_all(const Error& error);
  size_t pending() const noexcept { return waiters_.size(); }

 private:
  struct Waiter {
    Handler handler;
    bool raw_errors = false;
    std::unique_ptr<ipc::Timer> timer;
  };
  void finish(const std::string& id, Result<binary::Node> r);

  uv_loop_t* loop_;
  std::string prefix_;
  uint64_t counter_ = 0;
  std::map<std::string, Waiter> waiters_;
};

}  // namespace wa::connection
