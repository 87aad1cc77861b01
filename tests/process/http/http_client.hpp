// A blocking HTTP client (libcurl) and a minimal WebSocket reader (raw TCP:
// the handshake, then unmasked text frames from the server) for the wa-http
// process tests.
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>

#include "harness.hpp"

namespace httptest {

using json = nlohmann::json;

struct Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  json j() const { return json::parse(body, nullptr, false); }
};

inline size_t on_body(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}
inline size_t on_header(char* p, size_t s, size_t n, void* ud) {
  std::string line(p, s * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = line.substr(0, colon), v = line.substr(colon + 1);
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(ud))[k] = v;
  }
  return s * n;
}

// method "GET" / "POST" / other; token empty = no Authorization header.
inline Response request(const std::string& method, const std::string& url, const std::string& token = "",
                        std::optional<std::string> body = std::nullopt, long timeout_ms = 30000,
                        const std::string& cacert = "") {
  Response r;
  CURL* c = curl_easy_init();
  curl_slist* hdrs = nullptr;
  if (!token.empty()) hdrs = curl_slist_append(hdrs, ("Authorization: Bearer " + token).c_str());
  hdrs = curl_slist_append(hdrs, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  if (!cacert.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, cacert.c_str());
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    const std::string& b = body ? *body : std::string();
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(b.size()));
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, b.c_str());
  } else if (method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  else r.body = std::string("curl: ") + curl_easy_strerror(rc);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return r;
}

// A WebSocket client that only reads (what /v1/events needs).
class WsReader {
 public:
  WsReader(int port, const std::string& target) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("ws connect");
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    if (::write(fd_, req.data(), req.size()) != static_cast<ssize_t>(req.size())) throw std::runtime_error("ws write");
    // The status line and headers.
    while (buf_.find("\r\n\r\n") == std::string::npos)
      if (!fill(10000)) break;
    auto end = buf_.find("\r\n\r\n");
    head_ = buf_.substr(0, end == std::string::npos ? buf_.size() : end);
    buf_.erase(0, end == std::string::npos ? buf_.size() : end + 4);
  }
  ~WsReader() { ::close(fd_); }
  bool upgraded() const { return head_.find(" 101 ") != std::string::npos; }
  const std::string& head() const { return head_; }
  // The next text frame's payload, or nullopt on timeout / close.
  std::optional<std::string> next(int timeout_ms = 10000) {
    for (;;) {
      if (buf_.size() >= 2) {
        auto b1 = static_cast<uint8_t>(buf_[1]);
        const int op = static_cast<uint8_t>(buf_[0]) & 0x0f;
        size_t len = b1 & 0x7f, hdr = 2;
        if (len == 126 && buf_.size() >= 4) {
          len = (static_cast<uint8_t>(buf_[2]) << 8) | static_cast<uint8_t>(buf_[3]);
          hdr = 4;
        } else if (len == 127 && buf_.size() >= 10) {
          len = 0;
          for (int i = 2; i < 10; ++i) len = len << 8 | static_cast<uint8_t>(buf_[static_cast<size_t>(i)]);
          hdr = 10;
        } else if (len >= 126) {
          hdr = 0;
        }
        if (hdr != 0 && buf_.size() >= hdr + len) {
          std::string payload = buf_.substr(hdr, len);
          buf_.erase(0, hdr + len);
          if (op == 8) return std::nullopt;  // close
          if (op == 1) return payload;
          continue;  // ping/pong/continuation: not used by the server here
        }
      }
      if (!fill(timeout_ms)) return std::nullopt;
    }
  }

 private:
  bool fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::read(fd_, tmp, sizeof tmp);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_, head_;
};

}  // namespace httptest
