// A minimal blocking websocket client (RFC 6455, binary frames, client
// masking) for the load bench: one fd per connection, no TLS. Enough for
// loopback measurements; the product's client uses libwebsockets.
#pragma once

#include <string>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::bench {

class WsClient {
 public:
  static Result<WsClient> connect(const std::string& host, int port, const std::string& path);
  WsClient(WsClient&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  WsClient& operator=(WsClient&& o) noexcept;
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;
  ~WsClient();

  Status send(ByteView payload);
  // Payload of the next data frame (blocking; timeout_ms < 0 waits forever).
  Result<Bytes> recv(int timeout_ms);
  int fd() const { return fd_; }

 private:
  explicit WsClient(int fd) : fd_(fd) {}
  Status read_exact(uint8_t* p, size_t n, int timeout_ms);
  int fd_ = -1;
};

}  // namespace wa::bench
