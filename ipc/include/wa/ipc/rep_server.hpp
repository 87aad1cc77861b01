// REP socket served through NNG contexts: every request gets its own
// context, so a request that is answered late (a parked send) never delays
// another one. Requests are handed to the loop thread; replies may be sent
// any time later, from the loop thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/nng.hpp"

namespace wa::ipc {

class RepServer;

// A received request awaiting its reply. Reply exactly once.
class PendingRequest {
 public:
  PendingRequest() = default;
  PendingRequest(const PendingRequest&) = delete;
  PendingRequest& operator=(const PendingRequest&) = delete;
  // A request dropped without a reply still frees its context (empty reply).
  ~PendingRequest();
  ByteView body() const { return body_; }
  // Loop thread only. `on_sent` runs on the loop thread once the reply has
  // left (or could not be delivered). After its server is gone the reply is
  // dropped (the context went with the server) and `on_sent` never runs.
  void reply(ByteView body, std::function<void()> on_sent = nullptr);
  bool valid() const { return slot_ != nullptr; }

 private:
  friend class RepServer;
  void* slot_ = nullptr;
  std::weak_ptr<const bool> server_;  // expired once the RepServer is destroyed
  Bytes body_;
};

class RepServer {
 public:
  using Handler = std::function<void(std::shared_ptr<PendingRequest>)>;

  // max_msg: larger requests are dropped by NNG with the pipe closed
  // (callers enforce their own, smaller, limit with a clear error).
  static Result<std::unique_ptr<RepServer>> listen(LoopBridge& bridge, Socket sock,
                                                   const std::string& url, Handler handler,
                                                   const PeerAccess& access = {});
  ~RepServer();
  RepServer(const RepServer&) = delete;
  RepServer& operator=(const RepServer&) = delete;

  size_t contexts() const { return slots_.size(); }

 private:
  friend class PendingRequest;
  struct Slot;
  RepServer(LoopBridge& bridge, Socket sock, Handler handler);
  Status add_slot();
  static void on_aio(void* arg);
  void on_received(Slot* slot, Msg msg);

  LoopBridge& bridge_;
  Socket sock_;
  Handler handler_;
  std::vector<std::unique_ptr<Slot>> slots_;  // grows on the loop thread only
  std::atomic<int> receiving_{0};
  // Work posted to the loop and requests handed out may outlive the server
  // (a request received just before it is destroyed); they check this
  // first, instead of touching a freed server or context.
  std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
};

}  // namespace wa::ipc
