// Noise throughput and handshake rate (plain chrono; run by scripts/bench/noise.sh).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "wa/noise/handshake.hpp"

using namespace wa;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "bench failed: %s\n", what);
    std::exit(1);
  }
}

// Encrypt on one side + decrypt on the other, like one frame crossing the link.
void transport(size_t frame, double min_seconds) {
  const auto now = static_cast<uint64_t>(std::time(nullptr));
  auto ca = noise::CertAuthority::generate(now, 3600);
  auto server_key = crypto::generate_keypair();
  noise::NoiseInitiator c(crypto::generate_keypair(), ca.policy());
  noise::NoiseResponder s(server_key, ca.issue_chain(server_key.pub, 1));
  auto hello = c.write_client_hello();
  check(hello && s.read_client_hello(*hello), "hello");
  auto sh = s.write_server_hello();
  check(sh && c.read_server_hello(*sh, now), "server hello");
  auto fin = c.write_client_finish(Bytes{1});
  check(fin && s.read_client_finish(*fin), "finish");
  auto ct = c.split();
  auto st = s.split();
  check(ct && st, "split");

  const Bytes plain(frame, 0xab);
  size_t frames = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (elapsed < min_seconds) {
    for (int i = 0; i < 64; ++i) {
      auto e = ct->encrypt(plain);
      auto d = st->decrypt(*e);
      check(e && d && d->size() == frame, "roundtrip");
    }
    frames += 64;
    elapsed = seconds_since(t0);
  }
  const double mb = static_cast<double>(frames * frame) / (1024.0 * 1024.0);
  std::printf("transport %6zu B frames: %9.1f MiB/s  (%.0f frames/s, encrypt+decrypt)\n", frame, mb / elapsed,
              static_cast<double>(frames) / elapsed);
}

void oneshot_gcm(size_t frame, double min_seconds) {
  const Bytes key(32, 1), iv(12, 2), plain(frame, 3);
  size_t n = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (elapsed < min_seconds) {
    for (int i = 0; i < 64; ++i) {
      auto e = crypto::aes_gcm_encrypt(key, iv, ByteView{}, plain);
      auto d = crypto::aes_gcm_decrypt(key, iv, ByteView{}, *e);
      check(e && d, "gcm");
    }
    n += 64;
    elapsed = seconds_since(t0);
  }
  std::printf("one-shot aes_gcm (new ctx per call) %zu B: %9.1f MiB/s  (for comparison)\n", frame,
              static_cast<double>(n * frame) / (1024.0 * 1024.0) / elapsed);
}

void handshakes(double min_seconds) {
  const auto now = static_cast<uint64_t>(std::time(nullptr));
  auto ca = noise::CertAuthority::generate(now, 3600);
  auto server_key = crypto::generate_keypair();
  const Bytes chain = ca.issue_chain(server_key.pub, 1);
  const auto client_key = crypto::generate_keypair();
  const Bytes payload(200, 7);  // about a login ClientPayload
  size_t n = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (elapsed < min_seconds) {
    noise::NoiseInitiator c(client_key, ca.policy());
    noise::NoiseResponder s(server_key, chain);
    auto hello = c.write_client_hello();
    check(hello && s.read_client_hello(*hello), "hello");
    auto sh = s.write_server_hello();
    check(sh && c.read_server_hello(*sh, now), "server hello");
    auto fin = c.write_client_finish(payload);
    check(fin && s.read_client_finish(*fin), "finish");
    check(c.split() && s.split(), "split");
    ++n;
    elapsed = seconds_since(t0);
  }
  std::printf("full handshakes (client+server, incl. 2 XEdDSA cert verifies): %.0f /s  (%.1f us each)\n",
              static_cast<double>(n) / elapsed, 1e6 * elapsed / static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  const double secs = argc > 1 ? std::atof(argv[1]) : 2.0;
  transport(1024, secs);
  transport(64 * 1024, secs);
  oneshot_gcm(1024, secs);
  handshakes(secs);
  return 0;
}
