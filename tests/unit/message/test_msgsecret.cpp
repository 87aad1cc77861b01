// Message-secret add-ons, polls and edits (docs/PROTOCOL.md §12.4). The
// vectors were computed with node:crypto (HKDF-SHA256, AES-256-GCM) and the
// vote checked with Baileys' own decryptPollVote, so they pin the wire
// format, not our reading of it.
#include <doctest/doctest.h>

#include "wa/crypto/crypto.hpp"
#include "wa/message/edit.hpp"
#include "wa/message/msgsecret.hpp"
#include "wa/message/poll.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using namespace wa::message;

namespace {


Bytes fixed_secret() {
  Bytes b(32);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i);
  return b;
}
Bytes fixed_iv() {
  Bytes b(12);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(0xa0 + i);
  return b;
}

const std::string kPollId = "3EB0ABCDEF0123456789";
const std::string kCreator = "15550001111@s.whatsapp.net";
const std::string kVoter = "15550002222@s.whatsapp.net";

proto::Message parse(const Bytes& b) {
  proto::Message m;
  REQUIRE(m.ParseFromArray(b.data(), static_cast<int>(b.size())));
  return m;
}

}  // namespace

TEST_CASE("msgsecret: poll vote key and ciphertext match the reference vector") {
  const AddonParty p{kPollId, kCreator, kVoter};
  CHECK(to_hex(addon_key(fixed_secret(), p, kUsePollVote)) ==
        "043a6ddd0ad027db60d6d19c5313b0c318c22148df64dc81bd61efc25b4516a4");
  // PollVoteMessage{selectedOptions: [SHA-256("Red")]}
  Bytes plain{0x0a, 0x20};
  Bytes h = option_hash("Red");
  plain.insert(plain.end(), h.begin(), h.end());
  auto sealed = seal_addon(fixed_secret(), p, kUsePollVote, plain, fixed_iv());
  REQUIRE(sealed);
  CHECK(to_hex(sealed->payload) ==
        "16180d6fc3c13d942a105c428899adeb23fd7cd25ff5b36dd55f78e9a5eb0468c94e20243052e83a52500e96b3b30df0bfa6");
  auto opened = open_addon(fixed_secret(), p, kUsePollVote, sealed->payload, fixed_iv());
  REQUIRE(opened);
  CHECK(*opened == plain);
  // The AAD binds the voter: another voter's name does not open it.
  auto other = open_addon(fixed_secret(), AddonParty{kPollId, kCreator, kCreator}, kUsePollVote, sealed->payload,
                          fixed_iv());
  REQUIRE_FALSE(other);
  CHECK(other.error().code == "auth_failed");
}

TEST_CASE("msgsecret: message edit uses an empty AAD and its own use case") {
  const AddonParty p{kPollId, kCreator, kCreator};
  CHECK(addon_aad(p, kUseMessageEdit).empty());
  CHECK(to_hex(addon_key(fixed_secret(), p, kUseMessageEdit)) ==
        "168839729f224cbf460cd9f01499da4d6b1474ed5c2e2a259259a5fb19760544");
  auto sealed = seal_addon(fixed_secret(), p, kUseMessageEdit, as_bytes("hello"), fixed_iv());
  REQUIRE(sealed);
  CHECK(to_hex(sealed->payload) == "13924740f504b760ee9f58a457ccf7eba6c5ceac89");
}

TEST_CASE("msgsecret: bad sizes are errors, not exceptions") {
  CHECK_FALSE(seal_addon(Bytes(31), AddonParty{"a", "b", "c"}, kUsePollVote, Bytes{1}));
  CHECK_FALSE(open_addon(fixed_secret(), AddonParty{"a", "b", "c"}, kUsePollVote, Bytes(5), fixed_iv()));
  CHECK_FALSE(open_addon(fixed_secret(), AddonParty{"a", "b", "c"}, kUsePollVote, Bytes(40), Bytes(3)));
}

TEST_CASE("poll: single choice is V3, multiple is V1, both carry the secret") {
  PollSpec one{"Lunch?", {"Pizza", "Sushi"}, 1};
  auto b = build_poll(one, fixed_secret());
  REQUIRE(b);
  auto m = parse(*b);
  CHECK(m.has_pollcreationmessagev3());
  CHECK_FALSE(m.has_pollcreationmessage());
  CHECK(m.messagecontextinfo().messagesecret().size() == 32);
  auto found = find_poll(m);
  REQUIRE(found);
  CHECK(found->spec.name == "Lunch?");
  CHECK(found->spec.options == std::vector<std::string>{"Pizza", "Sushi"});
  CHECK(found->spec.selectable == 1);
  CHECK(found->secret == fixed_secret());

  PollSpec many{"Days", {"Mon", "Tue", "Wed"}, 0};
  auto b2 = build_poll(many, fixed_secret());
  REQUIRE(b2);
  auto m2 = parse(*b2);
  CHECK(m2.has_pollcreationmessage());
  CHECK(find_poll(m2)->spec.selectable == 0);
}

