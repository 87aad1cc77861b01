// One of two processes acting for the SAME profile (same SQLite file, or the
// same PostgreSQL profile: DB is a store locator, wa/store/open.hpp):
//   encrypt: sends `rounds` messages to the counterpart (frames on stdout)
//   decrypt: decrypts the counterpart's messages arriving on stdin
// Both wait a random 0-10 ms between operations, and a random 0-W us
// between loading the session and storing it back (a slow disk or a
// descheduled process), so that without the per-operation transaction
// the two processes' load->store windows overlap and updates get lost.
//
// usage: signal_race_peer encrypt|decrypt DB ROUNDS SEED WINDOW_US
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "race_io.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/forwarding_store.hpp"
#include "wa/store/open.hpp"

namespace {

const wa::store::Address kThem{"them", 0};

// WA_RACE_LID=1: the counterpart is a contact that migrates to a LID during
// the race. Its session starts under its phone number; the encrypting peer
// (a sender worker addressing the number) learns the mapping at a random
// round, the decrypting peer (the receive path, messages from the LID)
// before its first message - so both processes try to migrate at once,
// each still naming the contact its own way.
bool lid_mode() {
  const char* v = std::getenv("WA_RACE_LID");
  return v != nullptr && std::string(v) == "1";
}
const wa::store::Address kThemPn{"5511", 0};
const wa::store::Address kThemLid{"9001_1", 0};

class WindowStretcher : public wa::store::ForwardingStore {
 public:
  WindowStretcher(wa::store::Store& inner, uint64_t seed, int max_us)
      : ForwardingStore(inner), jitter_(seed), max_us_(max_us) {}
  wa::Result<std::optional<wa::Bytes>> load_session(const wa::store::Address& a) override {
    auto r = ForwardingStore::load_session(a);
    if (max_us_ > 0) jitter_.sleep_up_to_us(max_us_);
    return r;
  }

 private:
  race::Jitter jitter_;
  int max_us_;
};

wa::Bytes result_frame(bool ok, wa::ByteView body) {
  wa::Bytes f(1 + body.size());
  f[0] = ok ? 1 : 0;
  std::copy(body.begin(), body.end(), f.begin() + 1);
  return f;
}

int usage() {
  std::fprintf(stderr, "usage: signal_race_peer encrypt|decrypt DB ROUNDS SEED WINDOW_US\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) return usage();
  const std::string mode = argv[1];
  const std::string db_path = argv[2];
  const int rounds = std::atoi(argv[3]);
  const uint64_t seed = std::strtoull(argv[4], nullptr, 10);
  const int window_us = std::atoi(argv[5]);
  if ((mode != "encrypt" && mode != "decrypt") || rounds <= 0 || rounds > 100000 || window_us < 0) return usage();

  auto db = wa::store::open(db_path);
  if (!db) {
    std::fprintf(stderr, "peer %s: open: %s\n", mode.c_str(), db.error().message.c_str());
    return 1;
  }
  WindowStretcher stretched(**db, seed ^ 0x9e3779b97f4a7c15ULL, window_us);
  auto sig = wa::signal::SignalSession::create(stretched);
  if (!sig) return 1;
  race::Jitter jitter(seed);

  if (!race::write_frame(1, wa::as_bytes("ready"))) return 1;

  const bool lid = lid_mode();
  const wa::store::Address them = !lid ? kThem : mode == "encrypt" ? kThemPn : kThemLid;
  auto learn = [&]() -> bool {
    auto st = (**db).put_lid_mapping("5511", "9001");
    if (!st) std::fprintf(stderr, "peer %s: mapping: %s\n", mode.c_str(), st.error().code.c_str());
    return st.has_value();
  };
  if (mode == "encrypt") {
    auto go = race::read_frame(0);
    if (!go) return 1;
    const int learn_at = static_cast<int>(seed % 20);
    for (int i = 0; i < rounds; ++i) {
      jitter.sleep_up_to_us(10000);
      if (lid && i == learn_at && !learn()) return 1;
      std::string text = "ours-" + std::to_string(i);
      auto ct = (*sig)->encrypt(them, wa::as_bytes(text));
      wa::Bytes frame;
      if (ct) {
        frame = result_frame(true, {});
        frame.push_back(ct->type == wa::signal::MessageType::pkmsg ? 3 : 2);
        frame.insert(frame.end(), ct->data.begin(), ct->data.end());
      } else {
        frame = result_frame(false, wa::as_bytes(ct.error().code));
      }
      if (!race::write_frame(1, frame)) return 1;
    }
    return 0;
  }

  for (int i = 0; i < rounds; ++i) {
    auto in = race::read_frame(0);
    if (!in) return 1;  // the driver went away early
    if (in->empty()) return 1;
    jitter.sleep_up_to_us(10000);
    if (lid && i == 0 && !learn()) return 1;
    wa::ByteView body = wa::ByteView(*in).subspan(1);
    auto pt = (*in)[0] == 3 ? (*sig)->decrypt_pkmsg(them, body) : (*sig)->decrypt_msg(them, body);
    wa::Bytes frame = pt ? result_frame(true, *pt) : result_frame(false, wa::as_bytes(pt.error().code));
    if (!race::write_frame(1, frame)) return 1;
  }
  return 0;
}
