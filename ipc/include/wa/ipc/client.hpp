// A blocking client of the public sockets, for wactl, tests and scripts in
// C++: one REQ socket for commands, one SUB socket for events.
#pragma once

#include <optional>
#include <string>

#include "wa/ipc/codec.hpp"
#include "wa/ipc/nng.hpp"

namespace wa::ipc {

// A control reply envelope: {"ok": true, "result": ...} or {"ok": false,
// "error": {"code": string, "message": string}}; anything else is bad_reply.
Status check_reply(const json& reply);

class ControlClient {
 public:
  static Result<ControlClient> connect(const std::string& url, int timeout_ms);
  // Sends one request and waits for its reply (JSON text both ways); the
  // reply is a checked envelope (check_reply).
  Result<json> request(const json& req);
  // too_large without sending when over kControlTransportMax.
  Result<std::string> request_raw(std::string_view text);

 private:
  explicit ControlClient(Socket s) : sock_(std::move(s)) {}
  Socket sock_;
};

class EventClient {
 public:
  // profile empty = every profile.
  static Result<EventClient> connect(const std::string& url, const std::string& profile);
  // Next event (without the topic prefix), or nullopt on timeout.
  Result<std::optional<json>> next(int timeout_ms);

 private:
  explicit EventClient(Socket s) : sock_(std::move(s)) {}
  Socket sock_;
};

}  // namespace wa::ipc
