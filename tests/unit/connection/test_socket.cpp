// The connection's TLS set-up (socket.cpp, load_cas): which CA
// certificates a wss:// connection trusts, and that the system's are read
// lazily rather than parsed whole in every worker.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <uv.h>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "socket.hpp"

using wa::connection::WsContext;

namespace {

constexpr const char* kBundle = "/etc/ssl/certs/ca-certificates.crt";  // ca-certificates (scripts/setup.sh)

// The first certificate of a PEM file.
X509* first_cert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  REQUIRE(f != nullptr);
  X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  REQUIRE(c != nullptr);
  return c;
}

int certs_in(X509_STORE* store) {
  int n = 0;
  STACK_OF(X509_OBJECT)* objs = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objs); ++i)
    if (X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i)) != nullptr) ++n;
  return n;
}

// Whether `cert` verifies against `store` as a trust anchor.
bool trusted(X509_STORE* store, X509* cert) {
  X509_STORE_CTX* v = X509_STORE_CTX_new();
  REQUIRE(v != nullptr);
  REQUIRE(X509_STORE_CTX_init(v, store, cert, nullptr) == 1);
  X509_STORE_CTX_set_flags(v, X509_V_FLAG_NO_CHECK_TIME);
  const bool ok = X509_verify_cert(v) == 1;
  X509_STORE_CTX_free(v);
  return ok;
}

// A TLS context made with OpenSSL's variables as given (nullptr: unset),
// handed to `check`; the variables are unset again after.
// (A host may set either for every process: both are set or unset here.)
void with_tls_context(const char* cert_file, const char* cert_dir, const std::function<void(SSL_CTX*)>& check) {
  auto set = [](const char* name, const char* v) { v != nullptr ? ::setenv(name, v, 1) : ::unsetenv(name); };
  set("SSL_CERT_FILE", cert_file);
  set("SSL_CERT_DIR", cert_dir);
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto ctx = WsContext::create(&loop, true);
    REQUIRE(ctx.has_value());
    REQUIRE((*ctx)->ssl() != nullptr);
    check((*ctx)->ssl());
  }
  // lws's handles finish closing on the loop (socket.hpp), then it is empty.
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  ::unsetenv("SSL_CERT_FILE");
  ::unsetenv("SSL_CERT_DIR");
}

}  // namespace

TEST_CASE("socket: by default the system's CAs are read lazily from its hashed directory, one when needed") {
  X509* root = first_cert(kBundle);
  with_tls_context(nullptr, nullptr, [&](SSL_CTX* ssl) {
    X509_STORE* store = SSL_CTX_get_cert_store(ssl);
    CHECK(certs_in(store) == 0);  // nothing parsed up front
    CHECK(trusted(store, root));  // found by its subject when asked for
    const int loaded = certs_in(store);
    CHECK(loaded >= 1);
    CHECK(loaded <= 3);           // that one (and any sharing its subject hash), not the bundle
  });
  X509_free(root);
}

TEST_CASE("socket: SSL_CERT_FILE and SSL_CERT_DIR are honoured, and nothing else is trusted then") {
  X509* root = first_cert(kBundle);
  // A bundle holding one system root only.
  const std::string one = "/tmp/wa-unit-one-ca-" + std::to_string(::getpid()) + ".pem";
  {
    FILE* f = std::fopen(one.c_str(), "w");
    REQUIRE(f != nullptr);
    REQUIRE(PEM_write_X509(f, root) == 1);
    std::fclose(f);
  }
  with_tls_context(one.c_str(), nullptr, [&](SSL_CTX* ssl) {
    X509_STORE* store = SSL_CTX_get_cert_store(ssl);
    CHECK(certs_in(store) == 1);  // the file, parsed whole
    CHECK(trusted(store, root));
  });
  // Another system root is not in that file: not trusted.
  X509* other = nullptr;
  {
    FILE* f = std::fopen(kBundle, "r");
    REQUIRE(f != nullptr);
    X509* first = PEM_read_X509(f, nullptr, nullptr, nullptr);
    other = PEM_read_X509(f, nullptr, nullptr, nullptr);
    X509_free(first);
    std::fclose(f);
  }
  REQUIRE(other != nullptr);
  with_tls_context(one.c_str(), nullptr, [&](SSL_CTX* ssl) { CHECK_FALSE(trusted(SSL_CTX_get_cert_store(ssl), other)); });
  // SSL_CERT_DIR: the system's directory, lazily, as by default.
  with_tls_context(nullptr, "/etc/ssl/certs", [&](SSL_CTX* ssl) {
    X509_STORE* store = SSL_CTX_get_cert_store(ssl);
    CHECK(certs_in(store) == 0);
    CHECK(trusted(store, other));
  });
  std::remove(one.c_str());
  X509_free(root);
  X509_free(other);
}

