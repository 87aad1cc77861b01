// Non-blocking clients of the public sockets, for programs that live on a
// libuv loop (wa-http, wa-webhooks): the control socket through REQ with one
// NNG context per request (many requests in flight; a parked send_text never
// delays a ping), and the event socket through SUB. NNG completes their aios
// on its own threads; every callback given here runs on the loop thread,
// posted through the LoopBridge. Both dial without blocking, so the program
// may start before the supervisor and NNG reconnects on its own.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "wa/ipc/codec.hpp"
#include "wa/ipc/loop_bridge.hpp"
#include "wa/ipc/nng.hpp"

namespace wa::ipc {

class AsyncControlClient {
 public:
  // The reply text (unchecked), or timeout / ipc_error / too_large.
  using RawCallback = std::function<void(Result<std::string>)>;
  // The parsed, checked reply envelope ({"ok": …}, see check_reply), or
  // timeout / ipc_error / too_large / bad_reply. An error reply of the
  // supervisor is a value here, not an error: callers pass it on as is.
  using Callback = std::function<void(Result<json>)>;

  // The bridge must outlive the client.
  static Result<std::unique_ptr<AsyncControlClient>> connect(LoopBridge& bridge, const std::string& url);
  ~AsyncControlClient();  // pending requests are abandoned: their callbacks never run
  AsyncControlClient(const AsyncControlClient&) = delete;
  AsyncControlClient& operator=(const AsyncControlClient&) = delete;

  // Loop thread. `timeout_ms` bounds sending and answering together.
  void request_raw(std::string text, int timeout_ms, RawCallback cb);
  void request(const json& req, int timeout_ms, Callback cb);
  size_t in_flight() const;
  // For a program about to exit: its destruction then stops the aios but
  // leaves the socket to the exit. NNG 1.5's ipc transport loses a pipe's
  // read when the pipe closes with a message half read (header in, body not
  // yet asked for), and nng_close then never returns.
  void leave_socket_to_exit();

  struct Impl;

 private:
  explicit AsyncControlClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

class AsyncEventSubscriber {
 public:
  // Loop thread: the profile (the topic) and the parsed event. Messages that
  // are not "<profile> <json>" are dropped (counted in dropped()).
  using Callback = std::function<void(const std::string& profile, json event)>;

  // `profile` empty = every profile.
  static Result<std::unique_ptr<AsyncEventSubscriber>> connect(LoopBridge& bridge, const std::string& url,
                                                               const std::string& profile, Callback cb);
  ~AsyncEventSubscriber();  // callbacks never run after it
  AsyncEventSubscriber(const AsyncEventSubscriber&) = delete;
  AsyncEventSubscriber& operator=(const AsyncEventSubscriber&) = delete;

  uint64_t dropped() const;
  void leave_socket_to_exit();  // as AsyncControlClient's

  struct Impl;

 private:
  explicit AsyncEventSubscriber(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace wa::ipc
