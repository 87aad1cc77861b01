// The connection's TLS set-up (socket.cpp, load_cas): which CA
// certificates a wss:// connection trusts, and that the system's are read
// lazily rather than parsed whole in every worker.
#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <uv.h>

#include <cstdio>
#include <functional>
#include <string>

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
