// The blocking helpers (send_bytes / recv_bytes) keep one aio per socket and
// direction: each call must still honour the socket's options as they are
// at that call, and a failed send must leave the socket usable.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "wa/ipc/nng.hpp"

using namespace wa;
using namespace wa::ipc;

namespace {

std::string temp_url(const char* name) {
  return "ipc://" + (std::filesystem::temp_directory_path() / (std::string(name) + "-" + std::to_string(::getpid())))
                        .string();
}

struct Pair {
  Socket a, b;
  explicit Pair(const char* name) {
    const std::string url = temp_url(name);
    auto x = open_socket(Protocol::pair1);
    auto y = open_socket(Protocol::pair1);
    REQUIRE(x);
    REQUIRE(y);
    a = std::move(*x);
    b = std::move(*y);
    REQUIRE(listen_private(a, url));
    REQUIRE(dial(b, url, true));
  }
};

}  // namespace

TEST_CASE("blocking receive: a timeout changed between calls is the one honoured") {
  Pair p("wa-nng-timeo");
  // First receive: a long timeout, and a message already there.
  REQUIRE(set_ms(p.b, NNG_OPT_RECVTIMEO, 30000));
  REQUIRE(send_bytes(p.a, as_bytes(std::string_view("one"))));
  auto first = recv_bytes(p.b);
  REQUIRE(first);
  CHECK(std::string(as_chars(*first)) == "one");
  // Then a short one and nothing to receive. NNG writes the socket's
  // timeout into the aio it is given, so a kept aio that was not reset
  // would wait the first call's 30 s here.
  REQUIRE(set_ms(p.b, NNG_OPT_RECVTIMEO, 10));
  const auto t0 = std::chrono::steady_clock::now();
  auto second = recv_bytes(p.b);
  const auto waited = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(second);
  CHECK(second.error().code == "timeout");
  CHECK(waited < std::chrono::seconds(10));
  // The kept aio still works afterwards.
  REQUIRE(set_ms(p.b, NNG_OPT_RECVTIMEO, 30000));
  REQUIRE(send_bytes(p.a, as_bytes(std::string_view("two"))));
  auto third = recv_bytes(p.b);
  REQUIRE(third);
  CHECK(std::string(as_chars(*third)) == "two");
}

TEST_CASE("blocking send: a send that fails keeps the socket usable and the message is not sent later") {
  const std::string url = temp_url("wa-nng-send");
  auto s = open_socket(Protocol::pair1);
  REQUIRE(s);
  Socket a = std::move(*s);
  // Nobody to take it: a pair socket with no peer, a 10 ms send timeout.
  REQUIRE(set_ms(a, NNG_OPT_SENDTIMEO, 10));
  auto failed = send_bytes(a, as_bytes(std::string_view("lost")));
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == "timeout");
  // A peer arrives: the next send goes through on the same kept aio, and
  // the failed message (freed by send_bytes) never shows up.
  REQUIRE(listen_private(a, url));
  auto peer = open_socket(Protocol::pair1);
  REQUIRE(peer);
  Socket b = std::move(*peer);
  REQUIRE(dial(b, url, true));
  REQUIRE(set_ms(a, NNG_OPT_SENDTIMEO, 30000));
  REQUIRE(set_ms(b, NNG_OPT_RECVTIMEO, 30000));
  REQUIRE(send_bytes(a, as_bytes(std::string_view("kept"))));
  auto got = recv_bytes(b);
  REQUIRE(got);
  CHECK(std::string(as_chars(*got)) == "kept");
}
