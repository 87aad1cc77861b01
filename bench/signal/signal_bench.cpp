// Signal operations per second on the real storage path: every operation is
// one SQLite transaction (BEGIN IMMEDIATE ... COMMIT) on a WAL database,
// FULL sync for encrypt (fsync per message), NORMAL for decrypt.
//
// usage: signal_bench [--n N] [--dir DIR]   (DIR: where the databases go)
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "wa/signal/keys.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/sqlite_store.hpp"

using Clock = std::chrono::steady_clock;

namespace {

template <class T>
T must(wa::Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s: %s\n", what, r.error().code.c_str(), r.error().message.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void must_ok(const wa::Status& s, const char* what) {
  if (!s) {
    std::fprintf(stderr, "%s: %s\n", what, s.error().message.c_str());
    std::exit(1);
  }
}

struct Party {
  std::unique_ptr<wa::store::Store> db;
  std::unique_ptr<wa::signal::SignalSession> sig;
  wa::store::Address addr;
  Party(const std::string& path, const std::string& name) : addr{name, 0} {
    db = must(wa::store::open_sqlite(path), "open");
    must(wa::signal::ensure_registration(*db), "register");
    sig = must(wa::signal::SignalSession::create(*db), "session");
  }
  wa::signal::PreKeyBundle bundle() {
    wa::signal::PreKeyBundle b;
    b.registration_id = *wa::store::decode_u32(*must(db->get_credential(wa::store::cred::registration_id), "regid"));
    auto pk = must(wa::signal::generate_and_store_prekeys(*db, 1), "prekey");
    b.prekey_id = pk[0].id;
    b.prekey_pub = pk[0].pub;
    auto spk = *must(db->load_signed_prekey(1), "spk");
    b.signed_prekey_id = spk.id;
    b.signed_prekey_pub = spk.pub;
    b.signed_prekey_signature = spk.signature;
    b.identity_key = *must(db->get_credential(wa::store::cred::identity_pub), "identity");
    return b;
  }
};

void report(const char* name, int n, Clock::duration d) {
  double s = std::chrono::duration<double>(d).count();
  std::printf("%-34s %8d ops  %10.0f ops/s  %8.1f us/op\n", name, n, n / s, 1e6 * s / n);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 2000;
  std::string base = std::filesystem::temp_directory_path().string();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n"))
      n = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir"))
      base = argv[i + 1];
  }
  if (n <= 0) return 2;
  std::string tmpl = base + "/wa-signal-bench-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return 1;
  const std::string dir = tmpl;

  {
    Party alice(dir + "/alice.db", "alice"), bob(dir + "/bob.db", "bob");
    must(alice.sig->process_bundle(bob.addr, bob.bundle()), "bundle");
    auto first = must(alice.sig->encrypt(bob.addr, wa::as_bytes("hello")), "pkmsg");
    must(bob.sig->decrypt_pkmsg(alice.addr, first.data), "decrypt pkmsg");
    auto reply = must(bob.sig->encrypt(alice.addr, wa::as_bytes("reply")), "reply");
    must(alice.sig->decrypt_msg(bob.addr, reply.data), "decrypt reply");

    const wa::Bytes plaintext(100, 0x61);
    std::printf("signal_bench: %d messages of %zu bytes, databases in %s\n", n, plaintext.size(), base.c_str());

    // Bare transaction cost, for reading the numbers below.
    for (auto d : {wa::store::Durability::normal, wa::store::Durability::full}) {
      auto t0 = Clock::now();
      for (int i = 0; i < n; ++i)
        // A changing value: SQLite skips writing a row whose bytes are unchanged.
        must_ok(
            alice.db->transaction(
                d, [&] { return alice.db->put_credential("bench", wa::store::encode_u32(static_cast<uint32_t>(i))); }),
            "txn");
      report(d == wa::store::Durability::full ? "1-row write txn (FULL)" : "1-row write txn (NORMAL)", n,
             Clock::now() - t0);
    }

    std::vector<wa::Bytes> cts;
    cts.reserve(static_cast<size_t>(n));
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) cts.push_back(must(alice.sig->encrypt(bob.addr, plaintext), "encrypt").data);
    report("encrypt msg (txn, FULL)", n, Clock::now() - t0);

    t0 = Clock::now();
    for (const auto& c : cts) must(bob.sig->decrypt_msg(alice.addr, c), "decrypt");
    report("decrypt msg (txn, NORMAL)", n, Clock::now() - t0);

    // Ping-pong: every message carries a new ratchet key (DH step each time).
    t0 = Clock::now();
    int steps = n / 2;
    for (int i = 0; i < steps; ++i) {
      auto a = must(alice.sig->encrypt(bob.addr, plaintext), "pp enc a");
      must(bob.sig->decrypt_msg(alice.addr, a.data), "pp dec b");
      auto b = must(bob.sig->encrypt(alice.addr, plaintext), "pp enc b");
      must(alice.sig->decrypt_msg(bob.addr, b.data), "pp dec a");
    }
    report("ping-pong enc+dec pair (DH steps)", steps * 2, Clock::now() - t0);

    const std::string group = "120363000000000001@g.us";
    auto skdm = must(alice.sig->create_sender_key_distribution(group, alice.addr), "skdm");
    must_ok(bob.sig->process_sender_key_distribution(group, alice.addr, skdm), "process skdm");
    std::vector<wa::Bytes> gcts;
    gcts.reserve(static_cast<size_t>(n));
    t0 = Clock::now();
    for (int i = 0; i < n; ++i) gcts.push_back(must(alice.sig->group_encrypt(group, alice.addr, plaintext), "genc"));
    report("group encrypt (txn, FULL)", n, Clock::now() - t0);
    t0 = Clock::now();
    for (const auto& c : gcts) must(bob.sig->group_decrypt(group, alice.addr, c), "gdec");
    report("group decrypt (txn, NORMAL)", n, Clock::now() - t0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
