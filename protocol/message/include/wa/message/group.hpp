// Groups (docs/PROTOCOL.md §9, Baileys' groups.js): the metadata query sending
// needs, and the w:g2 management IQs the control socket exposes (create,
// add / remove participants). Pure builders and parsers: the caller moves
// the nodes over the socket.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wa/binary/jid.hpp"
#include "wa/message/lid.hpp"
#include "wa/binary/node.hpp"
#include "wa/result.hpp"

namespace wa::message {

// <iq type="get" xmlns="w:g2" to=GROUP id><query request="interactive"/></iq>
binary::Node build_group_info_query(const binary::Jid& group, std::string_view iq_id);

struct GroupMember {
  binary::Jid jid;   // non-AD user jid
  std::string type;  // "" (member), "admin", "superadmin"
  std::optional<binary::Jid> alt;  // the other form (phone_number / lid attribute), when given
  bool admin() const noexcept { return type == "admin" || type == "superadmin"; }
};

struct GroupInfo {
  binary::Jid id;
  std::string subject;
  std::string creator;            // as the server gave it; may be empty
  std::string creator_pn;         // `creator_pn` (LID groups), when given
  std::string addressing_mode;    // "lid" | "pn" | "" (not given)
  // What the participant list says about PN <-> LID (`jid=LID
  // phone_number=PN` in LID groups, `jid=PN lid=LID` in PN groups).
  std::vector<LidMapping> mappings;
  std::vector<binary::Jid> participants;  // non-AD user jids
  std::vector<GroupMember> members;       // the same, with their role
};

// Fails "iq_error:<code>" / "bad_group"; participants with invalid jids are
// dropped. Also parses the answer to a create (the same <group> child).
Result<GroupInfo> parse_group_info(const binary::Node& iq);

// What a create or an add says of a participant besides its JID
// (docs/PROTOCOL.md §12.1, §12.2): the phone number of a LID participant,
// and the privacy token it gave us, as `<participant jid phone_number>
// <privacy>TOKEN</privacy></participant>`.
struct ParticipantExtra {
  std::optional<binary::Jid> phone_number;
  std::optional<Bytes> privacy;
};
using ParticipantExtras = std::function<ParticipantExtra(const binary::Jid& participant)>;

// <iq type="set" xmlns="w:g2" to="@g.us" id><create subject key>
//   <participant jid=USER/>...</create></iq>. `key` is a fresh message id
// (the server uses it to de-duplicate creates).
binary::Node build_group_create(std::string_view subject, std::span<const binary::Jid> participants,
                                std::string_view key, std::string_view iq_id, const ParticipantExtras& extras = {});

enum class ParticipantAction { add, remove };
const char* to_string(ParticipantAction a) noexcept;

// <iq type="set" xmlns="w:g2" to=GROUP id><add|remove><participant jid/>...
binary::Node build_participants_change(const binary::Jid& group, ParticipantAction action,
                                       std::span<const binary::Jid> participants, std::string_view iq_id,
                                       const ParticipantExtras& extras = {});

struct ParticipantResult {
  std::string jid;     // as requested
  std::string status;  // "200" on success, else the server's error code
};

// One result per requested participant, in request order: the server's
// `error` attribute, "200" when it lists the participant without one, and
// "404" when it does not list a requested participant at all. Fails
// "iq_error:<code>" when the whole request was refused.
Result<std::vector<ParticipantResult>> parse_participants_change(const binary::Node& iq, ParticipantAction action,
                                                                 std::span<const binary::Jid> requested);

}  // namespace wa::message