TEST_CASE("poll: invalid polls are refused") {
  CHECK_FALSE(build_poll(PollSpec{"", {"a", "b"}, 1}, fixed_secret()));
  CHECK_FALSE(build_poll(PollSpec{"q", {"a"}, 1}, fixed_secret()));
  CHECK_FALSE(build_poll(PollSpec{"q", {"a", "a"}, 1}, fixed_secret()));
  CHECK_FALSE(build_poll(PollSpec{"q", {"a", ""}, 1}, fixed_secret()));
  CHECK_FALSE(build_poll(PollSpec{"q", {"a", "b"}, 3}, fixed_secret()));
  CHECK_FALSE(build_poll(PollSpec{"q", std::vector<std::string>(13, "x"), 0}, fixed_secret()));
  CHECK_FALSE(build_poll(PollSpec{"q", {"a", "b"}, 1}, Bytes(16)));
}

TEST_CASE("poll: a vote round-trips, under either spelling of creator and voter") {
  TargetKey key{"15550001111@s.whatsapp.net", false, kPollId, ""};
  auto b = build_poll_vote(key, fixed_secret(), kCreator, "99887766@lid", {"Sushi"}, 1234);
  REQUIRE(b);
  auto m = parse(*b);
  auto vote = find_poll_vote(m);
  REQUIRE(vote);
  CHECK(vote->poll.id == kPollId);
  CHECK(vote->timestamp_ms == 1234);
  CHECK(vote->iv.size() == 12);
  const std::vector<std::string> options{"Pizza", "Sushi"};
  // The receiver knows the voter by number first, by LID second.
  auto names = open_poll_vote(*vote, fixed_secret(), {"111@lid", kCreator}, {kVoter, "99887766@lid"}, options);
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"Sushi"});
  auto wrong = open_poll_vote(*vote, fixed_secret(), {kCreator}, {kVoter}, options);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == "auth_failed");
  // Tampering is detected.
  vote->payload[0] ^= 1;
  CHECK_FALSE(open_poll_vote(*vote, fixed_secret(), {kCreator}, {"99887766@lid"}, options));
}

TEST_CASE("edit: ours wraps protocolMessage in editedMessage, both classic forms are read") {
  TargetKey t{"15550002222@s.whatsapp.net", true, "3EB0AA", ""};
  auto b = build_edit(t, "new text", 777);
  REQUIRE(b);
  auto m = parse(*b);
  REQUIRE(m.has_editedmessage());
  auto e = find_edit(m);
  REQUIRE(e);
  CHECK(e->target.id == "3EB0AA");
  CHECK(e->target.from_me);
  CHECK(e->text == "new text");
  CHECK(e->timestamp_ms == 777);
  CHECK_FALSE(e->encrypted);
  // Baileys' form: protocolMessage at the top, new content as extendedText.
  proto::Message bare;
  auto* pm = bare.mutable_protocolmessage();
  pm->mutable_key()->set_id("X1");
  pm->set_type(proto::Message::ProtocolMessage::MESSAGE_EDIT);
  pm->mutable_editedmessage()->mutable_extendedtextmessage()->set_text("changed");
  auto e2 = find_edit(bare);
  REQUIRE(e2);
  CHECK(e2->text == "changed");
  // A revoke is not an edit.
  pm->set_type(proto::Message::ProtocolMessage::REVOKE);
  CHECK_FALSE(find_edit(bare));
  CHECK_FALSE(build_edit(t, "", 1));
}

TEST_CASE("edit: the encrypted form opens with the original's secret and the editor's name") {
  TargetKey t{"15550002222@s.whatsapp.net", true, "3EB0BB", ""};
  auto b = build_secret_edit(t, fixed_secret(), "777@lid", "sealed text", 99, fixed_iv());
  REQUIRE(b);
  auto m = parse(*b);
  auto se = find_secret_edit(m);
  REQUIRE(se);
  CHECK(se->target.id == "3EB0BB");
  auto e = open_secret_edit(*se, fixed_secret(), {"15550003333@s.whatsapp.net", "777@lid"});
  REQUIRE(e);
  CHECK(e->text == "sealed text");
  CHECK(e->encrypted);
  CHECK(e->timestamp_ms == 99);
  auto bad = open_secret_edit(*se, fixed_secret(), {"15550003333@s.whatsapp.net"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == "auth_failed");
  Bytes other = fixed_secret();
  other[0] ^= 1;
  CHECK_FALSE(open_secret_edit(*se, other, {"777@lid"}));
}
