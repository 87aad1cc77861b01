// The cross-process Signal race test.
//
// Our profile's store is used by two processes at once (signal_race_peer
// encrypt + decrypt: the sender worker and the connection worker), while
// this driver plays the counterpart with its own store: it decrypts every
// message the encrypting peer sends and sends `rounds` messages that the
// decrypting peer must read. With the per-operation transaction, all of it
// must succeed. With WA_TEST_DISABLE_SIGNAL_TXN=1 and --expect-fork, the
// driver passes only if the race broke the ratchet (some decryption failed
// for a cryptographic reason) while every process exited normally: proof
// that this test can fail.
//
// --engine postgres: our profile's store is in PostgreSQL (the run's
// cluster, WA_TEST_PG_STATE; tests/support/pg_test.hpp) instead of a SQLite
// file, as a deployment with store.engine "postgres" has it: both peers
// open it by its locator under the fencing token of a lease this driver
// claims, and the per-operation transaction is PostgreSQL's (the profile's
// row lock). The counterpart keeps its own SQLite store either way.
//
// usage: signal_race_driver --peer PATH [--engine sqlite|postgres] [--rounds N] [--seed S] [--window-us W]
//                           [--expect-fork]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pg_test.hpp"
#include "race_io.hpp"
#include "wa/signal/keys.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/lease.hpp"
#include "wa/store/open.hpp"
#include "wa/store/postgres_store.hpp"
#include "wa/store/sqlite_store.hpp"

extern char** environ;

namespace {

const wa::store::Address kOurs{"ours", 0};
const wa::store::Address kThem{"them", 0};
constexpr unsigned kDeadlineSeconds = 28;

std::atomic<pid_t> g_children[2] = {0, 0};

// The deadline: no waiting on anything can outlive it.
void on_deadline(int) {
  for (auto& c : g_children) {
    pid_t p = c.load();
    if (p > 0) ::kill(p, SIGKILL);
  }
  const char msg[] = "signal_race_driver: deadline exceeded\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
  ::_exit(3);
}

struct Child {
  pid_t pid = -1;
  int to_child = -1;    // its stdin
  int from_child = -1;  // its stdout
};

bool spawn(const std::vector<std::string>& args, Child& out) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return false;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return false;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int rc = posix_spawn(&out.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    return false;
  }
  out.to_child = in_pipe[1];
  out.from_child = out_pipe[0];
  return true;
}

int exit_code_of(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

template <class T>
T must(wa::Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "setup failed at %s: %s: %s\n", what, r.error().code.c_str(), r.error().message.c_str());
    std::exit(2);
  }
  return std::move(r).value();
}

