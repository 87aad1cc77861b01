// Groups (docs/PROTOCOL.md §9, Baileys' groups.js): the metadata query sending
// needs, the w:g2 management IQs the control socket exposes (create, add /
// remove / promote / demote participants, subject, description, leave,
// settings, invite links) and the w:gp2 notifications members get. Pure
// builders and parsers: the caller moves the nodes over the socket; no
// parser throws on what the server sent.
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
  std::string description;                // <description><body>, "" when none
  std::string description_id;             // its `id` (the `prev` of the next change)
  bool announce = false;                  // <announcement/>: only admins send
  bool locked = false;                    // <locked/>: only admins edit the group's info
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

enum class ParticipantAction { add, remove, promote, demote };
const char* to_string(ParticipantAction a) noexcept;

// <iq type="set" xmlns="w:g2" to=GROUP id><add|remove|promote|demote>
//   <participant jid/>...
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

// Fails "iq_error:<code>" for an <iq type="error">, "bad_group" for
// anything but an <iq>; the answer of a change that carries nothing else.
Status check_group_result(const binary::Node& iq, const char* what);

// <iq type="set" xmlns="w:g2" to=GROUP id><subject>TEXT</subject></iq>
binary::Node build_group_subject(const binary::Jid& group, std::string_view subject, std::string_view iq_id);

// <iq type="set" xmlns="w:g2" to=GROUP id><description id=NEW [prev=PREV]>
//   <body>TEXT</body></description></iq>; an empty text removes the
// description (`delete="true"`, no body). `prev` is the current
// description's id (the server refuses a stale one; may be empty).
binary::Node build_group_description(const binary::Jid& group, std::string_view text, std::string_view new_id,
                                     std::string_view prev, std::string_view iq_id);

// <iq type="set" xmlns="w:g2" to="@g.us" id><leave><group id=GROUP/></leave></iq>
binary::Node build_group_leave(const binary::Jid& group, std::string_view iq_id);

// The two switches of a group and their wire tags: announce (only admins
// send) = <announcement/> / <not_announcement/>, locked (only admins edit
// the group's info) = <locked/> / <unlocked/>.
enum class GroupSetting { announce, locked };
const char* setting_tag(GroupSetting s, bool on) noexcept;
// <iq type="set" xmlns="w:g2" to=GROUP id><TAG/></iq>
binary::Node build_group_setting(const binary::Jid& group, GroupSetting s, bool on, std::string_view iq_id);

// The group's invite link: <iq type="get" xmlns="w:g2" to=GROUP id><invite/>
// asks for the current code; type="set" revokes it and answers the new one.
binary::Node build_invite_code_query(const binary::Jid& group, bool revoke, std::string_view iq_id);
// The code of an <invite code=.../> answer; "bad_group" without one.
Result<std::string> parse_invite_code(const binary::Node& iq);
// What an operator may paste: a bare code or an https://chat.whatsapp.com/
// link (optionally with a query); nullopt when no code is left.
std::optional<std::string> invite_code_from(std::string_view link_or_code);
inline constexpr std::string_view kInviteLinkPrefix = "https://chat.whatsapp.com/";
// <iq type="set" xmlns="w:g2" to="@g.us" id><invite code=CODE/></iq>
binary::Node build_invite_join(std::string_view code, std::string_view iq_id);
// The joined group: <group jid=GID/> in the answer; "bad_group" without one.
Result<binary::Jid> parse_invite_join(const binary::Node& iq);

// One change a w:gp2 notification announces (a notification usually holds
// one). `action` is the child's tag with two readings: a <remove> of the
// author alone is a "leave" (the server's form of leaving), and
// <announcement>/<not_announcement>, <locked>/<unlocked> become "announce"
// and "locked" with `on`. Tags we do not model are kept as their tag.
struct GroupChange {
  std::string action;
  std::vector<GroupMember> participants;  // add / remove / leave / promote / demote / create
  std::optional<std::string> subject;     // subject, create
  std::optional<std::string> description; // description ("" = removed)
  std::optional<bool> on;                 // announce, locked
  std::string code;                       // invite (the new code)
  std::string reason;                     // add: "invite" when joined by link
};

struct GroupNotification {
  binary::Jid group;
  std::string id;                         // the stanza's id
  std::optional<binary::Jid> author;      // `participant`: who made the change
  std::optional<binary::Jid> author_alt;  // `participant_pn` / `participant_lid`
  int64_t t = 0;                          // `t`, unix seconds (0 when absent)
  std::vector<GroupChange> changes;
};

// "bad_group" unless it is a notification from a group; children it cannot
// read are skipped, never thrown on.
Result<GroupNotification> parse_group_notification(const binary::Node& n);

}  // namespace wa::message
