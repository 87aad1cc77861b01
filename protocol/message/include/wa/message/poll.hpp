// Polls (docs/PROTOCOL.md §12.4): the poll message, votes on it (sealed with
// the poll's message secret, options named by SHA-256 hash) and what a
// received message says of either. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wa/bytes.hpp"
#include "wa/message/msgsecret.hpp"
#include "wa/message/reaction.hpp"
#include "wa/result.hpp"

namespace wa::proto {
class Message;
}  // namespace wa::proto

namespace wa::message {

inline constexpr size_t kMaxPollOptions = 12;
inline constexpr size_t kMaxPollNameBytes = 255;
inline constexpr size_t kMaxPollOptionBytes = 100;

struct PollSpec {
  std::string name;
  std::vector<std::string> options;
  uint32_t selectable = 0;  // how many options a voter may pick; 0 = any
};

// Fails "bad_request": empty name, fewer than 2 or more than 12 options, an
// empty, over-long or repeated option, `selectable` above the option count.
Status check_poll(const PollSpec& p);
// Message{pollCreationMessageV3 (single choice) or pollCreationMessage (V1,
// multiple choice), messageContextInfo.messageSecret = secret}, as Baileys
// picks the version.
Result<Bytes> build_poll(const PollSpec& p, ByteView secret);
// A poll in any of the versions we know (V1, V2, V3), with the message's secret.
struct PollFound {
  PollSpec spec;
  Bytes secret;  // empty when the message carries none
};
std::optional<PollFound> find_poll(const proto::Message& m);

// SHA-256 of the option's UTF-8 name: how a vote names it.
Bytes option_hash(std::string_view name);

// A vote as it travels: the poll's key (from the voter's side) and the
// sealed PollVoteMessage.
struct PollVote {
  TargetKey poll;
  Bytes payload;
  Bytes iv;
  int64_t timestamp_ms = 0;
};
std::optional<PollVote> find_poll_vote(const proto::Message& m);

// Seals the selection (option names) as `voter` for the poll `poll_id` by
// `creator` and wraps it in Message{pollUpdateMessage}.
Result<Bytes> build_poll_vote(const TargetKey& poll, ByteView secret, std::string_view creator,
                              std::string_view voter, const std::vector<std::string>& selected, int64_t now_ms);

// Opens a vote, trying every (creator, voter) spelling given (a contact's
// phone number and LID: which one the voter used is not on the wire), and
// turns the hashes back into the poll's option names (unknown hashes are
// dropped). Fails "auth_failed" when no spelling opens it, "bad_protobuf".
Result<std::vector<std::string>> open_poll_vote(const PollVote& vote, ByteView secret,
                                                const std::vector<std::string>& creators,
                                                const std::vector<std::string>& voters,
                                                const std::vector<std::string>& options);

}  // namespace wa::message
