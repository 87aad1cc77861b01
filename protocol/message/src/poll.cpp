#include "wa/message/poll.hpp"

#include <set>

#include "wa/crypto/crypto.hpp"
#include "wa/proto/message.pb.h"

namespace wa::message {

Status check_poll(const PollSpec& p) {
  if (p.name.empty() || p.name.size() > kMaxPollNameBytes) return fail("bad_request", "a poll needs a name of 1-255 bytes");
  if (p.options.size() < 2 || p.options.size() > kMaxPollOptions)
    return fail("bad_request", "a poll has 2 to 12 options");
  std::set<std::string> seen;
  for (const auto& o : p.options) {
    if (o.empty() || o.size() > kMaxPollOptionBytes) return fail("bad_request", "a poll option has 1-100 bytes");
    // Votes name options by hash: two equal names could not be told apart.
    if (!seen.insert(o).second) return fail("bad_request", "poll option repeated: " + o);
  }
  if (p.selectable > p.options.size()) return fail("bad_request", "more selectable options than options");
  return {};
}

Result<Bytes> build_poll(const PollSpec& p, ByteView secret) {
  WA_TRY(check_poll(p));
  if (secret.size() != kMessageSecretBytes) return fail("bad_request", "a message secret is 32 bytes");
  proto::Message m;
  auto* poll = p.selectable == 1 ? m.mutable_pollcreationmessagev3() : m.mutable_pollcreationmessage();
  poll->set_name(p.name);
  for (const auto& o : p.options) poll->add_options()->set_optionname(o);
  poll->set_selectableoptionscount(p.selectable);
  m.mutable_messagecontextinfo()->set_messagesecret(std::string(as_chars(secret)));
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

std::optional<PollFound> find_poll(const proto::Message& m) {
  const proto::Message::PollCreationMessage* poll = nullptr;
  if (m.has_pollcreationmessage()) poll = &m.pollcreationmessage();
  else if (m.has_pollcreationmessagev2()) poll = &m.pollcreationmessagev2();
  else if (m.has_pollcreationmessagev3()) poll = &m.pollcreationmessagev3();
  if (!poll) return std::nullopt;
  PollFound out;
  out.spec.name = poll->name().substr(0, kMaxPollNameBytes * 4);
  for (const auto& o : poll->options()) {
    if (out.spec.options.size() >= 4 * kMaxPollOptions) break;  // a hostile list stays bounded
    out.spec.options.push_back(o.optionname());
  }
  out.spec.selectable = poll->selectableoptionscount();
  if (m.has_messagecontextinfo() && m.messagecontextinfo().messagesecret().size() == kMessageSecretBytes)
    out.secret = Bytes(m.messagecontextinfo().messagesecret().begin(), m.messagecontextinfo().messagesecret().end());
  return out;
}

Bytes option_hash(std::string_view name) {
  auto h = crypto::sha256(as_bytes(name));
  return Bytes(h.begin(), h.end());
}

std::optional<PollVote> find_poll_vote(const proto::Message& m) {
  if (!m.has_pollupdatemessage()) return std::nullopt;
  const auto& u = m.pollupdatemessage();
  if (!u.has_pollcreationmessagekey() || !u.has_vote() || u.pollcreationmessagekey().id().empty()) return std::nullopt;
  PollVote v;
  v.poll.chat = u.pollcreationmessagekey().remotejid();
  v.poll.from_me = u.pollcreationmessagekey().fromme();
  v.poll.id = u.pollcreationmessagekey().id();
  v.poll.participant = u.pollcreationmessagekey().participant();
  v.payload = Bytes(u.vote().encpayload().begin(), u.vote().encpayload().end());
  v.iv = Bytes(u.vote().enciv().begin(), u.vote().enciv().end());
  v.timestamp_ms = u.sendertimestampms();
  return v;
}

Result<Bytes> build_poll_vote(const TargetKey& poll, ByteView secret, std::string_view creator,
                              std::string_view voter, const std::vector<std::string>& selected, int64_t now_ms) {
  if (poll.id.empty() || poll.chat.empty()) return fail("bad_request", "a vote needs the poll's chat and id");
  proto::Message::PollVoteMessage vote;
  for (const auto& name : selected) {
    Bytes h = option_hash(name);
    vote.add_selectedoptions(std::string(as_chars(h)));
  }
  std::string plain = vote.SerializeAsString();
  auto sealed = seal_addon(secret, AddonParty{poll.id, creator, voter}, kUsePollVote, as_bytes(plain));
  if (!sealed) return Unexpected<Error>{sealed.error()};
  proto::Message m;
  auto* u = m.mutable_pollupdatemessage();
  auto* key = u->mutable_pollcreationmessagekey();
  key->set_remotejid(poll.chat);
  key->set_fromme(poll.from_me);
  key->set_id(poll.id);
  if (!poll.participant.empty()) key->set_participant(poll.participant);
  u->mutable_vote()->set_encpayload(std::string(as_chars(sealed->payload)));
  u->mutable_vote()->set_enciv(std::string(as_chars(sealed->iv)));
  u->mutable_metadata();
  u->set_sendertimestampms(now_ms);
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Result<std::vector<std::string>> open_poll_vote(const PollVote& vote, ByteView secret,
                                                const std::vector<std::string>& creators,
                                                const std::vector<std::string>& voters,
                                                const std::vector<std::string>& options) {
  std::optional<Bytes> plain;
  for (const auto& c : creators) {
    for (const auto& v : voters) {
      auto r = open_addon(secret, AddonParty{vote.poll.id, c, v}, kUsePollVote, vote.payload, vote.iv);
      if (r) {
        plain = std::move(*r);
        break;
      }
      if (r.error().code != "auth_failed") return Unexpected<Error>{r.error()};
    }
    if (plain) break;
  }
  if (!plain) return fail("auth_failed", "the vote does not open with the poll's secret");
  proto::Message::PollVoteMessage pv;
  if (!pv.ParseFromArray(plain->data(), static_cast<int>(plain->size())))
    return fail("bad_protobuf", "the vote is not a PollVoteMessage");
  std::vector<std::string> out;
  for (const auto& h : pv.selectedoptions()) {
    for (const auto& o : options) {
      Bytes oh = option_hash(o);
      if (h.size() == oh.size() && std::equal(oh.begin(), oh.end(), reinterpret_cast<const uint8_t*>(h.data()))) {
        out.push_back(o);
        break;
      }
    }
  }
  return out;
}

}  // namespace wa::message
