// One PAIR1 socket to exactly one peer process (supervisor <-> connection
// worker). Received messages are delivered on the loop thread; send() is
// thread-safe and queues, so a slow peer never blocks the caller.
//
// A link is created per worker incarnation and destroyed with it, so
// nothing queued for a dead worker is ever delivered to its successor.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/nng.hpp"

namespace wa::ipc {

class PairLink {
 public:
  using OnMessage = std::function<void(Bytes)>;

  static Result<std::unique_ptr<PairLink>> listen(LoopBridge& bridge, const std::string& url,
                                                  OnMessage on_message);
  static Result<std::unique_ptr<PairLink>> dial(LoopBridge& bridge, const std::string& url,
                                                OnMessage on_message);
  ~PairLink();
  PairLink(const PairLink&) = delete;
  PairLink& operator=(const PairLink&) = delete;

  void send(Bytes body);
  // Runs `done` on the loop thread once everything queued so far has been
  // handed to the transport (or could not be): a worker about to exit uses
  // it so its last events are not lost with the process.
  void flush(std::function<void()> done);

 private:
  PairLink(LoopBridge& bridge, Socket sock, OnMessage on_message);
  Status start();
  static void on_recv(void* arg);
  static void on_sent(void* arg);
  void send_next_locked();
  void release_flush_waiters_locked();

  LoopBridge& bridge_;
  Socket sock_;
  OnMessage on_message_;
  nng_aio* recv_aio_ = nullptr;
  nng_aio* send_aio_ = nullptr;
  std::mutex mu_;
  std::deque<Bytes> outbox_;
  bool sending_ = false;
  bool closing_ = false;
  std::vector<std::function<void()>> flush_waiters_;
  // Guards callbacks posted to the loop after this link is gone.
  std::shared_ptr<PairLink*> alive_;
};

// PUB side of the event socket. Never blocks: slow subscribers lose
// messages (NNG's documented PUB behaviour) — events are a live wake-up,
// never the only copy of anything that must not be lost.
class Publisher {
 public:
  static Result<std::unique_ptr<Publisher>> listen(const std::string& url, const PeerAccess& access = {});
  void publish(ByteView body);  // thread-safe

 private:
  explicit Publisher(Socket s) : sock_(std::move(s)) {}
  Socket sock_;
};

}  // namespace wa::ipc