TEST_CASE("socket: a plain ws:// context has no TLS context at all") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto plain = WsContext::create(&loop, false);
    REQUIRE(plain.has_value());
    CHECK((*plain)->ssl() == nullptr);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

namespace {

// A websocket peer made of a bare TCP socket, so the test decides when it
// reads: it answers the upgrade, then can leave the client's frames
// unread (a small receive buffer fills at once) and parse them later.
struct SlowPeer {
  int listener = -1, fd = -1;
  int port = 0;
  std::string in;  // bytes read and not yet parsed

  SlowPeer() {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    int small = 4096;  // inherited by the accepted socket: the peer takes little at a time
    REQUIRE(::setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~SlowPeer() {
    if (fd >= 0) ::close(fd);
    ::close(listener);
  }
  // Reads what is there (non-blocking); false when nothing was.
  bool pump() {
    if (fd < 0) fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return false;
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
    return true;
  }
  // Answers the upgrade once its request is in.
  bool upgrade() {
    auto end = in.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const std::string name = "Sec-WebSocket-Key: ";
    auto k = in.find(name);
    REQUIRE(k != std::string::npos);
    std::string key = in.substr(k + name.size(), in.find("\r\n", k) - k - name.size());
    key += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
    unsigned char b64[64] = {};
    EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    std::string reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: " + std::string(reinterpret_cast<char*>(b64)) + "\r\n\r\n";
    REQUIRE(::write(fd, reply.data(), reply.size()) == static_cast<ssize_t>(reply.size()));
    in.erase(0, end + 4);
    return true;
  }
  // The next whole client frame's payload (unmasked), if it is all in.
  bool frame(std::string& payload) {
    if (in.size() < 2) return false;
    const auto* b = reinterpret_cast<const unsigned char*>(in.data());
    REQUIRE(b[0] == 0x82);        // FIN, binary: one frame per message
    REQUIRE((b[1] & 0x80) != 0);  // a client masks
    size_t len = b[1] & 0x7f, at = 2;
    if (len == 126) {
      if (in.size() < 4) return false;
      len = (size_t{b[2]} << 8) | b[3];
      at = 4;
    } else if (len == 127) {
      if (in.size() < 10) return false;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
      at = 10;
    }
    if (in.size() < at + 4 + len) return false;
    const unsigned char* mask = b + at;
    payload.resize(len);
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(b[at + 4 + i] ^ mask[i % 4]);
    in.erase(0, at + 4 + len);
    return true;
  }
};

}  // namespace

TEST_CASE("socket: frames queued faster than the peer reads leave whole and in order, one message each") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto ctx = WsContext::create(&loop, false);
    REQUIRE(ctx.has_value());
    SlowPeer peer;
    bool open = false;
    std::string closed;
    wa::connection::WsConnection::Callbacks cb;
    cb.on_open = [&] { open = true; };
    cb.on_closed = [&](const wa::Error& e) { closed = e.code + ": " + e.message; };
    auto c = wa::connection::WsConnection::connect(**ctx, "ws://127.0.0.1:" + std::to_string(peer.port) + "/ws/chat", cb);
    REQUIRE(c.has_value());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    bool upgraded = false;
    while (!open && closed.empty() && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      peer.pump();
      if (!upgraded) upgraded = peer.upgrade();
    }
    REQUIRE_MESSAGE(open, closed);

    // Far more than the two sockets' buffers hold while the peer does not
    // read: most of it waits in the outbox, and some writes are cut short
    // and held by lws. Sizes vary, from a receipt's to a media message's.
    constexpr int kFrames = 3000;
    size_t total = 0;
    for (int i = 0; i < kFrames; ++i) {
      size_t size = i % 7 == 0 ? 30000 : i % 3 == 0 ? 2000 : 57;
      std::string body = std::to_string(i) + ":";
      body.resize(size, static_cast<char>('a' + i % 26));
      total += body.size();
      (*c)->send(wa::Bytes(body.begin(), body.end()));
    }
    for (int i = 0; i < 200; ++i) uv_run(&loop, UV_RUN_NOWAIT);  // the client writes what the sockets take
    CHECK(closed.empty());

    // Now read it all.
    int next = 0;
    size_t got = 0;
    std::string payload;
    while (next < kFrames && closed.empty() && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      peer.pump();
      while (peer.frame(payload)) {
        const std::string want = std::to_string(next) + ":";
        REQUIRE_MESSAGE(payload.compare(0, want.size(), want) == 0, "frame " << next << " out of order or cut");
        size_t size = next % 7 == 0 ? 30000 : next % 3 == 0 ? 2000 : 57;
        REQUIRE(payload.size() == std::max(size, want.size()));
        CHECK(payload.back() == static_cast<char>('a' + next % 26));
        got += payload.size();
        ++next;
      }
    }
    CHECK(closed.empty());
    CHECK(next == kFrames);
    CHECK(got == total);
    c->reset();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
