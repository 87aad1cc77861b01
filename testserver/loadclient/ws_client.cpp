#include "ws_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wa::bench {

WsClient& WsClient::operator=(WsClient&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

WsClient::~WsClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<WsClient> WsClient::connect(const std::string& host, int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", std::strerror(errno));
  WsClient c(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return fail("address", "bad IPv4 address");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("connect", std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\nOrigin: https://web.whatsapp.com\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return fail("send", "handshake");
  std::string resp;
  while (resp.find("\r\n\r\n") == std::string::npos) {
    uint8_t ch = 0;
    WA_TRY(c.read_exact(&ch, 1, 10000));
    resp.push_back(static_cast<char>(ch));
    if (resp.size() > 8192) return fail("upgrade", "response too long");
  }
  if (resp.compare(0, 12, "HTTP/1.1 101") != 0) return fail("upgrade", "server refused the websocket upgrade");
  return c;
}

Status WsClient::send(ByteView payload) {
  Bytes f;
  f.reserve(payload.size() + 14);
  f.push_back(0x82);  // FIN, binary
  size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<uint8_t>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<uint8_t>(n >> 8));
    f.push_back(static_cast<uint8_t>(n));
  } else {
    f.push_back(0x80 | 127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<uint8_t>(static_cast<uint64_t>(n) >> (8 * i)));
  }
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};  // masking is not secrecy; a constant is fine for a bench
  f.insert(f.end(), mask, mask + 4);
  for (size_t i = 0; i < n; ++i) f.push_back(payload[i] ^ mask[i & 3]);
  size_t off = 0;
  while (off < f.size()) {
    ssize_t w = ::send(fd_, f.data() + off, f.size() - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail("send", std::strerror(errno));
    }
    off += static_cast<size_t>(w);
  }
  return {};
}

Status WsClient::read_exact(uint8_t* p, size_t n, int timeout_ms) {
  size_t got = 0;
  while (got < n) {
    if (timeout_ms >= 0) {
      pollfd pfd{fd_, POLLIN, 0};
      int pr = ::poll(&pfd, 1, timeout_ms);
      if (pr == 0) return fail("timeout", "no data");
      if (pr < 0 && errno != EINTR) return fail("poll", std::strerror(errno));
      if (pr < 0) continue;
    }
    ssize_t r = ::recv(fd_, p + got, n - got, 0);
    if (r == 0) return fail("closed", "connection closed");
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail("recv", std::strerror(errno));
    }
    got += static_cast<size_t>(r);
  }
  return {};
}

Result<Bytes> WsClient::recv(int timeout_ms) {
  for (;;) {
    uint8_t h[2];
    WA_TRY(read_exact(h, 2, timeout_ms));
    uint64_t len = h[1] & 0x7F;
    if (len == 126) {
      uint8_t e[2];
      WA_TRY(read_exact(e, 2, timeout_ms));
      len = (uint64_t{e[0]} << 8) | e[1];
    } else if (len == 127) {
      uint8_t e[8];
      WA_TRY(read_exact(e, 8, timeout_ms));
      len = 0;
      for (uint8_t b : e) len = (len << 8) | b;
    }
    if (len > (64u << 20)) return fail("too_large", "frame too large");
    uint8_t mask[4] = {0, 0, 0, 0};
    bool masked = (h[1] & 0x80) != 0;
    if (masked) WA_TRY(read_exact(mask, 4, timeout_ms));
    Bytes payload(static_cast<size_t>(len));
    if (len) WA_TRY(read_exact(payload.data(), payload.size(), timeout_ms));
    if (masked)
      for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[i & 3];
    uint8_t op = h[0] & 0x0F;
    if (op == 0x8) return fail("closed", "close frame");
    if (op == 0x9 || op == 0xA) continue;  // ping/pong: loopback bench ignores them
    return payload;
  }
}

}  // namespace wa::bench