struct Tally {
  int ok = 0;
  std::map<std::string, int> failures;  // error code -> count
  void fail(const std::string& code) { ++failures[code]; }
  int crypto_failures() const {
    int n = 0;
    for (const auto& [code, count] : failures)
      if (race::is_crypto_failure(code)) n += count;
    return n;
  }
  int other_failures() const {
    int n = 0;
    for (const auto& [code, count] : failures)
      if (!race::is_crypto_failure(code)) n += count;
    return n;
  }
  std::string describe() const {
    std::string s = std::to_string(ok) + " ok";
    for (const auto& [code, count] : failures) s += ", " + std::to_string(count) + " " + code;
    return s;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string peer;
  std::string engine = "sqlite";
  int rounds = 100;
  int window_us = 2000;
  bool expect_fork = false;
  uint64_t seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--peer")
      peer = next();
    else if (a == "--engine")
      engine = next();
    else if (a == "--rounds")
      rounds = std::atoi(next().c_str());
    else if (a == "--seed")
      seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--window-us")
      window_us = std::atoi(next().c_str());
    else if (a == "--expect-fork")
      expect_fork = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (peer.empty() || rounds <= 0 || rounds > 10000 || window_us < 0 || (engine != "sqlite" && engine != "postgres")) {
    std::fprintf(stderr,
                 "usage: signal_race_driver --peer PATH [--engine sqlite|postgres] [--rounds N] [--seed S] "
                 "[--window-us W] [--expect-fork]\n");
    return 2;
  }
  if (expect_fork != wa::signal::signal_transactions_disabled()) {
    std::fprintf(stderr, "--expect-fork goes with WA_TEST_DISABLE_SIGNAL_TXN=1 and only with it\n");
    return 2;
  }
  std::printf("signal race on %s: %d rounds, seed %llu, window jitter 0-%d us, transactions %s\n", engine.c_str(),
              rounds, static_cast<unsigned long long>(seed), window_us, expect_fork ? "DISABLED" : "on");

  struct sigaction sa {};
  sa.sa_handler = on_deadline;
  ::sigaction(SIGALRM, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  ::alarm(kDeadlineSeconds);

  const char* lid_env = std::getenv("WA_RACE_LID");
  const bool lid_mode = lid_env != nullptr && std::string(lid_env) == "1";
  if (lid_mode) std::printf("LID mode: the contact migrates PN -> LID during the race\n");
  std::string tmpl = (std::filesystem::temp_directory_path() / "wa-race-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 2;
  const std::string dir = tmpl;
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};
  // Our profile's store: a SQLite file, or a PostgreSQL profile of its own
  // in the run's cluster under a lease claimed here (its token fences the
  // peers' writes, as a supervisor's does its workers').
  std::string ours_db = dir + "/ours.db";
  struct PgProfile {
    std::string conninfo, profile;
    ~PgProfile() {
      if (!profile.empty()) (void)wa::store::pg_delete_profile(conninfo, profile);
    }
  } pg;
  if (engine == "postgres") {
    try {
      pg.conninfo = wa::test::pg_conninfo();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    }
    const std::string file = dir + "/pg.conninfo";
    std::ofstream(file) << pg.conninfo << "\n";
    ::chmod(file.c_str(), 0600);
    auto leases = must(wa::store::LeaseTable::open(pg.conninfo), "lease table");
    const std::string profile = wa::test::pg_unique_profile("race");
    auto lease = must(leases.claim(profile, "signal-race-driver", 3600000), "claim");
    if (!lease) {
      std::fprintf(stderr, "setup failed: the new profile's lease is held elsewhere\n");
      return 2;
    }
    pg.profile = profile;
    ours_db = wa::store::pg_locator(lease->token, profile, file);
  }

  // Counterpart (in this process, its own store) and the initial session:
  // pkmsg from us, a reply from them, so both sides are in the msg phase.
  auto them_store = must(wa::store::open_sqlite(dir + "/them.db"), "open them");
  must(wa::signal::ensure_registration(*them_store), "register them");
  auto them = must(wa::signal::SignalSession::create(*them_store), "them session");
  {
    auto ours_store = must(wa::store::open(ours_db), "open ours");
    must(wa::signal::ensure_registration(*ours_store), "register ours");
    auto ours = must(wa::signal::SignalSession::create(*ours_store), "ours session");
    wa::signal::PreKeyBundle b;
    b.registration_id =
        *wa::store::decode_u32(*must(them_store->get_credential(wa::store::cred::registration_id), "regid"));
    auto pk = must(wa::signal::generate_and_store_prekeys(*them_store, 1), "prekeys");
    b.prekey_id = pk[0].id;
    b.prekey_pub = pk[0].pub;
    auto spk = *must(them_store->load_signed_prekey(1), "signed prekey");
    b.signed_prekey_id = spk.id;
    b.signed_prekey_pub = spk.pub;
    b.signed_prekey_signature = spk.signature;
    b.identity_key = *must(them_store->get_credential(wa::store::cred::identity_pub), "identity");
    // WA_RACE_LID=1 (see peer.cpp): the session starts under the contact's phone number.
    const wa::store::Address start = lid_mode ? wa::store::Address{"5511", 0} : kThem;
    must(ours->process_bundle(start, b), "process bundle");
    auto hello = must(ours->encrypt(start, wa::as_bytes("hello")), "first encrypt");
    must(them->decrypt_pkmsg(kOurs, hello.data), "first decrypt");
    auto reply = must(them->encrypt(kOurs, wa::as_bytes("reply")), "reply encrypt");
    must(ours->decrypt_msg(start, reply.data), "reply decrypt");
  }

  Child enc, dec;
  const std::string r = std::to_string(rounds), w = std::to_string(window_us);
  if (!spawn({peer, "encrypt", ours_db, r, std::to_string(seed), w}, enc)) return 2;
  g_children[0] = enc.pid;
  if (!spawn({peer, "decrypt", ours_db, r, std::to_string(seed * 31 + 7), w}, dec)) return 2;
  g_children[1] = dec.pid;

  auto ready_e = race::read_frame(enc.from_child);
  auto ready_d = race::read_frame(dec.from_child);
  if (!ready_e || !ready_d) {
    std::fprintf(stderr, "a peer failed to start\n");
    return 2;
  }

  std::mutex them_mu;  // one SignalSession, used by two driver threads
  Tally to_them, to_ours;
  int harness_errors = 0;

  // The counterpart's messages for the decrypting peer, with their own jitter.
  std::thread sender([&] {
    race::Jitter jitter(seed * 131 + 3);
    for (int i = 0; i < rounds; ++i) {
      jitter.sleep_up_to_us(10000);
      wa::Bytes frame;
      {
        std::lock_guard<std::mutex> lock(them_mu);
        auto ct = them->encrypt(kOurs, wa::as_bytes("theirs-" + std::to_string(i)));
        if (!ct) {
          std::fprintf(stderr, "counterpart encrypt failed: %s\n", ct.error().code.c_str());
          break;
        }
        frame.push_back(ct->type == wa::signal::MessageType::pkmsg ? 3 : 2);
        frame.insert(frame.end(), ct->data.begin(), ct->data.end());
      }
      if (!race::write_frame(dec.to_child, frame)) break;
    }
    ::close(dec.to_child);
  });

  if (!race::write_frame(enc.to_child, wa::as_bytes("go"))) return 2;

  // The decrypting peer's results, checked in order.
  std::thread results([&] {
    for (int i = 0; i < rounds; ++i) {
      auto f = race::read_frame(dec.from_child);
      if (!f || f->empty()) {
        to_ours.fail("peer_gone");
        return;
      }
      std::string body(wa::as_chars(wa::ByteView(*f).subspan(1)));
      if ((*f)[0] != 1)
        to_ours.fail(body);
      else if (body != "theirs-" + std::to_string(i))
        to_ours.fail("plaintext_mismatch");
      else
        ++to_ours.ok;
    }
  });

  // The encrypting peer's messages, decrypted by the counterpart in order.
  for (int i = 0; i < rounds; ++i) {
    auto f = race::read_frame(enc.from_child);
    if (!f || f->empty()) {
      to_them.fail("peer_gone");
      break;
    }
    if ((*f)[0] != 1) {
      to_them.fail("encrypt:" + std::string(wa::as_chars(wa::ByteView(*f).subspan(1))));
      continue;
    }
    if (f->size() < 2) {
      ++harness_errors;
      continue;
    }
    wa::ByteView ct = wa::ByteView(*f).subspan(2);
    std::lock_guard<std::mutex> lock(them_mu);
    auto pt = (*f)[1] == 3 ? them->decrypt_pkmsg(kOurs, ct) : them->decrypt_msg(kOurs, ct);
    if (!pt)
      to_them.fail(pt.error().code);
    else if (std::string(wa::as_chars(*pt)) != "ours-" + std::to_string(i))
      to_them.fail("plaintext_mismatch");
    else
      ++to_them.ok;
  }
  sender.join();
  results.join();
  ::close(enc.to_child);
  const int enc_exit = exit_code_of(enc.pid);
  const int dec_exit = exit_code_of(dec.pid);
  g_children[0] = 0;
  g_children[1] = 0;
  ::alarm(0);

  std::printf("counterpart decrypted our messages:  %s\n", to_them.describe().c_str());
  std::printf("we decrypted the counterpart's:      %s\n", to_ours.describe().c_str());
  std::printf("peer exits: encrypt=%d decrypt=%d\n", enc_exit, dec_exit);

  const bool clean_exits = enc_exit == 0 && dec_exit == 0 && harness_errors == 0;
  // LID mode: the session moved exactly once, nothing was left or made
  // under the phone number.
  bool migrated_once = true;
  if (lid_mode) {
    auto ours_store = must(wa::store::open(ours_db), "reopen ours");
    auto lid_dev = must(ours_store->session_devices("9001_1"), "lid sessions");
    auto mapped = must(ours_store->lid_for_pn("5511"), "mapping");
    migrated_once = lid_dev == std::vector<uint32_t>{0} && mapped && *mapped == "9001";
    std::printf("LID mapping stored: %s, sessions under the LID: %zu\n", mapped ? "yes" : "no", lid_dev.size());
  }
  if (!expect_fork) {
    const bool pass = clean_exits && migrated_once && to_them.ok == rounds && to_ours.ok == rounds;
    std::printf("%s\n", pass ? "PASS: no fork, every message decrypted" : "FAIL");
    return pass ? 0 : 1;
  }
  // Negative case: the ratchet must have broken, and for a cryptographic
  // reason, not because the harness or the store failed.
  const int forks = to_them.crypto_failures() + to_ours.crypto_failures();
  const int other = to_them.other_failures() + to_ours.other_failures();
  if (!clean_exits || other > 0) {
    std::printf("FAIL: inconclusive (process or store failures)\n");
    return 1;
  }
  if (forks == 0) {
    std::printf("FAIL: no fork detected without transactions: this test could not tell\n");
    return 1;
  }
  std::printf("PASS: without transactions the ratchet forked (%d failed decryptions)\n", forks);
  return 0;
}
