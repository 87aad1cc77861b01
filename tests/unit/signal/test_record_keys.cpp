// The keys read straight from a stored session record must be the ones
// libsignal finds when it parses that record.
#include <doctest/doctest.h>
#include <curve.h>
#include <session_record.h>
#include <signal_protocol.h>
#include <session_state.h>

#include <string>
#include <vector>

#include "party.hpp"
#include "record_keys.hpp"
#include "temp_dir.hpp"
#include "wa/signal/context.hpp"

using namespace wa;
using namespace wa::test;
using signal::detail::read_record_keys;

namespace {

Bytes text(const std::string& s) { return to_bytes(s); }

Bytes serialized(ec_public_key* key) {
  if (!key) return {};
  signal_buffer* buf = nullptr;
  REQUIRE(ec_public_key_serialize(&buf, key) == SG_SUCCESS);
  Bytes out(signal_buffer_data(buf), signal_buffer_data(buf) + signal_buffer_len(buf));
  signal_buffer_free(buf);
  return out;
}

// What libsignal's own parse of `record` says.
signal::detail::RecordKeys parsed(signal_context* ctx, const Bytes& record) {
  session_record* rec = nullptr;
  REQUIRE(session_record_deserialize(&rec, record.data(), record.size(), ctx) == SG_SUCCESS);
  signal::detail::RecordKeys k;
  session_state* state = session_record_get_state(rec);
  k.current_base = serialized(session_state_get_alice_base_key(state));
  k.remote_identity = serialized(session_state_get_remote_identity_key(state));
  for (auto* n = session_record_get_previous_states_head(rec); n; n = session_record_get_previous_states_next(n))
    k.previous_bases.push_back(serialized(session_state_get_alice_base_key(session_record_get_previous_states_element(n))));
  signal_type_unref(reinterpret_cast<signal_type_base*>(rec));
  return k;
}

void check_same(signal_context* ctx, const Bytes& record) {
  auto fast = read_record_keys(record);
  REQUIRE(fast);
  auto slow = parsed(ctx, record);
  CHECK(fast->current_base == slow.current_base);
  CHECK(fast->remote_identity == slow.remote_identity);
  CHECK(fast->previous_bases == slow.previous_bases);
}

}  // namespace

TEST_CASE("record keys: read from the bytes, they are libsignal's - current, archived and remote identity") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob", 3);
  auto ctx = must(signal::SignalContext::create());

  REQUIRE(must(alice.sig->process_bundle(bob.addr, bob.bundle())));
  auto first = must(alice.sig->encrypt(bob.addr, text("one")));
  REQUIRE(must(bob.sig->decrypt_pkmsg(alice.addr, first.data)) == text("one"));

  // Bob's record: one state, no archived ones; Alice's identity on it.
  const Bytes bobs = *must(bob.db->load_session(alice.addr));
  check_same(ctx->raw(), bobs);
  auto k = *read_record_keys(bobs);
  CHECK(k.current_base.size() == 33);
  CHECK(k.previous_bases.empty());
  Bytes alice_identity{0x05};
  const Bytes pub = alice.identity_pub();
  alice_identity.insert(alice_identity.end(), pub.begin(), pub.end());
  CHECK(k.remote_identity == alice_identity);

  // Alice replaces her session twice: two archived states, newest first.
  must_ok(alice.sig->replace_session(bob.addr, bob.bundle()));
  must_ok(alice.sig->replace_session(bob.addr, bob.bundle()));
  const Bytes alices = *must(alice.db->load_session(bob.addr));
  check_same(ctx->raw(), alices);
  auto a = *read_record_keys(alices);
  REQUIRE(a.previous_bases.size() == 2);
  CHECK(a.previous_bases[0] != a.previous_bases[1]);
  CHECK(a.current_base != a.previous_bases[0]);
}

TEST_CASE("record keys: bytes that are not a record of that shape give nothing, never a partial answer") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  REQUIRE(must(alice.sig->process_bundle(bob.addr, bob.bundle())));
  must_ok(alice.sig->replace_session(bob.addr, bob.bundle()));
  const Bytes record = *must(alice.db->load_session(bob.addr));
  auto whole = read_record_keys(record);
  REQUIRE(whole);
  REQUIRE(whole->previous_bases.size() == 1);

  // Every cut: a cut inside a field is refused; one between the record's two
  // fields is a record with only the first (protobuf has no length).
  size_t accepted = 0;
  for (size_t n = 0; n < record.size(); ++n) {
    auto k = read_record_keys(ByteView(record.data(), n));
    if (!k) continue;
    ++accepted;
    CHECK(k->previous_bases.empty());
  }
  CHECK(accepted == 2);  // the empty record, and the current state alone

  CHECK(read_record_keys(ByteView{}).has_value());  // an empty record has no states
  CHECK_FALSE(read_record_keys(Bytes{0x00}));        // field 0
  CHECK_FALSE(read_record_keys(Bytes{0x0b}));        // a group
  CHECK_FALSE(read_record_keys(Bytes{0x0a, 0x05, 0x6a, 0x09, 0x05}));  // a key longer than its session
  CHECK_FALSE(read_record_keys(Bytes{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}));
  // Fields this reader does not know are skipped, of every wire type.
  auto other = read_record_keys(Bytes{0x18, 0x96, 0x01, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0x2d, 1, 2, 3, 4, 0x0a, 0x03,
                                      0x6a, 0x01, 0x07});
  REQUIRE(other);
  CHECK(other->current_base == Bytes{0x07});
}
