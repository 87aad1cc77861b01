// Faults injected through the admin socket (`fault ...`): refused logins per
// account, and per connection closes, stream errors, malformed frames and
// lost or late acks. The real server produces each of these, never on
// demand; tests need them on demand.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "admin.hpp"
#include "conn.hpp"
#include "transport.hpp"
#include "wa/binary/node.hpp"
#include "wa/ipc/timer.hpp"

namespace wa::testserver {

class Faults {
 public:
  explicit Faults(uv_loop_t* loop) : loop_(loop) {}

  // refuse-login: the <failure reason=...> an account's logins get, if any.
  const std::string* refusal(const std::string& phone) const;
  void refuse(const std::string& phone, const std::string& reason) { refused_[phone] = reason; }
  void forgive(const std::string& phone) { refused_.erase(phone); }

  // Sends an ack for the client's stanza now, later or never, as the
  // connection's ack faults say.
  void send_ack(Transport& t, Conn& c, binary::Node ack);
  // A connection fault (every action but refuse-login).
  void apply(Transport& t, Conn& c, const admin::Fault& f);
  // Drops the acks still waiting for their delay.
  void stop() { ack_timers_.clear(); }

 private:
  uv_loop_t* loop_;
  std::map<std::string, std::string> refused_;                  // phone -> failure reason
  std::map<uint64_t, std::unique_ptr<ipc::Timer>> ack_timers_;  // delay-acks in flight
  uint64_t next_timer_id_ = 1;
};

}  // namespace wa::testserver
