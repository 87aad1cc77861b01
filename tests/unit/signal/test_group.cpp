// Sender-key group messaging between three participants.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "party.hpp"
#include "temp_dir.hpp"

using namespace wa;
using namespace wa::test;

namespace {
std::string str(const Bytes& b) { return std::string(as_chars(b)); }
const std::string kGroup = "120363000000000001@g.us";
}  // namespace

TEST_CASE("group: distribution, encrypt, decrypt by every member, out of order") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice", 0), bob(dir.file("b.db"), "bob", 0), carol(dir.file("c.db"), "carol", 3);
  auto skdm = must(alice.sig->create_sender_key_distribution(kGroup, alice.addr));
  REQUIRE_FALSE(skdm.empty());
  // Asking again describes the same key (no silent re-keying).
  auto again = must(alice.sig->create_sender_key_distribution(kGroup, alice.addr));
  must_ok(bob.sig->process_sender_key_distribution(kGroup, alice.addr, skdm));
  must_ok(carol.sig->process_sender_key_distribution(kGroup, alice.addr, again));

  std::vector<Bytes> msgs;
  for (int i = 0; i < 5; ++i)
    msgs.push_back(must(alice.sig->group_encrypt(kGroup, alice.addr, to_bytes("g" + std::to_string(i)))));
  for (int i = 0; i < 5; ++i)
    CHECK(str(must(bob.sig->group_decrypt(kGroup, alice.addr, msgs[static_cast<size_t>(i)]))) ==
          "g" + std::to_string(i));
  for (int i : {4, 0, 2, 1, 3})
    CHECK(str(must(carol.sig->group_decrypt(kGroup, alice.addr, msgs[static_cast<size_t>(i)]))) ==
          "g" + std::to_string(i));
  auto dup = bob.sig->group_decrypt(kGroup, alice.addr, msgs[1]);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == "duplicate_message");

  // Bob's own key is separate from Alice's.
  auto bob_skdm = must(bob.sig->create_sender_key_distribution(kGroup, bob.addr));
  must_ok(alice.sig->process_sender_key_distribution(kGroup, bob.addr, bob_skdm));
  auto from_bob = must(bob.sig->group_encrypt(kGroup, bob.addr, to_bytes("from bob")));
  CHECK(str(must(alice.sig->group_decrypt(kGroup, bob.addr, from_bob))) == "from bob");
  // Carol never got Bob's key; and a message attributed to the wrong sender fails.
  auto unknown = carol.sig->group_decrypt(kGroup, bob.addr, from_bob);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == "no_session");
  CHECK_FALSE(alice.sig->group_decrypt(kGroup, carol.addr, from_bob));
}

TEST_CASE("group: malformed input is rejected cleanly") {
  TempDir dir;
  Party alice(dir.file("a.db"), "alice"), bob(dir.file("b.db"), "bob");
  auto skdm = must(alice.sig->create_sender_key_distribution(kGroup, alice.addr));
  for (size_t n = 0; n < skdm.size(); n += 5)
    CHECK_FALSE(bob.sig->process_sender_key_distribution(kGroup, alice.addr, ByteView(skdm).first(n)));
  must_ok(bob.sig->process_sender_key_distribution(kGroup, alice.addr, skdm));
  auto m = must(alice.sig->group_encrypt(kGroup, alice.addr, to_bytes("x")));
  Bytes bad = m;
  bad[bad.size() - 3] ^= 0x80;  // inside the signature
  CHECK_FALSE(bob.sig->group_decrypt(kGroup, alice.addr, bad));
  CHECK_FALSE(bob.sig->group_decrypt(kGroup, alice.addr, Bytes{}));
  CHECK_FALSE(bob.sig->group_decrypt("", alice.addr, m));
  CHECK(str(must(bob.sig->group_decrypt(kGroup, alice.addr, m))) == "x");
}
